import { seededRandom } from '../phantom';
import { tensor, type Tensor } from '../../tensor';
import { isPlanar, normalizeIntensity, planeShape, type ImageVolume, type NormalizeSpec } from '../image';
import type { ImageDataset } from './ImageDataset';
import { checkPatchOptions, checkStreamedImage } from './patchOptions';
import { cropInto, foregroundShare, SLICE_AXES, takeSlice, type SliceAxis } from './patches';

export interface PatchBatchOptions {
  /** 2D patches (slices of volumes, or 2D images) or 3D patches. */
  dims: 2 | 3;
  /** The crop the model trains on; patches are `context` times larger for the views. */
  cropSize: readonly number[];
  batchSize: number;
  /** Patch side relative to the crop. Default 1.5 (the spec's context). */
  context?: number;
  /** Slices of volumes for 2D training: an anatomical axis or "any". Default "axial". */
  sliceAxis?: SliceAxis | 'any';
  /** Patches with a smaller share of voxels above 0.05 are drawn again, up to 10 tries. Default 0.1. */
  minForeground?: number;
  /** Seed of the sampling, 0 to 2^32 - 1 (its generator is 32-bit: larger seeds would repeat smaller ones). Default 0. */
  seed?: number;
  /** First step of the stream: batches depend only on (seed, step), so a resumed run sees the same data. */
  startStep?: number;
}

const TRIES = 10;

/** The patch size for a crop: `context` times larger, rounded to whole voxels. */
export function patchSizeFor(cropSize: readonly number[], context = 1.5): number[] {
  return cropSize.map((side) => Math.round(side * context));
}

/**
 * An endless stream of batches (B, 1, *patch) of random patches: a random image, for 2D
 * training from a volume a random slice, then a random box (zero padded where the image is
 * smaller), redrawn while it is mostly background.
 */
export async function* patchBatches(
  dataset: ImageDataset,
  options: PatchBatchOptions,
): AsyncGenerator<Tensor<'float32'>> {
  const patchSize = checkPatchOptions(options, 'patchBatches');
  const per = patchSize.reduce((a, b) => a * b, 1);
  for (let step = options.startStep ?? 0; ; step++) {
    const random = seededRandom(mixSeed(options.seed ?? 0, step));
    const data = new Float32Array(options.batchSize * per);
    for (let b = 0; b < options.batchSize; b++) {
      for (let attempt = 0; attempt < TRIES; attempt++) {
        const image = await pickImage(dataset, random);
        if (cutPatch(image, patchSize, options, random, data, b * per) >= (options.minForeground ?? 0.1)) break;
      }
    }
    yield tensor(data, [options.batchSize, 1, ...patchSize]);
  }
}

export interface StreamPatchOptions extends Omit<PatchBatchOptions, 'startStep'> {
  /** Patches cut from each image before the next is read. Default 1. */
  patchesPerImage?: number;
  /** Intensity mapping applied to each image. Default percentile clipping 0.5 to 99.5. */
  normalize?: NormalizeSpec;
}

/**
 * Batches of random patches from a stream of images: an async iterable or a Node Readable
 * in object mode of ImageVolumes, read one image at a time (so an endless or very large
 * source never sits in memory). Each image gives `patchesPerImage` patches, redrawn within
 * the image while mostly background; a last partial batch is dropped. A stream cannot be
 * rewound, so unlike patchBatches a resumed run does not see the same data.
 */
export async function* streamPatchBatches(
  images: AsyncIterable<ImageVolume> | Iterable<ImageVolume>,
  options: StreamPatchOptions,
): AsyncGenerator<Tensor<'float32'>> {
  const patchSize = checkPatchOptions(options, 'streamPatchBatches');
  const per = patchSize.reduce((a, b) => a * b, 1);
  const perImage = options.patchesPerImage ?? 1;
  let data = new Float32Array(options.batchSize * per);
  let filled = 0;
  let index = 0;
  for await (const raw of images) {
    const image = normalizeIntensity(checkStreamedImage(raw, index), options.normalize ?? { kind: 'percentile' });
    const random = seededRandom(mixSeed(options.seed ?? 0, index++));
    for (let p = 0; p < perImage; p++) {
      for (let attempt = 0; attempt < TRIES; attempt++) {
        if (cutPatch(image, patchSize, options, random, data, filled * per) >= (options.minForeground ?? 0.1)) break;
      }
      if (++filled === options.batchSize) {
        yield tensor(data, [options.batchSize, 1, ...patchSize]);
        data = new Float32Array(options.batchSize * per);
        filled = 0;
      }
    }
  }
}

/** Cuts one random patch of `image` into `out` at `offset`; returns its foreground share. */
function cutPatch(
  image: ImageVolume,
  patchSize: readonly number[],
  options: Pick<PatchBatchOptions, 'dims' | 'sliceAxis'>,
  random: () => number,
  out: Float32Array,
  offset: number,
): number {
  const plane = planeFor(image, options, random);
  const start = plane.shape.map((side, i) => {
    const size = patchSize[i]!;
    return side >= size ? Math.floor(random() * (side - size + 1)) : -Math.floor((size - side) / 2);
  });
  cropInto(plane.data, plane.shape, start, patchSize, out, offset);
  return foregroundShare(
    out,
    offset,
    patchSize.reduce((a, b) => a * b, 1),
  );
}

/** One 32-bit seed per (seed, step), well spread so neighbouring steps are unrelated. */
function mixSeed(seed: number, step: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

async function pickImage(dataset: ImageDataset, random: () => number): Promise<ImageVolume> {
  // Skipped (unreadable) files return undefined; draw another, in a reproducible order,
  // until a readable one comes up or none is left.
  for (;;) {
    const image = await dataset.get(Math.floor(random() * dataset.size));
    if (image) return image;
    if (dataset.failedCount >= dataset.size) {
      throw new Error(`None of the ${dataset.size} images could be read (see the warnings)`);
    }
  }
}

function planeFor(
  image: ImageVolume,
  options: Pick<PatchBatchOptions, 'dims' | 'sliceAxis'>,
  random: () => number,
): { data: Float32Array; shape: number[] } {
  // A single slice [1, H, W] (a 2D NIfTI, one DICOM file) is a 2D image: slicing it along
  // another axis would give one-row strips.
  const planar = isPlanar(image.shape);
  if (options.dims === 3) {
    if (planar)
      throw new Error(`${image.source || 'An image'} is a 2D image; 3D training needs volumes (or use dims 2)`);
    return image;
  }
  if (planar) return { data: image.data, shape: planeShape(image.shape) };
  const choice = options.sliceAxis ?? 'axial';
  const axis = choice === 'any' ? ([0, 1, 2] as const)[Math.floor(random() * 3)]! : SLICE_AXES[choice];
  return takeSlice(image.data, image.shape, axis, Math.floor(random() * image.shape[axis]!));
}
