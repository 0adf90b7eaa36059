import { tensor, type Tensor } from '../tensor';

/**
 * The name PyTorch's module of the method gives the MoV window's offsets: a buffer that is
 * not a weight (every model of the same dims and radius has the same), but a strict
 * `load_state_dict` wants it.
 */
export const WINDOW_GRID = 'mov.grid';

/** The window's offsets (2r+1, ..., 2r+1, n): entry [i, j(, k)] is (i - r, j - r(, k - r)). */
export function windowGrid(dims: 2 | 3, radius: number): Tensor<'float32'> {
  const side = 2 * radius + 1;
  const cells = side ** dims;
  const values = new Float32Array(cells * dims);
  for (let cell = 0; cell < cells; cell++) {
    let rest = cell;
    for (let axis = dims - 1; axis >= 0; axis--) {
      values[cell * dims + axis] = (rest % side) - radius;
      rest = Math.floor(rest / side);
    }
  }
  return tensor(values, [...Array<number>(dims).fill(side), dims]);
}

/**
 * `tensors` without the window grid, which must equal {@link windowGrid} when present (a
 * file of another radius or dims would otherwise load into the wrong window silently).
 */
export function withoutWindowGrid(
  tensors: Record<string, Tensor>,
  dims: 2 | 3,
  radius: number,
): Record<string, Tensor> {
  const given = tensors[WINDOW_GRID];
  if (!given) return tensors;
  if (given.dtype !== 'float32')
    throw new TypeError(
      `"${WINDOW_GRID}" is ${given.dtype}; expected float32 weights (a file saved in half or double precision?)`,
    );
  const expected = windowGrid(dims, radius);
  const same =
    given.shape.join() === expected.shape.join() && expected.data.every((value, i) => given.data[i] === value);
  if (!same)
    throw new RangeError(
      `"${WINDOW_GRID}" of shape [${given.shape.join(', ')}] is not the window of this model (radius ${radius}, ${dims}D: offsets -${radius}..${radius} per axis, shape [${expected.shape.join(', ')}])`,
    );
  const rest = { ...tensors };
  delete rest[WINDOW_GRID];
  return rest;
}
