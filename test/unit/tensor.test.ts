import { tensor, dtypeOf, numel, type Tensor } from '../../lib/tensor';

describe('tensor', () => {
  it('infers the dtype from the array type', () => {
    expect(tensor(new Float32Array(6), [2, 3]).dtype).toBe('float32');
    expect(tensor(new Float64Array(1), []).dtype).toBe('float64');
    expect(tensor(new Int32Array(0), [0, 4]).dtype).toBe('int32');
    expect(tensor(new BigInt64Array(2), [2]).dtype).toBe('int64');
    expect(tensor(new Uint8Array(4), [2, 2]).dtype).toBe('uint8');
    expect(dtypeOf(new Int16Array(1))).toBeUndefined();
    // The type follows too, so a tensor made here is typed for functions that take one dtype.
    const typed: [Tensor<'float32'>, Tensor<'int64'>, Tensor<'float16'>] = [
      tensor(new Float32Array(1), [1]),
      tensor(new BigInt64Array(1), [1]),
      tensor(new Uint16Array(1), [1]),
    ];
    expect(typed.map((t) => t.dtype)).toEqual(['float32', 'int64', 'float16']);
    expect(numel([2, 3, 4])).toBe(24);
    expect(numel([])).toBe(1);
  });

  it('rejects unsupported arrays, bad dimensions and mismatched lengths with clear messages', () => {
    expect(() => tensor(new Int16Array(2) as never, [2])).toThrow(
      new TypeError(
        'Expected a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array (float16 bits) for data but received a Int16Array',
      ),
    );
    expect(() => tensor(new Float32Array(2), [-1, -2])).toThrow(
      new RangeError('Expected a non-negative integer for tensor.shape[0] but received -1 of type number'),
    );
    expect(() => tensor(new Float32Array(2), [1.5])).toThrow(RangeError);
    expect(() => tensor(new Float32Array(2), ['2' as never])).toThrow(
      new TypeError('Expected a non-negative integer for tensor.shape[0] but received "2" of type string'),
    );
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(
      new RangeError('Expected 6 elements in tensor.data for shape [2, 3] but received 5'),
    );
  });
});
