import { checkInteger, checkNumber, refuseUnknownOptions } from '../../validate';
import { SLICE_AXES } from './patches';
import { patchSizeFor, type PatchBatchOptions, type StreamPatchOptions } from './patchBatches';
import type { ImageVolume } from '../image';

const PATCH_OPTIONS = ['dims', 'cropSize', 'batchSize', 'context', 'sliceAxis', 'minForeground', 'seed'];

/**
 * Checks the options of patchBatches (`startStep`) or streamPatchBatches (`patchesPerImage`,
 * `normalize`) and returns the patch size. Checked up front because a bad value does not
 * fail later: a misspelt slice axis gave batches of NaN, a batch size of 0 an endless stream
 * of empty batches, an unknown option name its default.
 */
export function checkPatchOptions(
  options: PatchBatchOptions | StreamPatchOptions,
  call: 'patchBatches' | 'streamPatchBatches',
): number[] {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected an options object for ${call} but received ${String(options)}`);
  const extra = call === 'patchBatches' ? ['startStep'] : ['patchesPerImage', 'normalize'];
  refuseUnknownOptions(options, [...PATCH_OPTIONS, ...extra], call);
  if (options.dims !== 2 && options.dims !== 3)
    throw new RangeError(`Expected dims 2 or 3 for ${call} but received ${String(options.dims)}`);
  if (!Array.isArray(options.cropSize) || options.cropSize.length !== options.dims)
    throw new RangeError(
      `Expected cropSize with ${options.dims} sides for ${options.dims}D patches but received ${JSON.stringify(options.cropSize)}`,
    );
  options.cropSize.forEach((side, i) => checkInteger(side, `cropSize[${i}]`, 1, 4096));
  checkInteger(options.batchSize, 'batchSize', 1, 65536);
  const context = options.context === undefined ? 1.5 : checkNumber(options.context, 'context', 1, 4);
  if (options.sliceAxis !== undefined && options.sliceAxis !== 'any' && !Object.hasOwn(SLICE_AXES, options.sliceAxis))
    throw new RangeError(
      `Expected sliceAxis ${Object.keys(SLICE_AXES).join(', ')} or any but received ${JSON.stringify(options.sliceAxis)}`,
    );
  if (options.minForeground !== undefined) checkNumber(options.minForeground, 'minForeground', 0, 1);
  if (options.seed !== undefined) checkInteger(options.seed, 'seed', 0, 2 ** 32 - 1);
  if ('startStep' in options && options.startStep !== undefined) checkInteger(options.startStep, 'startStep', 0);
  if ('patchesPerImage' in options && options.patchesPerImage !== undefined)
    checkInteger(options.patchesPerImage, 'patchesPerImage', 1);
  return patchSizeFor(options.cropSize, context);
}

/**
 * An image from a stream comes from the caller's code, not from a reader: checked like a
 * reader's output (a 2D or 3D shape, as many values as it holds, a voxel size per axis), so
 * that a wrong one fails naming its place in the stream instead of giving garbage patches.
 */
export function checkStreamedImage(image: unknown, index: number): ImageVolume {
  return checkImageVolume(image, `streamPatchBatches: image ${index} of the stream`);
}

/** Checks that `image` is a well-formed ImageVolume, naming it as `where` in any error. */
export function checkImageVolume(image: unknown, where: string): ImageVolume {
  const volume = image as Partial<ImageVolume> | null;
  if (typeof volume !== 'object' || volume === null || !(volume.data instanceof Float32Array))
    throw new TypeError(`${where} is not an ImageVolume ({ data: Float32Array, shape, spacing, affine, source })`);
  const { shape, spacing, data } = volume;
  if (
    !Array.isArray(shape) ||
    (shape.length !== 2 && shape.length !== 3) ||
    !shape.every((n) => Number.isInteger(n) && n > 0)
  )
    throw new RangeError(
      `${where} has shape ${JSON.stringify(shape)}; expected [H, W] or [D, H, W] of positive integers`,
    );
  const voxels = shape.reduce((a, b) => a * b, 1);
  if (data.length !== voxels)
    throw new RangeError(`${where} has ${data.length} values for its shape [${shape.join(', ')}] (${voxels})`);
  if (!Array.isArray(spacing) || spacing.length !== shape.length || !spacing.every((s) => Number.isFinite(s) && s > 0))
    throw new RangeError(
      `${where} has spacing ${JSON.stringify(spacing)}; expected ${shape.length} positive voxel sizes in mm`,
    );
  return volume as ImageVolume;
}
