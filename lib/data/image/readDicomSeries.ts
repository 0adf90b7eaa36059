import * as dicomParser from 'dicom-parser';
import { open, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { debuglog } from 'node:util';
import { typeError } from '../../errors';
import { ImageReadError, libraryMessage, type ImageVolume } from './ImageVolume';
import { toClosestCanonical } from './orientation';
import { fileSystemReason, readFileBytes } from './readFileBytes';
import { checkVoxelCount, validateVoxelLimit, type VoxelLimitOptions } from './voxelLimit';

/**
 * Reads a folder of single-frame DICOM slices (or one DICOM file) into a float32 volume in
 * the closest RAS+ orientation. dicom-parser reads the data sets; this file groups slices by
 * series, orders them along the slice normal, checks that they form one regular grid, and
 * turns stored pixel values into modality values (HU for CT) with the rescale slope and
 * intercept. Only uncompressed transfer syntaxes are read.
 */

export interface ReadDicomOptions extends VoxelLimitOptions {
  /** Which series to read when the folder holds several. Default: the only one (several is an error). */
  seriesInstanceUid?: string;
}

const debug = debuglog('cover-torch');

const IMPLICIT_LITTLE = '1.2.840.10008.1.2';
const EXPLICIT_LITTLE = '1.2.840.10008.1.2.1';
const EXPLICIT_BIG = '1.2.840.10008.1.2.2';
const SUPPORTED_SYNTAXES = [IMPLICIT_LITTLE, EXPLICIT_LITTLE, EXPLICIT_BIG];

/** Names of the transfer syntaxes a user is likely to meet, for error messages. */
const SYNTAX_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

/** Part-10 files carry "DICM" after a 128-byte preamble. */
export function isDicom(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d
  );
}

/** Which series a file belongs to, and how to name it in messages. */
interface SeriesMember {
  seriesUid: string;
  seriesLabel: string;
}

/** A file of the folder that cannot be read as a slice (compressed, colour...), and why. */
interface Refused extends SeriesMember {
  file: string;
  refused: ImageReadError;
}

/** One parsed slice: what ordering, checking and decoding need. */
interface Slice {
  file: string;
  bytes: Uint8Array;
  littleEndian: boolean;
  seriesUid: string;
  seriesLabel: string;
  rows: number;
  columns: number;
  position: number[] | undefined;
  orientation: number[] | undefined;
  pixelSpacing: [number, number];
  thickness: number | undefined;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  inverted: boolean;
  slope: number;
  intercept: number;
  pixelOffset: number;
  pixelLength: number;
}

export function validateDicomOptions(options: ReadDicomOptions): void {
  const uid = options.seriesInstanceUid;
  if (uid !== undefined && typeof uid !== 'string') throw typeError('seriesInstanceUid', 'a string', uid);
  validateVoxelLimit(options);
}

/**
 * Reads every DICOM image file in `folder` as one volume. Files without "DICM" at byte 128 and
 * DICOM files without pixel data (DICOMDIR, reports) are skipped (logged with NODE_DEBUG=cover-torch).
 */
export async function readDicomSeries(folder: string, options: ReadDicomOptions = {}): Promise<ImageVolume> {
  validateDicomOptions(options);
  let names: string[];
  try {
    names = (await readdir(folder)).sort();
  } catch (error) {
    throw new ImageReadError(folder, fileSystemReason(error), { cause: error });
  }
  const slices: Slice[] = [];
  const refused: Refused[] = [];
  let skipped = 0;
  let withoutImage = 0;
  // A few files at a time: enough to overlap disk reads, few enough to bound open handles.
  for (let start = 0; start < names.length; start += 16) {
    const batch = names.slice(start, start + 16).map((name) => readSliceIfDicom(path.join(folder, name)));
    for (const slice of await Promise.all(batch)) {
      if (slice === undefined) skipped++;
      else if (slice === NO_IMAGE) withoutImage++;
      else if ('refused' in slice) refused.push(slice);
      else slices.push(slice);
    }
  }
  if (slices.length === 0 && refused.length > 0) throw refused[0]!.refused;
  if (slices.length === 0) {
    const dicomOnly = withoutImage > 0 ? ` (${withoutImage} DICOM files without pixel data, e.g. a DICOMDIR)` : '';
    throw new ImageReadError(
      folder,
      `no DICOM images found among ${names.length} entries${dicomOnly}; expected files with "DICM" at byte 128 and pixel data`,
    );
  }
  if (skipped + withoutImage > 0)
    debug('readDicomSeries: skipped %d entries without a DICOM image in %s', skipped + withoutImage, folder);
  // A file this reader cannot take matters only in the series that is read: a colour dose
  // report or a compressed scout beside the CT slices does not stop them.
  const picked = pickSeries<Slice | Refused>([...slices, ...refused], folder, options.seriesInstanceUid);
  const unreadable = picked.find((member): member is Refused => 'refused' in member);
  if (unreadable) throw unreadable.refused;
  if (refused.length > 0) debug('readDicomSeries: %d files of other series left unread in %s', refused.length, folder);
  return assembleVolume(picked as Slice[], folder, options);
}

