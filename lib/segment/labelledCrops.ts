import { seededRandom } from '../data/phantom';
import { tensor } from '../tensor';
import type { LabelledBatch } from './Segmenter';

/** An image and its label map on the same grid, in memory (one channel). */
export interface LabelledVolume {
  image: Float32Array;
  labels: Int32Array;
  /** [H, W] or [D, H, W]. */
  shape: readonly number[];
}

/** Options of {@link labelledCropBatches}. */
export interface LabelledCropOptions {
  /** Crop side per axis, at most the smallest image's extent along that axis. */
  crop: readonly number[];
  batchSize: number;
  /** Seed of the images and positions drawn. */
  seed: number;
}

/**
 * An endless stream of fine-tuning batches: `batchSize` crops at random images and positions,
 * with their labels, as a function of the start step (a Trainer's BatchSource), so that a
 * resumed run sees the crops the interrupted one would have seen.
 */
export function labelledCropBatches(
  pairs: readonly LabelledVolume[],
  options: LabelledCropOptions,
): (startStep: number) => Generator<LabelledBatch> {
  checkCrop(pairs, options.crop);
  return function* (startStep: number) {
    const random = seededRandom(options.seed);
    // Each crop draws one image and one position per axis: skip the earlier steps' draws.
    const skipped = startStep * options.batchSize * (1 + options.crop.length);
    for (let i = 0; i < skipped; i++) random();
    for (;;) yield randomLabelledCrops(pairs, options.crop, options.batchSize, random);
  };
}

/** `batch` crops of `crop` voxels at random images and positions, with their labels. */
export function randomLabelledCrops(
  pairs: readonly LabelledVolume[],
  crop: readonly number[],
  batch: number,
  random: () => number,
): LabelledBatch {
  const voxels = crop.reduce((a, b) => a * b, 1);
  const images = new Float32Array(batch * voxels);
  const labels = new Int32Array(batch * voxels);
  for (let b = 0; b < batch; b++) {
    const pair = pairs[Math.floor(random() * pairs.length)]!;
    const origin = crop.map((side, axis) => Math.floor(random() * (pair.shape[axis]! - side + 1)));
    const strides = pair.shape.map((_, axis) => pair.shape.slice(axis + 1).reduce((a, c) => a * c, 1));
    // Rows along the last axis are contiguous in both.
    const rowLength = crop.at(-1)!;
    for (let row = 0; row < voxels / rowLength; row++) {
      let from = origin.at(-1)!;
      let rest = row;
      for (let axis = crop.length - 2; axis >= 0; axis--) {
        from += (origin[axis]! + (rest % crop[axis]!)) * strides[axis]!;
        rest = Math.floor(rest / crop[axis]!);
      }
      images.set(pair.image.subarray(from, from + rowLength), b * voxels + row * rowLength);
      labels.set(pair.labels.subarray(from, from + rowLength), b * voxels + row * rowLength);
    }
  }
  return { images: tensor(images, [batch, 1, ...crop]), labels: tensor(labels, [batch, ...crop]) };
}

function checkCrop(pairs: readonly LabelledVolume[], crop: readonly number[]): void {
  if (pairs.length === 0) throw new RangeError('Expected at least one labelled image to crop from');
  for (const pair of pairs) {
    if (pair.shape.length !== crop.length)
      throw new RangeError(
        `Expected images with ${crop.length} axes for a crop of [${crop.join(', ')}] but one has shape [${pair.shape.join(', ')}]`,
      );
    if (pair.shape.some((side, axis) => side < crop[axis]!))
      throw new RangeError(
        `The crop [${crop.join(', ')}] does not fit in an image of shape [${pair.shape.join(', ')}]`,
      );
  }
}
