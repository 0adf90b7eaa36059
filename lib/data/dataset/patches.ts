/**
 * Array helpers for patch sampling, on row-major Float32Arrays (last axis fastest).
 * Volumes are [D, H, W] in the canonical orientation of the readers (W towards Right,
 * H towards Anterior, D towards Superior), so the slice axes have their anatomical names.
 */

export const SLICE_AXES = { axial: 0, coronal: 1, sagittal: 2 } as const;
export type SliceAxis = keyof typeof SLICE_AXES;

/** The 2D slice `index` across `axis` of a [D, H, W] volume: axial [H, W], coronal [D, W], sagittal [D, H]. */
export function takeSlice(
  data: Float32Array,
  shape: readonly number[],
  axis: 0 | 1 | 2,
  index: number,
): { data: Float32Array; shape: number[] } {
  const [depth, height, width] = shape as [number, number, number];
  // An axial plane is contiguous: a view, not a copy (callers only read it).
  if (axis === 0)
    return { data: data.subarray(index * height * width, (index + 1) * height * width), shape: [height, width] };
  if (axis === 1) {
    const out = new Float32Array(depth * width);
    for (let z = 0; z < depth; z++)
      out.set(data.subarray((z * height + index) * width, (z * height + index + 1) * width), z * width);
    return { data: out, shape: [depth, width] };
  }
  const out = new Float32Array(depth * height);
  for (let z = 0; z < depth; z++) {
    for (let y = 0; y < height; y++) out[z * height + y] = data[(z * height + y) * width + index]!;
  }
  return { data: out, shape: [depth, height] };
}

/**
 * Copies the box of `size` at `start` (per axis; it may reach outside the array, where the
 * patch is zero) from a 2D or 3D array into `out` at `offset`. Rows are copied whole.
 */
export function cropInto(
  data: Float32Array,
  shape: readonly number[],
  start: readonly number[],
  size: readonly number[],
  out: Float32Array,
  offset: number,
): void {
  // Treat 2D as 3D with one plane, so one loop serves both.
  const [depth, height, width] = shape.length === 2 ? [1, shape[0]!, shape[1]!] : (shape as [number, number, number]);
  const [z0, y0, x0] = start.length === 2 ? [0, start[0]!, start[1]!] : (start as [number, number, number]);
  const [sd, sh, sw] = size.length === 2 ? [1, size[0]!, size[1]!] : (size as [number, number, number]);
  out.fill(0, offset, offset + sd * sh * sw);
  const xFrom = Math.max(0, x0);
  const xTo = Math.min(width, x0 + sw);
  if (xFrom >= xTo) return;
  for (let z = 0; z < sd; z++) {
    const sz = z0 + z;
    if (sz < 0 || sz >= depth) continue;
    for (let y = 0; y < sh; y++) {
      const sy = y0 + y;
      if (sy < 0 || sy >= height) continue;
      const row = (sz * height + sy) * width;
      out.set(data.subarray(row + xFrom, row + xTo), offset + (z * sh + y) * sw + (xFrom - x0));
    }
  }
}

/** Share of the `count` values from `offset` that exceed `threshold`. */
export function foregroundShare(values: Float32Array, offset: number, count: number, threshold = 0.05): number {
  let above = 0;
  for (let i = offset; i < offset + count; i++) if (values[i]! > threshold) above++;
  return above / count;
}
