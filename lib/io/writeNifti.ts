import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from './writeFileAtomic';

/**
 * Writes float32 maps as a single-file NIfTI-1 (.nii, or gzip for .nii.gz), so feature maps
 * and displacement fields open in any viewer on the grid of the image they came from.
 */

export interface NiftiMaps {
  /** Float32 values, row-major [channels, D, H, W] (volume) or [channels, H, W] (image). */
  data: Float32Array;
  /** Spatial shape, [D, H, W] or [H, W], as ImageVolume.shape. */
  shape: number[];
  /** Number of maps (features); written as the 4th NIfTI dimension. Default 1. */
  channels?: number;
  /** Voxel size in mm per array axis, as ImageVolume.spacing. Default 1 mm. */
  spacing?: number[];
  /**
   * 4x4 row-major voxel-to-RAS+ matrix with index order (x = W, y = H, z = D), as
   * ImageVolume.affine (a read volume's affine keeps the maps where the image was).
   * Default: diag(spacing).
   */
  affine?: number[];
}

const HEADER_BYTES = 348;
const DATA_OFFSET = 352; // header + 4 bytes of (empty) extension flag

/** The file's bytes (uncompressed). */
export function encodeNifti(maps: NiftiMaps): Buffer {
  const channels = maps.channels ?? 1;
  const { shape } = maps;
  if (shape.length !== 2 && shape.length !== 3)
    throw new RangeError(`Expected a shape of [H, W] or [D, H, W] but received [${shape.join(', ')}]`);
  const voxels = shape.reduce((a, b) => a * b, 1);
  if (!(maps.data instanceof Float32Array) || maps.data.length !== voxels * channels)
    throw new RangeError(
      `Expected ${voxels * channels} float32 values (${channels} x [${shape.join(', ')}]) but received ${maps.data?.length}`,
    );
  // NIfTI's i, j, k run along W, H, D: the row-major [D, H, W] layout already has W fastest.
  const [depth, height, width] = shape.length === 3 ? shape : [1, ...shape];
  const spacing = maps.spacing ?? shape.map(() => 1);
  const [sd, sh, sw] = spacing.length === 3 ? spacing : [1, ...spacing];
  const affine = maps.affine ?? [sw!, 0, 0, 0, 0, sh!, 0, 0, 0, 0, sd!, 0, 0, 0, 0, 1];
  if (affine.length !== 16 || !affine.every(Number.isFinite))
    throw new RangeError('Expected affine to be 16 finite numbers (a row-major 4x4 matrix)');

  const bytes = Buffer.alloc(DATA_OFFSET + maps.data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(0, HEADER_BYTES, true);
  const dims = [channels > 1 ? 4 : 3, width!, height!, depth!, channels, 1, 1, 1];
  dims.forEach((d, i) => view.setInt16(40 + 2 * i, d, true));
  view.setInt16(70, 16, true); // datatype: float32
  view.setInt16(72, 32, true); // bitpix
  [1, sw!, sh!, sd!, 1, 1, 1, 1].forEach((p, i) => view.setFloat32(76 + 4 * i, p, true));
  view.setFloat32(108, DATA_OFFSET, true); // vox_offset
  view.setFloat32(112, 1, true); // scl_slope
  view.setUint8(123, 10 | 8); // xyzt_units: mm, seconds
  view.setInt16(254, 1, true); // sform_code: scanner
  affine.slice(0, 12).forEach((value, i) => view.setFloat32(280 + 4 * i, value, true));
  bytes.write('n+1\0', 344, 'latin1');
  Buffer.from(maps.data.buffer, maps.data.byteOffset, maps.data.byteLength).copy(bytes, DATA_OFFSET);
  return bytes;
}

/** Writes `maps` to `file` atomically; gzip when the name ends in .gz. */
export async function writeNifti(file: string, maps: NiftiMaps): Promise<void> {
  const bytes = encodeNifti(maps);
  await writeFileAtomic(file, [file.endsWith('.gz') ? gzipSync(bytes) : bytes]);
}
