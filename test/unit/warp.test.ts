import { tensor, warp } from '../../lib';

/** A field of one constant displacement per axis over a (1, n, *S) grid. */
function constantField(size: number[], shift: number[]) {
  const plane = size.reduce((a, b) => a * b, 1);
  const data = new Float32Array(shift.length * plane);
  shift.forEach((s, axis) => data.fill(s, axis * plane, (axis + 1) * plane));
  return tensor<'float32'>(data, [1, shift.length, ...size]);
}

describe('warp', () => {
  const ramp = tensor<'float32'>(
    Float32Array.from({ length: 4 * 5 }, (_, i) => i),
    [1, 1, 4, 5],
  ); // value = 5 y + x

  it('is the identity for a zero field and exact for integer shifts, zeros coming in from outside', () => {
    expect(Array.from(warp(ramp, constantField([4, 5], [0, 0])).data)).toEqual(Array.from(ramp.data));
    const shifted = warp(ramp, constantField([4, 5], [1, -2])).data; // out(y, x) = in(y + 1, x - 2)
    expect(Array.from(shifted.subarray(0, 5))).toEqual([0, 0, 5, 6, 7]);
    expect(Array.from(shifted.subarray(15, 20))).toEqual([0, 0, 0, 0, 0]);
  });

  it('interpolates linearly between voxel centres (align_corners = true)', () => {
    // A linear ramp is reproduced exactly inside the grid: out(y, x) = 5 (y + 0.25) + (x + 0.5).
    const out = warp(ramp, constantField([4, 5], [0.25, 0.5])).data;
    expect(out[5 * 1 + 2]).toBeCloseTo(5 * 1.25 + 2.5, 5);
    // Half a voxel beyond the last column blends with zero outside.
    expect(out[4]).toBeCloseTo(0.75 * (0.5 * 4) + 0.25 * (0.5 * 9), 5);
  });

  it('carries labels with nearest, in 3D, keeping the dtype', () => {
    const labels = tensor<'uint8'>(
      Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i % 7),
      [1, 1, 2, 3, 4],
    );
    const out = warp(labels, constantField([2, 3, 4], [0.4, 0.6, -0.4]), { mode: 'nearest' });
    expect(out.dtype).toBe('uint8');
    // Voxel (0, 0, 1) reads (0.4, 0.6, 0.6) -> (0, 1, 1), index 5.
    expect(out.data[1]).toBe(5 % 7);
    expect(() => warp(labels, constantField([2, 3, 4], [0, 0, 0]))).toThrow(/use mode 'nearest' for uint8 labels/);
  });

  it('refuses a field that does not match the image, malformed tensors and unknown options', () => {
    expect(() => warp(ramp, constantField([4, 4], [0, 0]))).toThrow(
      'Expected a float32 field of shape [1, 2, 4, 5] but received float32 [1, 2, 4, 4]',
    );
    const short = { ...constantField([4, 5], [0, 0]), data: new Float32Array(3) };
    expect(() => warp(ramp, short)).toThrow('Expected 40 elements in field.data for shape [1, 2, 4, 5] but received 3');
    expect(() => warp(ramp, constantField([4, 5], [0, 0]), { mdoe: 'nearest' } as never)).toThrow(
      'Unknown option "mdoe" for warp; did you mean "mode"?',
    );
    const int64 = tensor(new BigInt64Array(20), [1, 1, 4, 5]);
    expect(() => warp(int64 as never, constantField([4, 5], [0, 0]), { mode: 'nearest' })).toThrow(
      'Expected a float32, uint8 or int32 image for warp but received int64',
    );
  });
});
