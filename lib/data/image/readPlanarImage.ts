import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ImageReadError, firstBytesHex, libraryMessage, type ImageVolume } from './ImageVolume';
import { shortImageData, withoutTransparentColour } from './pngImageData';
import { readFileBytes } from './readFileBytes';
import { checkVoxelCount, validateVoxelLimit, type VoxelLimitOptions } from './voxelLimit';

/**
 * Reads PNG (8 or 16 bit; gray, gray+alpha, RGB, RGBA, palette) and JPEG files as one gray
 * [H, W] image with the values as stored: 0..255, or 0..65535 for 16-bit PNG, not rescaled.
 * Colour becomes luminance 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601); alpha is ignored.
 * Plain image files carry no voxel size, so spacing is [1, 1].
 */

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Reads a PNG or JPEG file (chosen by content) as a [H, W] gray image. */
export async function readPlanarImage(file: string, limits: VoxelLimitOptions = {}): Promise<ImageVolume> {
  validateVoxelLimit(limits);
  return decodePlanarImage(await readFileBytes(file), file, limits);
}

/** Decodes PNG or JPEG bytes already in memory. */
export function decodePlanarImage(bytes: Buffer, file: string, limits: VoxelLimitOptions = {}): ImageVolume {
  if (isPng(bytes)) return decodePng(bytes, file, limits);
  if (isJpeg(bytes)) return decodeJpeg(bytes, file, limits);
  throw new ImageReadError(
    file,
    `not a PNG or JPEG file (first bytes ${firstBytesHex(bytes, 8)}), expected 89 50 4e 47 0d 0a 1a 0a (PNG) or ff d8 ff (JPEG)`,
  );
}

/**
 * Largest plain image accepted, in pixels (the decoders hold 4 samples per pixel, and one
 * PNG header can claim 4 billion squared). 2^28 = 16384 x 16384: any scan or whole-slide
 * thumbnail, and under 2 GB of decoded samples.
 */
export const MAX_PLANAR_PIXELS = 2 ** 28;

function checkPixelCount(width: number, height: number, file: string, limits: VoxelLimitOptions): void {
  // The decoders' own cap first: a larger maxVoxels does not lift it.
  if (width * height > MAX_PLANAR_PIXELS) {
    throw new ImageReadError(
      file,
      `image of ${width} x ${height} pixels is larger than the ${MAX_PLANAR_PIXELS.toLocaleString('en')} pixels accepted (16384 x 16384); tile or downsample it first`,
    );
  }
  checkVoxelCount([height, width], file, limits);
}

function decodePng(bytes: Buffer, file: string, limits: VoxelLimitOptions): ImageVolume {
  // The IHDR chunk comes first: width and height (big-endian) at bytes 16 and 20.
  if (bytes.length >= 24) checkPixelCount(bytes.readUInt32BE(16), bytes.readUInt32BE(20), file, limits);
  const short = shortImageData(bytes);
  if (short) throw new ImageReadError(file, short);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    // skipRescale keeps 16-bit samples (a Uint16Array) and low bit depths as stored.
    png = PNG.sync.read(withoutTransparentColour(bytes), { skipRescale: true });
  } catch (error) {
    throw new ImageReadError(file, `invalid PNG (${libraryMessage(error)})`, { cause: error });
  }
  // pngjs always hands back 4 samples per pixel (RGBA), whatever the colour type was.
  return grayVolume(png.data as ArrayLike<number>, png.width, png.height, file);
}

function decodeJpeg(bytes: Buffer, file: string, limits: VoxelLimitOptions): ImageVolume {
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_PLANAR_PIXELS / 1e6,
      maxMemoryUsageInMB: 4096,
    });
  } catch (error) {
    throw new ImageReadError(file, `invalid JPEG (${libraryMessage(error)})`, { cause: error });
  }
  // jpeg-js caps the decode at MAX_PLANAR_PIXELS; a lower maxVoxels is checked here.
  checkPixelCount(image.width, image.height, file, limits);
  return grayVolume(image.data, image.width, image.height, file);
}

/** RGBA samples -> one gray value per pixel; gray pixels (R = G = B) keep their exact value. */
function grayVolume(rgba: ArrayLike<number>, width: number, height: number, file: string): ImageVolume {
  const data = new Float32Array(width * height);
  for (let p = 0, i = 0; p < data.length; p++, i += 4) {
    const r = rgba[i]!;
    const g = rgba[i + 1]!;
    const b = rgba[i + 2]!;
    data[p] = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
  }
  return {
    data,
    shape: [height, width],
    spacing: [1, 1],
    affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
    source: file,
  };
}
