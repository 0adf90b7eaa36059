import { callForTensor } from './native/adopt';
import { loadBinding } from './native/loadBinding';
import { assertTensor, type DType, type Tensor } from './tensor';

/**
 * Small LibTorch operations on JS tensors. Each copies its inputs into LibTorch, runs on a
 * worker thread (the event loop stays free) and resolves with a new tensor. Useful to check
 * an installation; the model API builds on the same machinery.
 */

/** Copies a tensor into LibTorch and back: the result equals the input, in new memory. */
export async function roundTrip<T extends Tensor>(tensor: T): Promise<T> {
  assertTensor(tensor, 'tensor');
  return (await callForTensor(() => loadBinding().binding.ops.roundTrip(tensor))) as T;
}

/** Sum of all elements, as a 0-d tensor (integer inputs sum to int64, like PyTorch). */
export async function sum(tensor: Tensor): Promise<Tensor> {
  assertTensor(tensor, 'tensor');
  return callForTensor(() => loadBinding().binding.ops.sum(tensor));
}

/** The tensor converted to `dtype` by LibTorch (float16 rounds to nearest even, as PyTorch does). */
export async function cast<D extends DType>(tensor: Tensor, dtype: D): Promise<Tensor<D>> {
  assertTensor(tensor, 'tensor');
  return (await callForTensor(() => loadBinding().binding.ops.cast(tensor, dtype))) as Tensor<D>;
}

/** Matrix product with PyTorch's `matmul` broadcasting rules. */
export async function matmul(a: Tensor, b: Tensor): Promise<Tensor> {
  assertTensor(a, 'a');
  assertTensor(b, 'b');
  return callForTensor(() => loadBinding().binding.ops.matmul(a, b));
}
