/**
 * cover-torch: COVER self-supervised pixel-wise pretraining for 2D and 3D medical images,
 * in C++ on LibTorch, driven from TypeScript.
 */
export { info, setNumThreads, getNumThreads, type RuntimeInfo } from './runtime';
export { tensor, numel, dtypeOf, type Tensor, type TensorData, type DType, type TypedArrayByDType } from './tensor';
export * as ops from './ops';
