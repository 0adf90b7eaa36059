/**
 * A displacement with a known answer, and how far a predicted one is from it: the measure
 * of correspondence that the evaluate report shows and the tests hold pretraining to.
 */

/** The known motion: a turn of 4 degrees about the centre and a shift of (1.5, -1) voxels. */
export const KNOWN_TURN_DEGREES = 4;
export const KNOWN_SHIFT: readonly [number, number] = [1.5, -1];

/**
 * psi(x) = R(x - c) + c + t - x in the last two axes (rows, columns) of a grid of `size`,
 * 0 along a third: (n, *size) flattened, in voxels.
 */
export function knownField(size: readonly number[]): Float32Array {
  checkGrid(size);
  const dims = size.length;
  const voxels = size.reduce((a, b) => a * b, 1);
  const [rows, columns] = size.slice(-2) as [number, number];
  const angle = (KNOWN_TURN_DEGREES * Math.PI) / 180;
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  const [cy, cx] = [(rows - 1) / 2, (columns - 1) / 2];
  const field = new Float32Array(dims * voxels);
  for (let v = 0; v < voxels; v++) {
    const x = (v % columns) - cx;
    const y = (Math.floor(v / columns) % rows) - cy;
    field[(dims - 2) * voxels + v] = sin * x + cos * y - y + KNOWN_SHIFT[0];
    field[(dims - 1) * voxels + v] = cos * x - sin * y - x + KNOWN_SHIFT[1];
  }
  return field;
}

export interface EndpointErrors {
  /** Per voxel: |predicted - true| (voxels). */
  errors: Float32Array;
  /** Mean error where the true target lies inside the grid, and how many voxels that is. */
  mean: number;
  count: number;
  /** Mean true displacement length over the same voxels. */
  meanTrue: number;
  /** Mean error over those of them on the foreground (image above `threshold`). */
  meanForeground: number;
  foregroundCount: number;
}

/**
 * Endpoint errors of `predicted` against `truth` (both (n, *size) flattened) on a grid of
 * `size` holding `image`; the background (image at or below `threshold`) holds nothing to
 * match, so the foreground mean is the telling one.
 */
export function endpointErrors(
  predicted: ArrayLike<number>,
  truth: ArrayLike<number>,
  size: readonly number[],
  image: ArrayLike<number>,
  threshold = 0.05,
): EndpointErrors {
  checkGrid(size);
  const dims = size.length;
  const voxels = size.reduce((a, b) => a * b, 1);
  const lengths: [string, number, number][] = [
    ['predicted', predicted.length, dims * voxels],
    ['truth', truth.length, dims * voxels],
    ['image', image.length, voxels],
  ];
  for (const [name, length, expected] of lengths)
    if (length !== expected)
      throw new RangeError(
        `Expected ${expected} values for ${name} (${name === 'image' ? '' : `${dims} x `}${size.join(' x ')}) but received ${length}`,
      );
  const errors = new Float32Array(voxels);
  let [errorSum, lengthSum, count, foregroundSum, foregroundCount] = [0, 0, 0, 0, 0];
  for (let v = 0; v < voxels; v++) {
    let inside = true;
    let squared = 0;
    let trueSquared = 0;
    let rest = v;
    for (let a = dims - 1; a >= 0; a--) {
      const position = (rest % size[a]!) + truth[a * voxels + v]!;
      rest = Math.floor(rest / size[a]!);
      if (position < 0 || position > size[a]! - 1) inside = false;
      squared += (predicted[a * voxels + v]! - truth[a * voxels + v]!) ** 2;
      trueSquared += truth[a * voxels + v]! ** 2;
    }
    errors[v] = Math.sqrt(squared);
    if (!inside) continue;
    errorSum += errors[v]!;
    lengthSum += Math.sqrt(trueSquared);
    count++;
    if (image[v]! > threshold) {
      foregroundSum += errors[v]!;
      foregroundCount++;
    }
  }
  const mean = (sum: number, n: number) => sum / Math.max(1, n);
  return {
    errors,
    mean: mean(errorSum, count),
    count,
    meanTrue: mean(lengthSum, count),
    meanForeground: mean(foregroundSum, foregroundCount),
    foregroundCount,
  };
}

/** A 2D or 3D grid of positive integer sides. */
function checkGrid(size: readonly number[]): void {
  if (
    !Array.isArray(size) ||
    (size.length !== 2 && size.length !== 3) ||
    !size.every((side) => Number.isInteger(side) && side > 0)
  )
    throw new RangeError(`Expected a grid size of 2 or 3 positive integers but received ${JSON.stringify(size)}`);
}
