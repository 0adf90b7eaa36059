import { describeReceived } from '../../errors';
import { isPlanar, type ImageVolume } from './ImageVolume';
import { checkVoxelCount, type VoxelLimitOptions } from './voxelLimit';

export interface ResampleOptions extends VoxelLimitOptions {
  /** 'linear' (default) for intensities; 'nearest' for label maps, whose values must stay classes. */
  interpolation?: 'linear' | 'nearest';
}

/**
 * The voxel size `image` is resampled to under a requested `spacing` (mm per array axis), or
 * undefined to keep it. Three values resample volumes, and one-slice volumes in their plane
 * only (a 2D NIfTI at 5 mm slice thickness must not become five slices); 2D pictures keep
 * their pixels. Two values resample 2D images, and volumes in their last two axes.
 */
export function spacingFor(
  image: Pick<ImageVolume, 'shape' | 'spacing'>,
  spacing: readonly number[],
): number[] | undefined {
  const axes = image.shape.length;
  if (spacing.length === axes)
    return axes === 3 && isPlanar(image.shape) ? [image.spacing[0]!, spacing[1]!, spacing[2]!] : [...spacing];
  if (axes === 3 && spacing.length === 2) return [image.spacing[0]!, ...spacing];
  return undefined;
}

/**
 * Linear (bilinear / trilinear) or nearest-neighbour resampling to a target voxel size, one array axis at a time
 * (separable passes, each a simple 1D interpolation over contiguous memory).
 *
 * Convention (as MONAI's Spacing): the centre of the first voxel stays where it is, and output
 * voxel j along an axis sits at j * target mm from it, i.e. at input index j * target / spacing.
 * The output has max(1, round(size * spacing / target)) voxels along the axis, so it covers the
 * same physical extent to within half an output voxel; samples past the last input centre
 * repeat the edge value. The affine keeps its translation and scales each voxel axis by
 * target / spacing. The output is refused, before anything is allocated, when it would have
 * more voxels than `options.maxVoxels` (default the readers' limit).
 */
export function resampleToSpacing(
  volume: ImageVolume,
  targetSpacing: number[],
  options: ResampleOptions = {},
): ImageVolume {
  const interpolation = options.interpolation ?? 'linear';
  if (interpolation !== 'linear' && interpolation !== 'nearest')
    throw new RangeError(
      `Expected interpolation 'linear' or 'nearest' but received ${describeReceived(interpolation)}`,
    );
  const rank = volume.shape.length;
  if (!Array.isArray(targetSpacing) || targetSpacing.length !== rank) {
    throw new TypeError(
      `Expected an array of ${rank} spacings (one per axis of shape [${volume.shape.join(', ')}]) for targetSpacing but received ${describeReceived(targetSpacing)}`,
    );
  }
  targetSpacing.forEach((t, axis) => {
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) {
      throw new RangeError(
        `Expected a positive number of mm for targetSpacing[${axis}] but received ${describeReceived(t)}`,
      );
    }
  });

  volume.spacing.forEach((s, axis) => {
    if (!(Number.isFinite(s) && s > 0))
      throw new RangeError(
        `Expected a positive voxel size for ${volume.source}'s spacing[${axis}] but received ${describeReceived(s)}`,
      );
  });
  const sizes = volume.shape.map((side, axis) =>
    Math.max(1, Math.round((side * volume.spacing[axis]!) / targetSpacing[axis]!)),
  );
  // Checked before anything is allocated: a small target spacing can ask for terabytes.
  checkVoxelCount(sizes, volume.source, options);

  let data = volume.data;
  const shape = [...volume.shape];
  for (let axis = 0; axis < rank; axis++) {
    const size = sizes[axis]!;
    const step = targetSpacing[axis]! / volume.spacing[axis]!;
    if (size === shape[axis] && step === 1) continue;
    data = resampleAxis(data, shape, axis, size, step, interpolation === 'nearest');
    shape[axis] = size;
  }
  if (data === volume.data) data = data.slice();

  // Array axis a is voxel axis (rank - 1 - a) of the affine (x = W is the last array axis).
  const affine = [...volume.affine];
  for (let axis = 0; axis < rank; axis++) {
    const column = rank - 1 - axis;
    const factor = targetSpacing[axis]! / volume.spacing[axis]!;
    for (let row = 0; row < 3; row++) affine[row * 4 + column] = affine[row * 4 + column]! * factor;
  }
  return { ...volume, data, shape, spacing: [...targetSpacing], affine };
}

/**
 * One pass: the array seen as [outer, n, inner], resampled along n to `size` samples `step`
 * apart; `nearest` takes the closest input sample (ties to the lower) instead of blending two.
 */
function resampleAxis(
  data: Float32Array,
  shape: number[],
  axis: number,
  size: number,
  step: number,
  nearest: boolean,
): Float32Array {
  const n = shape[axis]!;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  // For each output sample: the two input indices and the weight of the second one.
  const lower = new Int32Array(size);
  const upper = new Int32Array(size);
  const weight = new Float32Array(size);
  for (let j = 0; j < size; j++) {
    const x = Math.min(j * step, n - 1);
    const i = nearest ? Math.ceil(x - 0.5) : Math.floor(x);
    lower[j] = i;
    upper[j] = Math.min(i + 1, n - 1);
    weight[j] = nearest ? 0 : x - i;
  }
  const out = new Float32Array(outer * size * inner);
  for (let o = 0; o < outer; o++) {
    const from = o * n * inner;
    const to = o * size * inner;
    for (let j = 0; j < size; j++) {
      const a = from + lower[j]! * inner;
      const b = from + upper[j]! * inner;
      const w = weight[j]!;
      const target = to + j * inner;
      if (w === 0) {
        out.set(data.subarray(a, a + inner), target);
        continue;
      }
      for (let k = 0; k < inner; k++) out[target + k] = data[a + k]! + w * (data[b + k]! - data[a + k]!);
    }
  }
  return out;
}