/** One DICOM file already in memory as a [1, H, W] volume. */
export function decodeDicomFile(bytes: Uint8Array, file: string, limits: VoxelLimitOptions = {}): ImageVolume {
  return assembleVolume([parseSlice(bytes, file, true)!], file, limits);
}

/** Whether a file starts like a DICOM Part-10 file; reads only its first 132 bytes. */
export async function startsLikeDicom(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = new Uint8Array(132);
    const { bytesRead } = await handle.read(head, 0, 132, 0);
    return isDicom(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** A DICOM file without an image (a DICOMDIR, a report). */
const NO_IMAGE = Symbol('no image');

async function readSliceIfDicom(file: string): Promise<Slice | Refused | typeof NO_IMAGE | undefined> {
  try {
    if (!(await stat(file)).isFile()) return undefined;
    if (!(await startsLikeDicom(file))) {
      debug('readDicomSeries: skipping %s (no "DICM" at byte 128)', file);
      return undefined;
    }
  } catch (error) {
    throw new ImageReadError(file, fileSystemReason(error), { cause: error });
  }
  const bytes = await readFileBytes(file);
  let slice: Slice | undefined;
  try {
    slice = parseSlice(bytes, file, false);
  } catch (error) {
    // Refused for its format, but of a known series: an error only if that series is read.
    const member = error instanceof ImageReadError ? seriesOfFile(bytes) : undefined;
    if (!member) throw error;
    return { ...member, file, refused: error as ImageReadError };
  }
  if (slice) return slice;
  debug('readDicomSeries: skipping %s (DICOM without PixelData, e.g. a DICOMDIR)', file);
  return NO_IMAGE;
}

/** The slice in a DICOM file; for a file without PixelData, an error or (requireImage false) undefined. */
function parseSlice(bytes: Uint8Array, file: string, requireImage: boolean): Slice | undefined {
  let syntax: string | undefined;
  try {
    syntax = dicomParser.readPart10Header(bytes).string('x00020010');
  } catch (error) {
    throw new ImageReadError(file, `invalid DICOM meta header (${libraryMessage(error)})`, { cause: error });
  }
  if (!syntax) {
    throw new ImageReadError(file, 'the DICOM meta header has no TransferSyntaxUID (0002,0010)');
  }
  if (!SUPPORTED_SYNTAXES.includes(syntax)) {
    const name = SYNTAX_NAMES[syntax] ? ` (${SYNTAX_NAMES[syntax]})` : '';
    throw new ImageReadError(
      file,
      `transfer syntax ${syntax}${name} is not supported, expected an uncompressed one ` +
        `(${SUPPORTED_SYNTAXES.join(', ')}); decompress the files first, e.g. \`gdcmconv --raw in.dcm out.dcm\` ` +
        'or `dcmdjpeg in.dcm out.dcm`',
    );
  }
  let set: dicomParser.DataSet;
  try {
    set = dicomParser.parseDicom(bytes);
  } catch (error) {
    const message = libraryMessage(error);
    const reason = /overrun|past end/.test(message)
      ? `file is truncated or corrupt: a data element runs past the end of the file (${message})`
      : `invalid DICOM data set (${message})`;
    throw new ImageReadError(file, reason, { cause: error });
  }

  const pixels = set.elements['x7fe00010'];
  if (!pixels) {
    if (!requireImage) return undefined;
    throw new ImageReadError(file, 'missing PixelData (7FE0,0010), expected an image');
  }
  const frames = set.intString('x00280008') ?? 1;
  if (frames > 1) {
    throw new ImageReadError(
      file,
      `multi-frame DICOM (${frames} frames) is not supported, expected one frame per file`,
    );
  }
  const required = (tag: string, name: string) => {
    const value = set.uint16(tag);
    if (value === undefined) throw new ImageReadError(file, `missing ${name} (${tagText(tag)}), expected an image`);
    return value;
  };
  const samples = set.uint16('x00280002') ?? 1;
  if (samples !== 1) {
    throw new ImageReadError(
      file,
      `SamplesPerPixel is ${samples}, expected 1 (grayscale); colour DICOM is not supported`,
    );
  }
  const photometric = (set.string('x00280004') ?? 'MONOCHROME2').trim();
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    throw new ImageReadError(file, `PhotometricInterpretation is ${photometric}, expected MONOCHROME1 or MONOCHROME2`);
  }
  const rows = required('x00280010', 'Rows');
  const columns = required('x00280011', 'Columns');
  const bitsAllocated = required('x00280100', 'BitsAllocated');
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new ImageReadError(file, `BitsAllocated is ${bitsAllocated}, expected 8 or 16`);
  }
  const bitsStored = set.uint16('x00280101') ?? bitsAllocated;
  const highBit = set.uint16('x00280102') ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit + 1 < bitsStored || highBit >= bitsAllocated) {
    throw new ImageReadError(
      file,
      `BitsStored ${bitsStored} / HighBit ${highBit} do not fit in BitsAllocated ${bitsAllocated}`,
    );
  }

  if (pixels.encapsulatedPixelData) {
    throw new ImageReadError(file, 'PixelData is encapsulated (compressed), expected native pixel data');
  }
  const needed = rows * columns * (bitsAllocated / 8);
  const available = Math.min(pixels.length, bytes.length - pixels.dataOffset);
  if (available < needed) {
    throw new ImageReadError(
      file,
      `PixelData is truncated: ${rows} rows x ${columns} columns x ${bitsAllocated} bits need ${needed} bytes, the file has ${Math.max(0, available)}`,
    );
  }

  const spacing = numbers(set, 'x00280030', 2) ?? numbers(set, 'x00181164', 2) ?? [1, 1];
  if (!spacing.every((s) => s > 0)) {
    throw new ImageReadError(file, `PixelSpacing is ${spacing.join('\\')}, expected two positive numbers (mm)`);
  }
  const slope = set.floatString('x00281053');
  const intercept = set.floatString('x00281052');
  return {
    file,
    bytes,
    littleEndian: syntax !== EXPLICIT_BIG,
    ...seriesOf(set),
    rows,
    columns,
    position: numbers(set, 'x00200032', 3),
    orientation: numbers(set, 'x00200037', 6),
    pixelSpacing: [spacing[0]!, spacing[1]!],
    thickness: set.floatString('x00180088') ?? set.floatString('x00180050'),
    bitsAllocated,
    bitsStored,
    highBit,
    signed: set.uint16('x00280103') === 1,
    inverted: photometric === 'MONOCHROME1',
    slope: slope !== undefined && Number.isFinite(slope) && slope !== 0 ? slope : 1,
    intercept: intercept !== undefined && Number.isFinite(intercept) ? intercept : 0,
    pixelOffset: pixels.dataOffset,
    pixelLength: needed,
  };
}

