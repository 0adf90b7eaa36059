import { DTYPES, type DType, type RawTensor, type TypedArrayByDType } from './native/binding';
import { rangeError, typeError } from './errors';

export type { DType, TypedArrayByDType } from './native/binding';

/**
 * A dense, contiguous tensor in JS memory: row-major `data` with `shape`.
 * `int64` data is a BigInt64Array. Tensors cross into LibTorch by copy.
 */
export type Tensor<D extends DType = DType> = RawTensor<D>;

/** Any TypedArray that can hold tensor data. */
export type TensorData = TypedArrayByDType[DType];

const DTYPE_NAMES = Object.keys(DTYPES) as DType[];
const DTYPE_OF_ARRAY = new Map<string, DType>(DTYPE_NAMES.map((dtype) => [DTYPES[dtype].array.name, dtype]));

/** The dtype that a TypedArray holds, or undefined for unsupported arrays. */
export function dtypeOf(data: unknown): DType | undefined {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) return undefined;
  return DTYPE_OF_ARRAY.get(Object.prototype.toString.call(data).slice(8, -1));
}

/**
 * Makes a tensor from a TypedArray and a shape; the dtype follows from the array type
 * (Float32Array float32, Float64Array float64, Int32Array int32, BigInt64Array int64,
 * Uint8Array uint8, Uint16Array float16: half-precision bits, see lib/float16).
 * @throws TypeError for an unsupported array, RangeError for a bad shape or length.
 */
export function tensor(data: Float32Array, shape: readonly number[]): Tensor<'float32'>;
export function tensor(data: Float64Array, shape: readonly number[]): Tensor<'float64'>;
export function tensor(data: Int32Array, shape: readonly number[]): Tensor<'int32'>;
export function tensor(data: BigInt64Array, shape: readonly number[]): Tensor<'int64'>;
export function tensor(data: Uint8Array, shape: readonly number[]): Tensor<'uint8'>;
export function tensor(data: Uint16Array, shape: readonly number[]): Tensor<'float16'>;
export function tensor<D extends DType>(data: TypedArrayByDType[D], shape: readonly number[]): Tensor<D>;
export function tensor<D extends DType>(data: TypedArrayByDType[D], shape: readonly number[]): Tensor<D> {
  const dtype = dtypeOf(data);
  if (dtype === undefined) {
    throw typeError(
      'data',
      'a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array (float16 bits)',
      data,
    );
  }
  const made = { dtype, shape: [...shape], data } as unknown as Tensor<D>;
  assertTensor(made, 'tensor');
  return made;
}

/** Number of elements a shape holds. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/**
 * Checks that `value` is a well-formed tensor object, naming `name` in any error.
 * @throws TypeError or RangeError that says what was wrong and what was expected.
 */
export function assertTensor(value: unknown, name: string): asserts value is Tensor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(name, 'a tensor object { dtype, shape, data }', value);
  }
  const { dtype, shape, data } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
    throw typeError(`${name}.dtype`, `one of ${DTYPE_NAMES.join(', ')}`, dtype);
  }
  if (!Array.isArray(shape)) throw typeError(`${name}.shape`, 'an array of dimensions', shape);
  shape.forEach((dim: unknown, i) => {
    if (typeof dim !== 'number') throw typeError(`${name}.shape[${i}]`, 'a non-negative integer', dim);
    if (!Number.isSafeInteger(dim) || dim < 0) throw rangeError(`${name}.shape[${i}]`, 'a non-negative integer', dim);
  });
  const expectedArray = DTYPES[dtype as DType].array.name;
  if (dtypeOf(data) !== dtype) throw typeError(`${name}.data`, `a ${expectedArray} (dtype ${dtype})`, data);
  const length = (data as TensorData).length;
  const expected = numel(shape as number[]);
  if (length !== expected) {
    const shapeText = `[${(shape as number[]).join(', ')}]`;
    throw new RangeError(`Expected ${expected} elements in ${name}.data for shape ${shapeText} but received ${length}`);
  }
}
