import { ops, tensor, type Tensor } from '../../lib';

describe('data crosses the boundary unchanged', () => {
  const cases: Array<[string, Tensor]> = [
    ['float32', tensor(new Float32Array([0, -0, 1.5, -3.25e-38, 3.4e38, Infinity, -Infinity, NaN]), [2, 4])],
    ['float64', tensor(new Float64Array([Math.PI, -Number.MAX_VALUE, Number.MIN_VALUE, NaN, 1e-300, 7]), [3, 1, 2])],
    ['int32', tensor(new Int32Array([2147483647, -2147483648, 0, 1, -1, 12345]), [6])],
    ['int64', tensor(new BigInt64Array([9223372036854775807n, -9223372036854775808n, 0n, 1n]), [2, 2])],
    ['uint8', tensor(new Uint8Array([0, 1, 127, 128, 255, 42]), [1, 2, 3])],
  ];

  it.each(cases)('%s values, shape and dtype survive a trip through LibTorch', async (_name, input) => {
    const output = await ops.roundTrip(input);
    expect(output.dtype).toBe(input.dtype);
    expect(output.shape).toEqual(input.shape);
    expect(output.data.constructor).toBe(input.data.constructor);
    expect(Object.is(output.data, input.data)).toBe(false);
    // Byte-level equality keeps NaN payloads and the sign of zero honest.
    expect(Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength)).toEqual(
      Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength),
    );
  });

  it('reads a view at a byte offset inside a larger buffer, and a SharedArrayBuffer', async () => {
    const backing = new Float64Array([100, 1, 2, 3, 4, 200]);
    const view = backing.subarray(1, 5);
    expect((await ops.roundTrip(tensor(view, [2, 2]))).data).toEqual(new Float64Array([1, 2, 3, 4]));
    const shared = new Int32Array(new SharedArrayBuffer(12));
    shared.set([7, 8, 9]);
    expect((await ops.roundTrip(tensor(shared, [3]))).data).toEqual(new Int32Array([7, 8, 9]));
  });

  it('handles empty and zero-dimensional tensors', async () => {
    const empty = await ops.roundTrip(tensor(new Float32Array(0), [3, 0, 2]));
    expect(empty.shape).toEqual([3, 0, 2]);
    expect(empty.data.length).toBe(0);
    const scalar = await ops.roundTrip(tensor(new Float64Array([2.5]), []));
    expect(scalar.shape).toEqual([]);
    expect(scalar.data).toEqual(new Float64Array([2.5]));
  });

  it('copies inputs, so changing them after the call does not change the result', async () => {
    const data = new Float32Array([1, 2, 3]);
    const pending = ops.roundTrip(tensor(data, [3]));
    data.fill(0);
    expect((await pending).data).toEqual(new Float32Array([1, 2, 3]));
  });

  it('computes in LibTorch on the values it received (sums checked against JS)', async () => {
    const values = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 201) - 100);
    const expected = values.reduce((a, b) => a + b, 0);
    expect((await ops.sum(tensor(new Float64Array(values), [10, 100]))).data[0]).toBe(expected);
    expect((await ops.sum(tensor(new Int32Array(values), [1000]))).data[0]).toBe(BigInt(expected));
    const bytes = new Uint8Array(values.map((v) => v + 100));
    const byteSum = await ops.sum(tensor(bytes, [1000]));
    expect(byteSum.dtype).toBe('int64'); // LibTorch widens integer sums, as PyTorch does
    expect(byteSum.data[0]).toBe(BigInt(expected + 100 * 1000));
  });

  it('multiplies matrices like a JS reference', async () => {
    const a = tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = tensor(new Float64Array([7, 8, 9, 10, 11, 12]), [3, 2]);
    const product = await ops.matmul(a, b);
    expect(product.shape).toEqual([2, 2]);
    expect(product.data).toEqual(new Float64Array([58, 64, 139, 154]));
  });
});
