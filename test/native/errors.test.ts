import { ops, tensor } from '../../lib';
import { loadBinding } from '../../lib/native/loadBinding';

describe('errors reach JS as catchable Errors', () => {
  it('turns a LibTorch shape error into a readable Error, and keeps working afterwards', async () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const error = await ops.matmul(a, a).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toBe('mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)');
    expect(message).not.toMatch(/frame #|Exception raised from|\.cpp/);

    const b = tensor(new Float32Array([1, 1, 1]), [3, 1]);
    const ok = await ops.matmul(tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]), b);
    expect(ok.data).toEqual(new Float32Array([6, 15]));
  });

  it('rejects bad arguments in the public API with name, expectation and received value', async () => {
    await expect(ops.sum(undefined as never)).rejects.toThrow(
      new TypeError('Expected a tensor object { dtype, shape, data } for tensor but received undefined'),
    );
    await expect(ops.sum({ dtype: 'bfloat16', shape: [1], data: new Float32Array(1) } as never)).rejects.toThrow(
      /Expected one of float32, float64, int32, int64, uint8, float16 for tensor.dtype but received "bfloat16"/,
    );
    await expect(ops.sum({ dtype: 'float32', shape: [1], data: new Float64Array(1) } as never)).rejects.toThrow(
      'Expected a Float32Array (dtype float32) for tensor.data but received a Float64Array',
    );
    await expect(
      ops.matmul(tensor(new Float32Array(1), [1]), { dtype: 'int32', shape: [-2], data: new Int32Array(2) }),
    ).rejects.toThrow(new RangeError('Expected a non-negative integer for b.shape[0] but received -2 of type number'));
  });

  // The raw addon's errors come from the realm it was loaded in, so they are checked by name.
  it('makes the raw addon itself throw TypeErrors, never abort, on malformed input', () => {
    const { ops: raw } = loadBinding().binding;
    const bad: unknown[] = [
      undefined,
      42,
      [],
      { dtype: 'float32', shape: [2], data: [1, 2] },
      { dtype: 'float32', shape: [-1], data: new Float32Array(1) },
      { dtype: 'float32', shape: [1.5], data: new Float32Array(1) },
      { dtype: 'float32', shape: 'abc', data: new Float32Array(1) },
      { dtype: 'float32', shape: [3], data: new Float32Array(2) },
      { dtype: 'int64', shape: [1], data: new Int32Array(1) },
      { dtype: 'complex', shape: [1], data: new Float32Array(1) },
      { dtype: 'float32', shape: [2 ** 40, 2 ** 40], data: new Float32Array(1) },
    ];
    for (const value of bad) {
      expect(() => raw.sum(value as never)).toThrow(expect.objectContaining({ name: 'TypeError' }));
    }
    expect(() => raw.sum({ dtype: 'float32', shape: [3], data: new Float32Array(2) } as never)).toThrow(
      'Expected 3 elements in tensor.data for its shape but received 2',
    );
  });
});
