/**
 * The raw addon, typed. Only lib/ talks to it; public functions validate their arguments
 * before they get here, and the addon only converts types (TypeError on a mismatch).
 */

/**
 * The element types that cross the JS boundary: each one's TypedArray and its safetensors
 * code. The one table of dtypes in lib/ (native/addon/tensor_convert.cpp maps the same
 * names to LibTorch's scalar types; test/native/roundTrip.test.ts crosses each).
 */
export const DTYPES = {
  float32: { array: Float32Array, safetensors: 'F32' },
  float64: { array: Float64Array, safetensors: 'F64' },
  int32: { array: Int32Array, safetensors: 'I32' },
  int64: { array: BigInt64Array, safetensors: 'I64' },
  uint8: { array: Uint8Array, safetensors: 'U8' },
  /** IEEE half precision, held as its 16 bits (Node 20 has no Float16Array). */
  float16: { array: Uint16Array, safetensors: 'F16' },
} as const;

/** Element types that cross the JS boundary. */
export type DType = keyof typeof DTYPES;

/** The TypedArray that holds each dtype (over any ArrayBuffer, shared ones included). */
export interface TypedArrayByDType {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  float16: Uint16Array;
}

/** The TypedArray constructor of each dtype (this realm's). */
export const TYPED_ARRAY_CONSTRUCTORS = Object.fromEntries(
  Object.entries(DTYPES).map(([dtype, { array }]) => [dtype, array]),
) as unknown as {
  [D in DType]: {
    new (buffer: ArrayBufferLike, offset: number, length: number): TypedArrayByDType[D];
    BYTES_PER_ELEMENT: number;
  };
};

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

