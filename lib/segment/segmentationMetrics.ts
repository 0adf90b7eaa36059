import { checkInteger } from '../validate';

/**
 * Segmentation scores of label maps: per-class Dice and the 95th-percentile Hausdorff
 * distance between class surfaces, as evaluation reports them.
 */

/** Scores of one class. */
export interface ClassScores {
  /** 2|A ∩ B| / (|A| + |B|) over every image; NaN when the class is absent from both. */
  dice: number;
  /**
   * 95th-percentile symmetric surface distance (max of the two directed 95th percentiles,
   * in the units of `spacing`); NaN when the class is absent from both, Infinity when it
   * is absent from exactly one.
   */
  hausdorff95: number;
}

export interface SegmentationScores {
  perClass: ClassScores[];
  /** Mean Dice over classes present in the truth or the prediction. */
  meanDice: number;
  /** Mean of the finite per-class hausdorff95 values (NaN when none is finite). */
  meanHausdorff95: number;
}

export interface ScoreOptions {
  /** Classes to score: 0..classes-1. */
  classes: number;
  /** Voxels whose true label is this count for nothing. */
  ignoreLabel?: number;
  /** Voxel size per spatial axis (array order) for distances. Default 1 for each. */
  spacing?: readonly number[];
  /** Classes left out of the means (e.g. [0] for background). Default none. */
  excludeFromMean?: readonly number[];
  /** Compute hausdorff95 (the costly part). Default true; false leaves it NaN. */
  surfaceDistances?: boolean;
}

type Labels = ArrayLike<number>;

/**
 * Scores `predicted` against `truth`: both label maps of B images of `size` voxels each
 * (array order, 2D or 3D), flattened image after image.
 */
export function scoreSegmentation(
  predicted: Labels,
  truth: Labels,
  size: readonly number[],
  options: ScoreOptions,
): SegmentationScores {
  const voxels = size.reduce((a, b) => a * b, 1);
  if (predicted.length !== truth.length || truth.length % voxels !== 0)
    throw new RangeError(
      `Expected predicted and truth label maps of the same length, a multiple of ${voxels} voxels (size [${size.join(', ')}]), but received ${predicted.length} and ${truth.length}`,
    );
  checkInteger(options.classes, 'classes', 1);
  checkTruth(truth, options.classes, options.ignoreLabel);
  const spacing = options.spacing ?? size.map(() => 1);
  if (spacing.length !== size.length || spacing.some((s) => !(s > 0)))
    throw new RangeError(`Expected ${size.length} positive spacings but received [${spacing.join(', ')}]`);
  const images = truth.length / voxels;
  const perClass: ClassScores[] = [];
  for (let c = 0; c < options.classes; c++) {
    let overlap = 0;
    let sizes = 0;
    const distances: [number[], number[]] = [[], []];
    let missing = 0; // images where the class is in exactly one of the two maps
    for (let b = 0; b < images; b++) {
      const a = new Uint8Array(voxels);
      const t = new Uint8Array(voxels);
      for (let i = 0; i < voxels; i++) {
        const label = truth[b * voxels + i]!;
        if (label === options.ignoreLabel) continue;
        a[i] = predicted[b * voxels + i] === c ? 1 : 0;
        t[i] = label === c ? 1 : 0;
        overlap += a[i]! & t[i]!;
        sizes += a[i]! + t[i]!;
      }
      if (options.surfaceDistances === false) continue;
      const surfaceA = surface(a, size);
      const surfaceT = surface(t, size);
      const countA = surfaceA.reduce((n, v) => n + v, 0);
      const countT = surfaceT.reduce((n, v) => n + v, 0);
      if (countA === 0 || countT === 0) {
        if (countA + countT > 0) missing++;
        continue;
      }
      collectDistances(surfaceA, surfaceT, size, spacing, distances[0]);
      collectDistances(surfaceT, surfaceA, size, spacing, distances[1]);
    }
    const dice = sizes === 0 ? NaN : (2 * overlap) / sizes;
    let hausdorff95 = NaN;
    if (missing > 0) hausdorff95 = Infinity;
    else if (distances[0].length > 0)
      hausdorff95 = Math.max(percentile(distances[0], 95), percentile(distances[1], 95));
    perClass.push({ dice, hausdorff95 });
  }
  const included = perClass.filter((_, c) => !options.excludeFromMean?.includes(c));
  const mean = (values: number[]) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length);
  return {
    perClass,
    meanDice: mean(included.map((s) => s.dice).filter((d) => !Number.isNaN(d))),
    meanHausdorff95: mean(included.map((s) => s.hausdorff95).filter(Number.isFinite)),
  };
}

