import fs from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { startsLikeDicom } from '../image/readDicomSeries';

/** Names that are images on their own; a folder of DICOM slices is one image (a series). */
const IMAGE_FILE = /\.(nii|nii\.gz|png|jpe?g)$/i;
const DICOM_FILE = /\.(dcm|dicom|ima)$/i;

/**
 * Expands data sources (files, folders, glob patterns) into a sorted list of images: files
 * and DICOM series folders. Folders are searched recursively, following symbolic links
 * (data is often linked in; a link back up the tree is visited once); a folder holding DICOM slices
 * (by extension, or any other file with the DICM marker) counts as one series. A
 * source that matches nothing is an error naming it, since a typo would otherwise train on
 * less data than meant without a word.
 */
export async function findImageFiles(sources: readonly string[], cwd = process.cwd()): Promise<string[]> {
  // By real path, so that a file reached twice (two sources that overlap, a link back up the
  // tree under "**") is one image, drawn as often as any other.
  const found = new Map<string, string>();
  for (const [index, source] of sources.entries()) {
    const images: string[] = [];
    if (isDynamicPattern(source)) {
      const matches = await glob(source, { cwd, absolute: true, onlyFiles: false, expandDirectories: false });
      for (const match of matches.sort()) await addPath(match, images, true);
    } else {
      try {
        await addPath(path.resolve(cwd, source), images, false);
      } catch (error) {
        throw new Error(`data.sources[${index}]: cannot read "${source}": ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    if (images.length === 0) {
      throw new Error(
        `data.sources[${index}]: "${source}" holds no images (.nii, .nii.gz, .png, .jpg or a folder of DICOM slices)`,
      );
    }
    for (const image of images) {
      const real = await fs.realpath(image).catch(() => image);
      if (!found.has(real)) found.set(real, image);
    }
  }
  return [...found.values()].sort();
}

/**
 * A named file is taken whatever its name (the reader says whether it is an image); a file
 * a glob matched only when it looks like one, so that "scans/*" passes over notes and
 * spreadsheets beside the scans.
 */
async function addPath(target: string, found: string[], matched: boolean): Promise<void> {
  const stat = await fs.stat(target);
  if (stat.isDirectory()) await addFolder(target, found);
  else if (stat.isFile() && (!matched || (await looksLikeImage(target)))) found.push(target);
}

async function looksLikeImage(file: string): Promise<boolean> {
  const name = path.basename(file);
  if (isResourceFork(name) || name.toUpperCase() === 'DICOMDIR') return false;
  return IMAGE_FILE.test(name) || DICOM_FILE.test(name) || startsLikeDicom(file);
}

/** macOS keeps "._name" files (resource forks) beside copied files: never images. */
function isResourceFork(name: string): boolean {
  return name.startsWith('._');
}

async function addFolder(folder: string, found: string[], visited = new Set<string>()): Promise<void> {
  const real = await fs.realpath(folder);
  if (visited.has(real)) return;
  visited.add(real);
  const entries = (await fs.readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  let series = false;
  for (const entry of entries) {
    const full = path.join(folder, entry.name);
    const kind = entry.isSymbolicLink() ? await linkedKind(full) : entry;
    if (kind?.isDirectory()) await addFolder(full, found, visited);
    else if (kind?.isFile()) {
      if (isResourceFork(entry.name)) continue;
      if (IMAGE_FILE.test(entry.name)) found.push(full);
      // A DICOMDIR (a DICOM file itself) indexes the series in the folders below; no image.
      else if (entry.name.toUpperCase() === 'DICOMDIR') continue;
      // DICOM files are often named by UIDs ("1.2.840...") or nothing at all: ask the content.
      else if (!series && (DICOM_FILE.test(entry.name) || (await startsLikeDicom(full)))) series = true;
    }
  }
  if (series) found.push(folder);
}

/** What a symbolic link points at; undefined when it points nowhere. */
async function linkedKind(link: string): Promise<{ isDirectory(): boolean; isFile(): boolean } | undefined> {
  return fs.stat(link).catch(() => undefined);
}