function seriesOf(set: dicomParser.DataSet): SeriesMember {
  const seriesUid = set.string('x0020000e') ?? '';
  const description = set.string('x0008103e');
  const number = set.intString('x00200011');
  const seriesLabel = [
    seriesUid || '(no SeriesInstanceUID)',
    number !== undefined ? `#${number}` : '',
    description ? JSON.stringify(description) : '',
  ]
    .filter(Boolean)
    .join(' ');
  return { seriesUid, seriesLabel };
}

/** The series of a file parseSlice refused, or undefined when its data set cannot be read at all. */
function seriesOfFile(bytes: Uint8Array): SeriesMember | undefined {
  try {
    return seriesOf(dicomParser.parseDicom(bytes));
  } catch {
    return undefined;
  }
}

function tagText(tag: string): string {
  return `${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()}`;
}

/** A multi-valued DS element as numbers, or undefined when absent or not `count` finite numbers. */
function numbers(set: dicomParser.DataSet, tag: string, count: number): number[] | undefined {
  if (!set.elements[tag]) return undefined;
  const values = Array.from({ length: count }, (_, i) => set.floatString(tag, i));
  return values.every((v) => v !== undefined && Number.isFinite(v)) ? (values as number[]) : undefined;
}

function pickSeries<Member extends SeriesMember>(
  slices: Member[],
  folder: string,
  wanted: string | undefined,
): Member[] {
  const series = new Map<string, Member[]>();
  for (const slice of slices) {
    const list = series.get(slice.seriesUid) ?? [];
    list.push(slice);
    series.set(slice.seriesUid, list);
  }
  const listing = () => [...series.values()].map((list) => `${list[0]!.seriesLabel} (${list.length} files)`).join('; ');
  if (wanted !== undefined) {
    const picked = series.get(wanted);
    if (!picked) {
      throw new ImageReadError(folder, `no series with SeriesInstanceUID ${wanted}, expected one of: ${listing()}`);
    }
    return picked;
  }
  if (series.size > 1) {
    throw new ImageReadError(
      folder,
      `holds ${series.size} DICOM series, expected one: ${listing()}. Pass seriesInstanceUid to choose one`,
    );
  }
  return slices;
}

