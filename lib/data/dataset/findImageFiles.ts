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
  const found = new Set<string>();
  for (const [index, source] of sources.entries()) {
    const before = found.size;
    if (isDynamicPattern(source)) {
      const matches = await glob(source, { cwd, absolute: true, onlyFiles: false, expandDirectories: false });
      for (const match of matches.sort()) await addPath(match, found);
    } else {
      try {
        await addPath(path.resolve(cwd, source), found);
      } catch (error) {
        throw new Error(`data.sources[${index}]: cannot read "${source}": ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    if (found.size === before) {
      throw new Error(
        `data.sources[${index}]: "${source}" holds no images (.nii, .nii.gz, .png, .jpg or a folder of DICOM slices)`,
      );
    }
  }
  return [...found].sort();
}

async function addPath(target: string, found: Set<string>): Promise<void> {
  const stat = await fs.stat(target);
  if (stat.isDirectory()) await addFolder(target, found);
  else if (stat.isFile()) found.add(target);
}

async function addFolder(folder: string, found: Set<string>, visited = new Set<string>()): Promise<void> {
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
      if (IMAGE_FILE.test(entry.name)) found.add(full);
      // A DICOMDIR (a DICOM file itself) indexes the series in the folders below; no image.
      else if (entry.name.toUpperCase() === 'DICOMDIR') continue;
      // DICOM files are often named by UIDs ("1.2.840...") or nothing at all: ask the content.
      else if (!series && (DICOM_FILE.test(entry.name) || (await startsLikeDicom(full)))) series = true;
    }
  }
  if (series) found.add(folder);
}

/** What a symbolic link points at; undefined when it points nowhere. */
async function linkedKind(link: string): Promise<{ isDirectory(): boolean; isFile(): boolean } | undefined> {
  return fs.stat(link).catch(() => undefined);
}
