import { TYPED_ARRAY_CONSTRUCTORS, type DType, type RawTensor } from './binding';
import { DISPOSED_MESSAGE, DisposedError } from './disposedError';

/**
 * Values made by the addon belong to the JS realm the addon was first loaded in. Code in
 * another realm (a vm context, each jest test file) would see `instanceof Error` and
 * `instanceof Float32Array` fail on them, so lib/ re-expresses them in its own realm: errors
 * are re-created (message kept) and TypedArrays re-viewed (no copy).
 */

/** The same tensor, with its shape and data expressed in this realm. */
export function adoptTensor<D extends DType>(raw: RawTensor<D>): RawTensor<D> {
  const Constructor = TYPED_ARRAY_CONSTRUCTORS[raw.dtype];
  if (raw.data instanceof Constructor) return raw;
  const { buffer, byteOffset, length } = raw.data;
  return { dtype: raw.dtype, shape: [...raw.shape], data: new Constructor(buffer, byteOffset, length) };
}

/** The same error as an instance of this realm's Error, TypeError or RangeError. */
export function adoptError(error: unknown): unknown {
  // A call that reached the model after dispose() (the second of a job's calls) is refused
  // natively; it is the same DisposedError as a call refused here.
  if ((error as { message?: unknown } | null)?.message === DISPOSED_MESSAGE) return new DisposedError();
  if (error instanceof Error || typeof error !== 'object' || error === null) return error;
  const { name, message } = error as { name?: unknown; message?: unknown };
  if (typeof message !== 'string') return error;
  const Constructor = name === 'TypeError' ? TypeError : name === 'RangeError' ? RangeError : Error;
  return new Constructor(message);
}

/** Awaits a native call, adopting its error. */
export async function callNative<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw adoptError(error);
  }
}

/** Awaits a native call, adopting its tensor result or its error. */
export async function callForTensor<D extends DType>(call: () => Promise<RawTensor<D>>): Promise<RawTensor<D>> {
  try {
    return adoptTensor(await call());
  } catch (error) {
    throw adoptError(error);
  }
}

/** Runs a synchronous native call, adopting its error. */
export function callSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw adoptError(error);
  }
}
