import { ImageReadError, type ImageVolume } from './ImageVolume';

/**
 * Puts a volume into the closest RAS+ orientation by permuting and flipping array axes only
 * (no interpolation), as nibabel's `as_closest_canonical` does: after it, the last array axis
 * (W, voxel x) runs towards Right, H (voxel y) towards Anterior and D (voxel z) towards
 * Superior, and the affine is rewritten so that every voxel keeps its world position.
 * NIfTI and DICOM readers both go through here, so a model sees one orientation whatever the
 * scanner or converter wrote.
 */

/** A voxel grid as stored in a file: voxel (i, j, k) at data[i + nx * (j + ny * k)]. */
export interface VoxelGrid {
  data: Float32Array;
  /** [nx, ny, nz]: voxel counts along i, j, k. */
  size: [number, number, number];
  /** [dx, dy, dz]: voxel size in mm along i, j, k. */
  spacing: [number, number, number];
  /** 4x4 row-major matrix from (i, j, k, 1) to RAS+ mm. */
  affine: number[];
}

/** For each world axis (R, A, S): the voxel axis that runs closest to it, and whether it runs the other way. */
export interface AxisMapping {
  /** axis[w] = voxel axis (0 = i, 1 = j, 2 = k) closest to world axis w. */
  axis: [number, number, number];
  /** flip[w] = true when that voxel axis points to L, P or I rather than R, A or S. */
  flip: [boolean, boolean, boolean];
}

/**
 * Which voxel axis is closest to each world axis. Greedy on the largest absolute direction
 * cosine first, so an oblique acquisition is assigned by its dominant direction. Throws a
 * RangeError for a singular matrix (a zero or repeated direction).
 */
export function closestAxes(affine: readonly number[]): AxisMapping {
  const cosines: number[][] = [[], [], []];
  for (let v = 0; v < 3; v++) {
    const norm = Math.hypot(affine[v]!, affine[4 + v]!, affine[8 + v]!);
    if (!(norm > 0) || !Number.isFinite(norm)) {
      throw new RangeError(`Expected a voxel-to-world matrix with a non-zero direction for voxel axis ${v}`);
    }
    for (let w = 0; w < 3; w++) cosines[w]![v] = affine[w * 4 + v]! / norm;
  }
  const axis: [number, number, number] = [-1, -1, -1];
  const flip: [boolean, boolean, boolean] = [false, false, false];
  const usedVoxelAxes = new Set<number>();
  for (let step = 0; step < 3; step++) {
    let best = -1;
    let bestW = -1;
    let bestV = -1;
    for (let w = 0; w < 3; w++) {
      if (axis[w] !== -1) continue;
      for (let v = 0; v < 3; v++) {
        if (usedVoxelAxes.has(v)) continue;
        const magnitude = Math.abs(cosines[w]![v]!);
        if (magnitude > best) [best, bestW, bestV] = [magnitude, w, v];
      }
    }
    if (!(best > 1e-6)) throw new RangeError('Expected a voxel-to-world matrix whose three voxel axes are independent');
    axis[bestW] = bestV;
    flip[bestW] = cosines[bestW]![bestV]! < 0;
    usedVoxelAxes.add(bestV);
  }
  return { axis, flip };
}

/** nibabel-style axis codes of an affine, e.g. 'RAS' or 'LPS': where voxel axes i, j, k point. */
export function axisCodes(affine: readonly number[]): string {
  const { axis, flip } = closestAxes(affine);
  const codes = ['', '', ''];
  for (let w = 0; w < 3; w++) codes[axis[w]!] = flip[w] ? 'LPI'[w]! : 'RAS'[w]!;
  return codes.join('');
}

/**
 * Returns the grid as an ImageVolume of shape [D, H, W] in the closest RAS+ orientation, with
 * spacing [dz, dy, dx] of the new axes and the affine of the new array. When the grid is
 * already RAS+ the data array is reused, not copied.
 */