const cross = (a: number[], b: number[]) => [
  a[1]! * b[2]! - a[2]! * b[1]!,
  a[2]! * b[0]! - a[0]! * b[2]!,
  a[0]! * b[1]! - a[1]! * b[0]!,
];
const sub = (a: number[], b: number[]) => [a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!];
const dot = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
const unit = (a: number[]) => {
  const norm = Math.hypot(a[0]!, a[1]!, a[2]!);
  return a.map((v) => v / norm);
};

/** Orders the slices along their normal, checks they form one grid, decodes them and reorients. */
function assembleVolume(slices: Slice[], source: string, limits: VoxelLimitOptions): ImageVolume {
  const first = slices[0]!;
  const several = slices.length > 1;
  for (const slice of slices) {
    if (slice.rows !== first.rows || slice.columns !== first.columns) {
      throw new ImageReadError(
        source,
        `slices differ in size: ${first.file} is ${first.rows}x${first.columns}, ${slice.file} is ${slice.rows}x${slice.columns}` +
          ' (rows x columns), expected one size for the series',
      );
    }
    if (several && (!slice.position || !slice.orientation)) {
      throw new ImageReadError(
        source,
        `${slice.file} has no ImagePositionPatient (0020,0032) or ImageOrientationPatient (0020,0037), ` +
          'expected both to order the slices',
      );
    }
  }

  const orientation = first.orientation ?? [1, 0, 0, 0, 1, 0];
  const rowDirection = unit(orientation.slice(0, 3));
  const columnDirection = unit(orientation.slice(3, 6));
  const normal = unit(cross(rowDirection, columnDirection));
  if (!normal.every(Number.isFinite)) {
    throw new ImageReadError(
      source,
      `ImageOrientationPatient ${orientation.join('\\')} is degenerate, expected two perpendicular unit vectors`,
    );
  }
  for (const slice of slices) {
    const other = slice.orientation!;
    if (several && other.some((v, i) => Math.abs(v - orientation[i]!) > 1e-3)) {
      throw new ImageReadError(
        source,
        `slices have different ImageOrientationPatient: ${first.file} ${orientation.join('\\')}, ` +
          `${slice.file} ${other.join('\\')}; expected one orientation (is a localizer mixed in?)`,
      );
    }
  }

  const ordered = slices
    .map((slice) => ({ slice, along: dot(slice.position ?? [0, 0, 0], normal) }))
    .sort((a, b) => a.along - b.along || a.slice.file.localeCompare(b.slice.file));
  const spacingAlongNormal = several
    ? checkSliceSpacing(ordered, source)
    : first.thickness && first.thickness > 0
      ? first.thickness
      : 1;
  // The step from slice to slice, as the positions give it: along the normal, unless the
  // slices are sheared (CT gantry tilt), where each one also shifts within its plane.
  const sliceStep =
    several && first.orientation
      ? sub(ordered[ordered.length - 1]!.slice.position!, ordered[0]!.slice.position!).map(
          (v) => v / (ordered.length - 1),
        )
      : normal.map((v) => v * spacingAlongNormal);
  const sliceSpacing = Math.hypot(...sliceStep);

  const [rowSpacing, columnSpacing] = first.pixelSpacing;
  const planeSize = first.rows * first.columns;
  checkVoxelCount([first.columns, first.rows, slices.length], source, limits);
  const data = new Float32Array(planeSize * slices.length);
  ordered.forEach(({ slice }, k) => decodePixels(slice, data.subarray(k * planeSize, (k + 1) * planeSize)));

  const grid = {
    data,
    size: [first.columns, first.rows, slices.length] as [number, number, number],
    spacing: [columnSpacing, rowSpacing, sliceSpacing] as [number, number, number],
  };
  if (!first.orientation) {
    // No patient geometry (e.g. a radiograph): keep the pixels in stored order, scaled only.
    const affine = [columnSpacing, 0, 0, 0, 0, rowSpacing, 0, 0, 0, 0, sliceSpacing, 0, 0, 0, 0, 1];
    return toClosestCanonical({ ...grid, affine }, source);
  }
  // LPS affine of voxel (column, row, slice), then LPS -> RAS by negating the first two rows.
  const origin = ordered[0]!.slice.position ?? [0, 0, 0];
  const columns = [rowDirection.map((v) => v * columnSpacing), columnDirection.map((v) => v * rowSpacing), sliceStep];
  const affine: number[] = [];
  for (let r = 0; r < 3; r++) {
    const sign = r < 2 ? -1 : 1;
    affine.push(...columns.map((c) => sign * c[r]!), sign * origin[r]!);
  }
  affine.push(0, 0, 0, 1);
  return toClosestCanonical({ ...grid, affine }, source);
}