/** Voxels of the mask with a face neighbour outside it (the image border counts as outside). */
function surface(mask: Uint8Array, size: readonly number[]): Uint8Array {
  const out = new Uint8Array(mask.length);
  const strides = stridesOf(size);
  const coordinate = new Array<number>(size.length).fill(0);
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      for (let axis = 0; axis < size.length; axis++) {
        const x = coordinate[axis]!;
        const s = strides[axis]!;
        if (x === 0 || x === size[axis]! - 1 || !mask[i - s] || !mask[i + s]) {
          out[i] = 1;
          break;
        }
      }
    }
    for (let axis = size.length - 1; axis >= 0; axis--) {
      if (++coordinate[axis]! < size[axis]!) break;
      coordinate[axis] = 0;
    }
  }
  return out;
}

/** Appends, for each voxel of `from`, its Euclidean distance to the nearest voxel of `to`. */
function collectDistances(
  from: Uint8Array,
  to: Uint8Array,
  size: readonly number[],
  spacing: readonly number[],
  out: number[],
): void {
  const squared = squaredDistanceTransform(to, size, spacing);
  for (let i = 0; i < from.length; i++) if (from[i]) out.push(Math.sqrt(squared[i]!));
}

const FAR = 1e30;

/**
 * Exact squared Euclidean distance of every voxel to the nearest set voxel of `mask`, with
 * anisotropic spacing: the lower-envelope algorithm of Felzenszwalb and Huttenlocher, one
 * axis at a time.
 */
export function squaredDistanceTransform(
  mask: Uint8Array,
  size: readonly number[],
  spacing: readonly number[],
): Float64Array {
  const d = new Float64Array(mask.length);
  for (let i = 0; i < mask.length; i++) d[i] = mask[i] ? 0 : FAR;
  const strides = stridesOf(size);
  for (let axis = 0; axis < size.length; axis++) {
    const n = size[axis]!;
    const stride = strides[axis]!;
    const step = spacing[axis]!;
    const line = new Float64Array(n);
    const result = new Float64Array(n);
    const hull = new Int32Array(n);
    const bounds = new Float64Array(n + 1);
    for (let start = 0; start < mask.length; start++) {
      // Each line starts where the coordinate along `axis` is 0.
      if (Math.floor(start / stride) % n !== 0) continue;
      for (let q = 0; q < n; q++) line[q] = d[start + q * stride]!;
      lowerEnvelope(line, step, hull, bounds, result);
      for (let q = 0; q < n; q++) d[start + q * stride] = result[q]!;
    }
  }
  return d;
}

/** result[q] = min over p of (step (q - p))^2 + f[p]. */
function lowerEnvelope(
  f: Float64Array,
  step: number,
  hull: Int32Array,
  bounds: Float64Array,
  result: Float64Array,
): void {
  const n = f.length;
  let k = 0;
  hull[0] = 0;
  bounds[0] = -Infinity;
  bounds[1] = Infinity;
  const x = (q: number) => q * step;
  // Where the parabola from q overtakes the one from p.
  const crossing = (p: number, q: number) => (f[q]! + x(q) ** 2 - (f[p]! + x(p) ** 2)) / (2 * (x(q) - x(p)));
  for (let q = 1; q < n; q++) {
    let s = crossing(hull[k]!, q);
    while (s <= bounds[k]!) s = crossing(hull[--k]!, q);
    k++;
    hull[k] = q;
    bounds[k] = s;
    bounds[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (bounds[k + 1]! < x(q)) k++;
    const p = hull[k]!;
    result[q] = (x(q) - x(p)) ** 2 + f[p]!;
  }
}

function stridesOf(size: readonly number[]): number[] {
  const strides = new Array<number>(size.length);
  let stride = 1;
  for (let axis = size.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= size[axis]!;
  }
  return strides;
}

/** Linear-interpolated percentile (NumPy's default) of unsorted values. */
function percentile(values: number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  const position = (p / 100) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/**
 * Refuses a truth label outside [0, classes) that is not the ignore label: it would count as
 * a miss of every class, a silently lower score.
 */
function checkTruth(truth: Labels, classes: number, ignoreLabel: number | undefined): void {
  for (let i = 0; i < truth.length; i++) {
    const label = truth[i]!;
    if ((Number.isInteger(label) && label >= 0 && label < classes) || label === ignoreLabel) continue;
    const ignore = ignoreLabel === undefined ? '' : ` or the ignore label ${ignoreLabel}`;
    throw new RangeError(`Expected truth labels in [0, ${classes})${ignore} but found ${label} at index ${i}`);
  }
}