export function toClosestCanonical(grid: VoxelGrid, source: string): ImageVolume {
  const [nx, ny, nz] = grid.size;
  if (grid.data.length !== nx * ny * nz) {
    throw new RangeError(
      `Expected ${nx * ny * nz} voxels for a ${nx}x${ny}x${nz} grid but received ${grid.data.length}`,
    );
  }
  const gridAffine = completeSingleSliceAxis(grid);
  let mapping: AxisMapping;
  try {
    mapping = closestAxes(gridAffine);
  } catch (error) {
    throw new ImageReadError(
      source,
      `the voxel-to-world matrix [${grid.affine.slice(0, 12).join(', ')}] is singular, expected three independent axes`,
      { cause: error },
    );
  }
  const { axis, flip } = mapping;
  const oldStrides = [1, nx, nx * ny];
  const newSize = axis.map((v) => grid.size[v]!) as [number, number, number];

  // transform[v] gives old index v from new index n: old_v = flipped ? size_v - 1 - n_w : n_w.
  // As a matrix T (4x4, new -> old homogeneous index), newAffine = affine · T.
  const t = new Array<number>(16).fill(0);
  t[15] = 1;
  let start = 0;
  const steps = [0, 0, 0];
  for (let w = 0; w < 3; w++) {
    const v = axis[w]!;
    const last = grid.size[v]! - 1;
    t[v * 4 + w] = flip[w] ? -1 : 1;
    t[v * 4 + 3] = flip[w] ? last : 0;
    start += flip[w] ? last * oldStrides[v]! : 0;
    steps[w] = (flip[w] ? -1 : 1) * oldStrides[v]!;
  }
  const affine = multiply4(gridAffine, t);
  const spacing = [grid.spacing[axis[2]]!, grid.spacing[axis[1]]!, grid.spacing[axis[0]]!];
  const shape = [newSize[2], newSize[1], newSize[0]];

  const identity = axis[0] === 0 && axis[1] === 1 && axis[2] === 2 && !flip[0] && !flip[1] && !flip[2];
  if (identity) return { data: grid.data, shape, spacing, affine, source };

  const data = new Float32Array(grid.data.length);
  const [stepX, stepY, stepZ] = steps as [number, number, number];
  const [mx, my, mz] = newSize;
  let out = 0;
  for (let z = 0; z < mz; z++) {
    for (let y = 0; y < my; y++) {
      let from = start + z * stepZ + y * stepY;
      for (let x = 0; x < mx; x++, from += stepX) data[out++] = grid.data[from]!;
    }
  }
  return { data, shape, spacing, affine, source };
}

/**
 * A 2D image stored as a volume often has an all-zero direction for its one-slice axis (an
 * sform row written as 0 0 0 0). Any direction works for a single slice; the cross product of
 * the other two, scaled by the voxel size, keeps the matrix invertible.
 */
function completeSingleSliceAxis(grid: VoxelGrid): number[] {
  const a = grid.affine;
  const column = (v: number) => [a[v]!, a[4 + v]!, a[8 + v]!];
  const isZero = (v: number) => column(v).every((x) => x === 0);
  const missing = [0, 1, 2].filter(isZero);
  if (missing.length !== 1 || grid.size[missing[0]!] !== 1) return [...a];
  const v = missing[0]!;
  const [p, q] = [(v + 1) % 3, (v + 2) % 3].map(column) as [number[], number[]];
  const normal = [p[1]! * q[2]! - p[2]! * q[1]!, p[2]! * q[0]! - p[0]! * q[2]!, p[0]! * q[1]! - p[1]! * q[0]!];
  const length = Math.hypot(normal[0]!, normal[1]!, normal[2]!);
  if (!(length > 0)) return [...a];
  const completed = [...a];
  for (let r = 0; r < 3; r++) completed[r * 4 + v] = (normal[r]! / length) * grid.spacing[v]!;
  return completed;
}

/** 4x4 row-major product a · b. */
export function multiply4(a: readonly number[], b: readonly number[]): number[] {
  const result = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += a[r * 4 + k]! * b[k * 4 + c]!;
      result[r * 4 + c] = sum;
    }
  }
  return result;
}