/**
 * Mean distance between neighbouring slices along the normal. Duplicated positions are an error,
 * and so is a gap more than 10% (or 0.01 mm) away from the mean, e.g. a missing slice, since the
 * volume is not resampled; smaller jitter from rounded positions is accepted.
 */
function checkSliceSpacing(ordered: Array<{ slice: Slice; along: number }>, source: string): number {
  const count = ordered.length;
  const mean = (ordered[count - 1]!.along - ordered[0]!.along) / (count - 1);
  for (let k = 1; k < count; k++) {
    if (ordered[k]!.along - ordered[k - 1]!.along < 1e-4) {
      throw new ImageReadError(
        source,
        `two slices share the position ${ordered[k]!.along.toFixed(3)} mm along the slice normal: ` +
          `${ordered[k - 1]!.slice.file} and ${ordered[k]!.slice.file}; expected one slice per position ` +
          '(are two acquisitions in one series?)',
      );
    }
  }
  for (let k = 1; k < count; k++) {
    const gap = ordered[k]!.along - ordered[k - 1]!.along;
    if (Math.abs(gap - mean) > Math.max(0.1 * mean, 0.01)) {
      throw new ImageReadError(
        source,
        `uneven slice spacing: ${gap.toFixed(3)} mm between ${ordered[k - 1]!.slice.file} and ${ordered[k]!.slice.file}, ` +
          `the mean is ${mean.toFixed(3)} mm; expected a regular grid (is a slice missing?)`,
      );
    }
  }
  return mean;
}

/** Stored values -> modality values: mask to BitsStored, sign-extend, invert MONOCHROME1, rescale. */
function decodePixels(slice: Slice, out: Float32Array): void {
  const { bitsAllocated, bitsStored, highBit, signed, inverted, slope, intercept, littleEndian } = slice;
  const view = new DataView(slice.bytes.buffer, slice.bytes.byteOffset + slice.pixelOffset, slice.pixelLength);
  const shift = highBit + 1 - bitsStored;
  const mask = 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  const range = 2 ** bitsStored;
  for (let i = 0; i < out.length; i++) {
    const raw = bitsAllocated === 8 ? view.getUint8(i) : view.getUint16(i * 2, littleEndian);
    let value = (raw >>> shift) & mask;
    if (signed && value >= signBit) value -= range;
    // MONOCHROME1 shows low values bright; flip so that, as in MONOCHROME2, higher means brighter.
    if (inverted) value = signed ? -1 - value : mask - value;
    out[i] = value * slope + intercept;
  }
}
