/**
 * cover-torch: COVER self-supervised pixel-wise pretraining for 2D and 3D medical images,
 * in C++ on LibTorch, driven from TypeScript.
 */
export {
  info,
  setNumThreads,
  getNumThreads,
  takeNativeWarnings,
  cpuTensorMemory,
  releaseCachedCpuMemory,
  cudaTensorMemory,
  type RuntimeInfo,
  type CpuTensorMemory,
  type CudaTensorMemory,
} from './runtime';
export { tensor, numel, dtypeOf, type Tensor, type TensorData, type DType, type TypedArrayByDType } from './tensor';
export * as ops from './ops';
export {
  CoverModel,
  DisposedError,
  type EncodeOptions,
  type ForwardOutput,
  type StepMetrics,
} from './model/CoverModel';
export type { ModelOptions } from './model/modelOptions';
export type { SpatialSize, TrainingOptions, ViewOptions, OptimizerOptions } from './model/trainingOptions';
export { saveSafetensors, loadSafetensors } from './io/safetensors';
export { writeNifti, type NiftiMaps } from './io/writeNifti';
export { toFloat16, fromFloat16 } from './float16';
export { warp, type WarpMode, type WarpOptions } from './encoder/warp';
export { knownField, endpointErrors, type EndpointErrors } from './encoder/knownMotion';
export { Encoder, type EncoderOptions, type EncodedImage } from './encoder/Encoder';
export { PREPROCESSING_METADATA, type Preprocessing } from './encoder/preprocessing';
export {
  Segmenter,
  SEGMENTATION_SCORE,
  type SegmentationStepMetrics,
  type PredictOptions,
  type LabelledBatch,
} from './segment/Segmenter';
export {
  labelledCropBatches,
  randomLabelledCrops,
  type LabelledVolume,
  type LabelledCropOptions,
} from './segment/labelledCrops';
export type { SegmenterOptions } from './segment/segmenterOptions';
export {
  scoreSegmentation,
  type ClassScores,
  type SegmentationScores,
  type ScoreOptions,
} from './segment/segmentationMetrics';
export type { BlendMode, SlidingWindowOptions } from './encoder/slidingWindow';
export {
  Trainer,
  NonFiniteTrainingError,
  type FitOptions,
  type StepRecord,
  type FitResult,
  type StopReason,
  type EarlyStoppingOptions,
  type MonitoredMetric,
  type TrainerEvents,
  type CheckpointOptions,
  type BatchSource,
} from './train/Trainer';
export type { Trainable, TrainableMetrics, TrainingScore } from './train/trainable';
export { PRETRAINING_SCORE } from './model/pretrainingScore';
export { warmupCosine, type WarmupCosineOptions } from './train/warmupCosine';
export { phantom, phantomBatch, phantomBatches } from './data/phantom';
export { prefetch } from './data/prefetch';
export {
  createLogger,
  silentLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  type LoggerOptions,
} from './log/logger';
export {
  readImage,
  readNifti,
  readDicomSeries,
  readPlanarImage,
  normalizeIntensity,
  resampleToSpacing,
  ImageReadError,
  type ImageVolume,
  type ResampleOptions,
  type ReadImageOptions,
  type NormalizeSpec,
} from './data/image';
export {
  ImageDataset,
  type ImageDatasetOptions,
  type VerifyOptions,
  type DatasetCheck,
  type DatasetFailure,
} from './data/dataset/ImageDataset';
export { findImageFiles } from './data/dataset/findImageFiles';
export {
  patchBatches,
  streamPatchBatches,
  patchSizeFor,
  type PatchBatchOptions,
  type StreamPatchOptions,
} from './data/dataset/patchBatches';
export { ConfigError } from './config/parseOptions';
export { resolvePretrainConfig, type PretrainConfig, type ResolvedPretrainConfig } from './config/pretrainConfig';
export type { DataOptions } from './config/dataOptions';