/** Model options as the addon reads them (already validated by lib/). */
export interface RawModelOptions {
  dims: number;
  inChannels?: number;
  channels?: number[];
  headDim?: number;
  heads?: number[];
  radius?: number;
  seed?: number;
  /** 'cpu', 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
}

/** Training options as the addon reads them (already validated by lib/). */
export interface RawTrainOptions {
  gradClip?: number;
  consistencyWeight?: number;
  consistencyWarmupSteps?: number;
  consistencyFeatures?: string;
  recompute?: boolean;
  mixedPrecision?: string;
  phaseTimings?: boolean;
  seed?: number;
  views?: Record<string, number | boolean | number[]>;
  optimizer?: Record<string, number | boolean | string>;
}

export interface RawStepMetrics {
  /** L_vec: mean absolute error of the predicted displacement over valid voxels, voxels per axis summed. */
  vectorLoss: number;
  /** L_con: 1 - mean cosine between F1 and the warped M1 over valid voxels. */
  consistencyLoss: number;
  /** L_vec + lambda * L_con, the loss that was minimised. */
  totalLoss: number;
  /** L_vec of predicting no motion for the same views: learning shows as vectorLoss well below it. */
  zeroBaseline: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Share of valid voxels whose true displacement the network can reach (31 r voxels per axis). */
  reachableFraction: number;
  /** Share of voxels whose displaced position lies inside the crop (the mask of both losses). */
  validFraction: number;
  /** Share of F1's energy that varies across positions: near 0 means the features collapsed. */
  featureVariation: number;
  /** Learning rate this step used. */
  learningRate: number;
  /** lambda this step used (after consistencyWarmupSteps). */
  consistencyWeight: number;
  /** The loss or gradient was not finite, so the step made no update. */
  skipped: boolean;
  /** LibTorch intra-op threads the step ran with, read on the thread that ran it. */
  threads: number;
  /**
   * Wall time of the step's parts and of the whole step, ms, measured on the native thread;
   * the parts are NaN on a GPU unless `phaseTimings` is on, and there the step's time ends
   * once its metrics are read back (the optimiser's update may still be running).
   */
  timings: { viewsMs: number; forwardMs: number; backwardMs: number; optimizerMs: number; stepMs: number };
}

/** Fine-tuning options as the addon reads them (already validated by lib/). */
export interface RawSegmentationOptions {
  classes: number;
  classWeights?: number[];
  ignoreLabel?: number;
  freezeEncoder?: boolean;
  diceWeight?: number;
  gradClip?: number;
  optimizer?: Record<string, number | boolean | string>;
}

export interface RawSegmentationMetrics {
  /** CE + diceWeight * (1 - Dice), the loss that was minimised. */
  loss: number;
  /** Class-weighted cross-entropy over the non-ignored voxels. */
  crossEntropy: number;
  /** 1 - class-weighted mean soft Dice over the batch. */
  diceLoss: number;
  /** Global gradient norm before clipping, over the parameters that learn. */
  gradNorm: number;
  learningRate: number;
  /** The loss or gradient was not finite, so the step made no update. */
  skipped: boolean;
  /** LibTorch intra-op threads the step ran with. */
  threads: number;
  stepMs: number;
}

export interface RawForwardOutput {
  displacement: RawTensor;
  movingFeatures: RawTensor;
  fixedFeatures: RawTensor;
}

export interface RawTrainingState {
  optimizer: Record<string, RawTensor>;
  generator: RawTensor;
  steps: number;
}

/**
 * A model whose calls run in order on its own native thread. `new Model(options)` only
 * starts that thread; `build()` creates the network there.
 */
export interface RawModel {
  build(): Promise<{ parameterCount: number; device: string }>;
  forward(moving: RawTensor, fixed: RawTensor): Promise<RawForwardOutput>;
  encode(images: RawTensor, fullResolution: boolean): Promise<RawTensor[]>;
  /** Queued like the other calls; a failure also makes later trainer calls reject. */
  configureTraining(options: RawTrainOptions): Promise<void>;
  trainStep(images: RawTensor, learningRate: number): Promise<RawStepMetrics>;
  stateDict(): Promise<Record<string, RawTensor>>;
  loadStateDict(tensors: Record<string, RawTensor>): Promise<void>;
  trainingState(): Promise<RawTrainingState>;
  loadTrainingState(state: RawTrainingState): Promise<void>;
  /** No more calls; resolves when the earlier ones have settled. */
  dispose(): Promise<void>;
  /** A new 1x1 class head on F1 (replaces any earlier head and its trainer). */
  createSegmentationHead(classes: number, seed?: number): Promise<void>;
  configureSegmentation(options: RawSegmentationOptions): Promise<void>;
  segmentationStep(images: RawTensor, labels: RawTensor, learningRate: number): Promise<RawSegmentationMetrics>;
  /** Class probabilities (B, K, *S), float32; with `labels`, the most probable class (B, *S) (uint8, or int32 above 256 classes). */
  segment(images: RawTensor, labels?: boolean): Promise<RawTensor>;
  segmentationHeadState(): Promise<Record<string, RawTensor>>;
  loadSegmentationHeadState(tensors: Record<string, RawTensor>): Promise<void>;
  /** The fine-tuning optimiser's state by parameter name (after configureSegmentation). */
  segmentationTrainingState(): Promise<Record<string, RawTensor>>;
  /** Replaces all of that state, or nothing when an entry is missing or misshapen. */
  loadSegmentationTrainingState(tensors: Record<string, RawTensor>): Promise<void>;
}

export interface Binding {
  Model: new (options: RawModelOptions) => RawModel;
  info(): RawRuntimeInfo;
  getNumThreads(): number;
  setNumThreads(numThreads: number): void;
  setDefaultNumThreadsOnce(numThreads: number): void;
  /** Ends every model's native thread after its running call (see loadBinding.ts, stopModelsAtExit). */
  stopModelsForExit(): void;
  /** LibTorch warnings raised in native work since the last call (oldest first), and how many older ones were dropped. */
  takeWarnings(): { messages: string[]; dropped: number };
  /** Bytes of live CPU tensors and their peak; `resetPeak` starts a new peak from now. */
  cpuTensorMemory(resetPeak?: boolean): {
    allocator: 'cover-torch' | 'libtorch';
    liveBytes: number;
    peakBytes: number;
    cachedBytes: number;
  };
  /** Unmaps the allocator's cached blocks; returns the bytes released. */
  releaseCachedCpuMemory(): number;
  /** Bytes of CUDA tensors on device `index`; throws where there is none. */
  cudaTensorMemory(index: number, resetPeak: boolean): { liveBytes: number; peakBytes: number; reservedBytes: number };
  probe: {
    fit(
      features: RawTensor,
      labels: RawTensor,
      classes: number,
      settings: { iterations: number; learningRate: number; l2: number },
    ): Promise<Record<'mean' | 'inverseStd' | 'weight' | 'bias', RawTensor>>;
    predict(probe: Record<string, RawTensor>, features: RawTensor): Promise<RawTensor>;
  };
  ops: {
    roundTrip(tensor: RawTensor): Promise<RawTensor>;
    sum(tensor: RawTensor): Promise<RawTensor>;
    matmul(a: RawTensor, b: RawTensor): Promise<RawTensor>;
    cast(tensor: RawTensor, dtype: string): Promise<RawTensor>;
  };
}
