/**
 * The one in-memory form every reader returns: float32 intensities, their array shape, the
 * voxel size and the voxel-to-world matrix, so that later steps (normalisation, resampling,
 * patch sampling) never need to know which file format the image came from.
 */
export interface ImageVolume {
  /** Intensities (float32), row-major over `shape` (last axis fastest). */
  data: Float32Array;
  /** [H, W] for 2D images, [D, H, W] for volumes. */
  shape: number[];
  /** Voxel size in mm per array axis, same order as shape. */
  spacing: number[];
  /**
   * 4x4 row-major voxel-to-world (RAS+, mm) matrix of the returned array, index order
   * (x = W axis, y = H axis, z = D axis); identity-scaled (diag(spacing W, spacing H, 1, 1)) for
   * 2D images.
   */
  affine: number[];
  /** File or folder it was read from. */
  source: string;
}

/**
 * A file (or folder) could not be read as an image. The message starts with the path, then
 * says what is wrong and what was expected, e.g.
 * `/x/a.nii.gz: file is truncated: the header needs 14221 bytes of voxel data, the file has 1000`.
 */
export class ImageReadError extends Error {
  /** The file or folder that failed. */
  readonly file: string;
  /** What is wrong, without the path (the message is `${file}: ${reason}`). */
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, options);
    this.name = 'ImageReadError';
    this.file = file;
    this.reason = reason;
  }
}

/** The first bytes of a buffer as hex (`3c 68 74 6d`), for "not a … file" messages. */
export function firstBytesHex(bytes: Uint8Array, count = 4): string {
  return Array.from(bytes.subarray(0, count), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * The text of whatever a parsing library threw: an Error, a bare string (dicom-parser) or an
 * object wrapping one (`{ exception, dataSet }` from dicom-parser's parseDicom).
 */
export function libraryMessage(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object') {
    if ('exception' in error) return libraryMessage(error.exception);
    // Not `instanceof Error`: errors from Node's own modules may come from another realm (jest, vm).
    if ('message' in error && typeof error.message === 'string') return error.message;
  }
  return String(error);
}

/**
 * The shape of an image as the 2D image it may be: [H, W] for a 2D image and for a volume of
 * one slice ([1, H, W], as every 2D NIfTI and single DICOM file reads), else the shape itself.
 */
export function planeShape(shape: readonly number[]): number[] {
  return shape.length === 3 && shape[0] === 1 ? shape.slice(1) : [...shape];
}

/** Whether an image is 2D: [H, W], or a volume of one slice. */
export function isPlanar(shape: readonly number[]): boolean {
  return planeShape(shape).length === 2;
}
