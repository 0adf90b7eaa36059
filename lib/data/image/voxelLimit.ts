import { rangeError } from '../../errors';
import { ImageReadError } from './ImageVolume';

/**
 * The largest image a reader returns, in voxels of one volume: 2^29 (536,870,912, e.g.
 * 1024 x 1024 x 512), 2 GiB as float32. A one-megabyte .nii.gz can declare a billion
 * voxels of zeros; without a limit reading it takes several gigabytes before anything
 * can say no. Raise it with `maxVoxels` for really large scans.
 */
export const DEFAULT_MAX_VOXELS = 2 ** 29;

export interface VoxelLimitOptions {
  /** Largest volume accepted, in voxels (of one volume of a 4D file). Default 2^29 = 536,870,912. */
  maxVoxels?: number;
}

export function validateVoxelLimit(options: VoxelLimitOptions): void {
  const limit = options.maxVoxels;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) {
    throw rangeError('maxVoxels', 'a positive integer', limit);
  }
}

/** Refuses an image of `shape` (its sizes, any order) over the limit, naming both. */
export function checkVoxelCount(shape: readonly number[], file: string, options: VoxelLimitOptions): void {
  const limit = options.maxVoxels ?? DEFAULT_MAX_VOXELS;
  const voxels = shape.reduce((product, side) => product * side, 1);
  if (voxels <= limit) return;
  throw new ImageReadError(
    file,
    `image of ${shape.join(' x ')} voxels (${voxels.toLocaleString('en')}) is larger than the ` +
      `${limit.toLocaleString('en')} voxels accepted; pass a larger maxVoxels (data.maxVoxels in a ` +
      'pretrain config) to read it, or crop or downsample it first',
  );
}
