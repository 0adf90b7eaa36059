/**
 * Boxes of row-major grids stored as `planes` consecutive grids (batch x channels): copy a
 * box out (zeros where it leaves the grid, which also pads), or add a weighted box in.
 */

/** Strides of a row-major array of shape `shape`. */
export function strides(shape: readonly number[]): number[] {
  const result = Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; --i) result[i] = result[i + 1]! * shape[i + 1]!;
  return result;
}

/**
 * Calls `row(gridOffset, boxOffset, length)` for each row (along the last axis) of the box
 * `origin`..`origin + box` of a row-major grid of `grid` voxels, clipped to the grid.
 */
function forEachBoxRow(
  grid: readonly number[],
  box: readonly number[],
  origin: readonly number[],
  row: (gridOffset: number, boxOffset: number, length: number) => void,
): void {
  const last = box.length - 1;
  const gridStrides = strides(grid);
  const length = Math.min(box[last]!, grid[last]! - origin[last]!);
  if (length <= 0) return;
  const rows = box.reduce((a, b) => a * b, 1) / box[last]!;
  for (let r = 0; r < rows; ++r) {
    let rest = r;
    let gridOffset = origin[last]!;
    let inside = true;
    for (let axis = last - 1; axis >= 0; --axis) {
      const position = origin[axis]! + (rest % box[axis]!);
      rest = Math.floor(rest / box[axis]!);
      if (position >= grid[axis]!) inside = false;
      gridOffset += position * gridStrides[axis]!;
    }
    if (inside) row(gridOffset, r * box[last]!, length);
  }
}

/** Copies the box at `origin` of each of `planes` grids in `source` into `target` (zeros stay where the box leaves the grid). */
export function gatherBox(
  source: Float32Array,
  grid: readonly number[],
  target: Float32Array,
  box: readonly number[],
  origin: readonly number[],
  planes: number,
): void {
  const gridPlane = grid.reduce((a, b) => a * b, 1);
  const boxPlane = box.reduce((a, b) => a * b, 1);
  forEachBoxRow(grid, box, origin, (gridOffset, boxOffset, length) => {
    for (let p = 0; p < planes; ++p) {
      const from = p * gridPlane + gridOffset;
      target.set(source.subarray(from, from + length), p * boxPlane + boxOffset);
    }
  });
}

/** Adds `box` (each of `planes` planes, times `weight` when given: one value per box voxel) into `target` at `origin`. */
export function addBox(
  target: Float32Array,
  grid: readonly number[],
  box: Float32Array,
  boxSize: readonly number[],
  origin: readonly number[],
  planes: number,
  weight?: Float32Array,
): void {
  const gridPlane = grid.reduce((a, b) => a * b, 1);
  const boxPlane = boxSize.reduce((a, b) => a * b, 1);
  forEachBoxRow(grid, boxSize, origin, (gridOffset, boxOffset, length) => {
    for (let p = 0; p < planes; ++p) {
      const t = p * gridPlane + gridOffset;
      const b = p * boxPlane + boxOffset;
      if (weight) for (let i = 0; i < length; ++i) target[t + i]! += box[b + i]! * weight[boxOffset + i]!;
      else for (let i = 0; i < length; ++i) target[t + i]! += box[b + i]!;
    }
  });
}
