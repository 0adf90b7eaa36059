/**
 * The raw addon, typed. Only lib/ talks to it; public functions validate their arguments
 * before they get here, and the addon only converts types (TypeError on a mismatch).
 */

/** Element types that cross the JS boundary. */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';

/** The TypedArray that holds each dtype. */
export interface TypedArrayByDType {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
}

/** A tensor as the addon reads and writes it: a contiguous TypedArray plus its shape. */
export interface RawTensor<D extends DType = DType> {
  dtype: D;
  shape: readonly number[];
  data: TypedArrayByDType[D];
}

/** What the addon reports about the LibTorch it runs on. */
export interface RawRuntimeInfo {
  addonVersion: string;
  napiVersion: number;
  torchVersion: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDeviceNames: string[];
  numThreads: number;
  numInteropThreads: number;
  parallelBackend: string;
  libtorchPath: string;
  loadedTorchLibraries: string[];
}

export interface Binding {
  info(): RawRuntimeInfo;
  getNumThreads(): number;
  setNumThreads(numThreads: number): void;
  setDefaultNumThreadsOnce(numThreads: number): void;
  ops: {
    roundTrip(tensor: RawTensor): Promise<RawTensor>;
    sum(tensor: RawTensor): Promise<RawTensor>;
    matmul(a: RawTensor, b: RawTensor): Promise<RawTensor>;
  };
}
