import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import { adoptTensor, callNative } from '../native/adopt';
import type { RawSegmentationMetrics } from '../native/binding';
import { checkImages, CoverModel, MODEL_OPTIONS_METADATA, modelFromTensors, nativeModelOf } from '../model/CoverModel';
import type { ModelOptions } from '../model/modelOptions';
import { assertTensor, tensor, type Tensor } from '../tensor';
import { checkNumber, firstNonFinite } from '../validate';
import { checkTilingOptions, encodeSlidingWindow, type SlidingWindowOptions } from '../encoder/slidingWindow';
import { resolveSegmenterOptions, type ResolvedSegmenterOptions, type SegmenterOptions } from './segmenterOptions';
import { scoreSegmentation, type SegmentationScores } from './segmentationMetrics';
import { weightsFileOf } from '../train/checkpoints';
import type { Trainable, TrainingScore } from '../train/trainable';
import { frozenCopy } from '../frozenCopy';

/** What one fine-tuning step reports. */
export type SegmentationStepMetrics = RawSegmentationMetrics;

/** Images (B, C_in, *S) and their label maps (B, *S): one fine-tuning batch. */
export interface LabelledBatch {
  images: Tensor;
  labels: Tensor;
}

/** Fine-tuning checkpoints rank by the mean loss; early stopping may also watch its two terms. */
export const SEGMENTATION_SCORE: TrainingScore<SegmentationStepMetrics> = {
  name: 'loss',
  terms: (metrics) => [metrics.loss, 1],
  loss: (metrics) => metrics.loss,
  monitorable: ['crossEntropy', 'diceLoss'],
};

/** How a segmenter's training state file says what it is. */
const TRAINING_STATE_METADATA = 'cover-torch.segmentation-training-state';

/** Sliding-window prediction: a `window` turns it on (see {@link SlidingWindowOptions}). */
export type PredictOptions = Partial<Omit<SlidingWindowOptions, 'fullResolution'>>;

/** Where a saved segmenter keeps its options (safetensors metadata). */
const SEGMENTER_METADATA = 'cover-torch.segmenter';
const HEAD_PREFIX = 'segmentation_head.';

/**
 * Encoders that belong to a segmenter. A model carries one head: a second segmenter on the
 * same model would replace the first one's head and trainer under it.
 */
const ownedEncoders = new WeakMap<CoverModel, ResolvedSegmenterOptions>();

/**
 * A pretrained COVER encoder fine-tuned for segmentation: a 1x1 convolution head on the
 * decoder's finest features F1, trained with cross-entropy plus soft Dice, either alone
 * (`freezeEncoder`: a linear probe of the pretrained features) or with the whole backbone.
 * Every call runs on the encoder's native thread, in order, off the JS thread. A
 * {@link Trainer} trains it like a CoverModel (checkpoints, metrics files, early stopping,
 * resume) on a stream of {@link LabelledBatch}es.
 */
export class Segmenter implements Trainable<LabelledBatch, SegmentationStepMetrics> {
  readonly options: ResolvedSegmenterOptions;
  /** How a Trainer ranks checkpoints: the mean loss. */
  readonly trainingScore = SEGMENTATION_SCORE;
  #encoder: CoverModel;

  private constructor(encoder: CoverModel, options: ResolvedSegmenterOptions) {
    this.#encoder = encoder;
    this.options = frozenCopy(options);
  }

  /**
   * A new head on `encoder` (a model, or a run folder / checkpoint / weights file to load
   * one from). The segmenter owns the encoder from here on: fine-tuning changes its
   * weights, and `dispose()` frees it.
   */
  static async create(
    encoder: CoverModel | string,
    options: SegmenterOptions,
    modelOptions?: Partial<ModelOptions>,
  ): Promise<Segmenter> {
    if (typeof encoder !== 'string' && !(encoder instanceof CoverModel))
      throw new TypeError(
        `Expected a CoverModel or the path of a run folder or weights file for the encoder but received ${encoder === null ? 'null' : typeof encoder}`,
      );
    const resolved = resolveSegmenterOptions(options);
    const owner = typeof encoder === 'string' ? undefined : ownedEncoders.get(encoder);
    if (owner)
      throw new Error(
        `This CoverModel already belongs to a Segmenter (${owner.classes} classes), whose head a new one would replace. ` +
          'Dispose that segmenter first, or give this one its own copy of the encoder (CoverModel.load).',
      );
    const model = typeof encoder === 'string' ? await CoverModel.load(encoder, modelOptions) : encoder;
    // Claimed before the first await on it, so that two concurrent creates cannot both pass.
    ownedEncoders.set(model, resolved);
    try {
      const native = nativeModelOf(model);
      await callNative(() => native.createSegmentationHead(resolved.classes, resolved.seed));
      const { seed: _seed, ...trainOptions } = resolved;
      void _seed;
      await callNative(() => native.configureSegmentation(trainOptions));
    } catch (error) {
      ownedEncoders.delete(model);
      if (typeof encoder === 'string') void model.dispose();
      throw error;
    }
    return new Segmenter(model, resolved);
  }

  /**
   * Loads what {@link Segmenter.save} wrote (encoder, head and options), ready to train on or
   * predict: the file, or a fine-tuning run's folder (its final.safetensors, else its latest
   * checkpoint) or checkpoint folder.
   */
  static async load(target: string, modelOptions?: Partial<ModelOptions>): Promise<Segmenter> {
    const file = await weightsFileOf(target);
    const { metadata, tensors } = await loadSafetensors(file);
    const saved = metadata[SEGMENTER_METADATA];
    if (!saved) throw new Error(`${file} is not a saved Segmenter (no "${SEGMENTER_METADATA}" metadata)`);
    let options: SegmenterOptions;
    try {
      options = JSON.parse(saved) as SegmenterOptions;
    } catch {
      throw new Error(`${file}: its metadata "${SEGMENTER_METADATA}" is not JSON`);
    }
    const { encoderTensors, headTensors } = splitHead(tensors);
    const model = await modelFromTensors(file, encoderTensors, metadata, modelOptions);
    let segmenter: Segmenter;
    try {
      segmenter = await Segmenter.create(model, options);
    } catch (error) {
      void model.dispose();
      throw error;
    }
    try {
      await segmenter.#checkHead(headTensors);
      await callNative(() => nativeModelOf(model).loadSegmentationHeadState(headTensors));
    } catch (error) {
      void segmenter.dispose();
      throw new Error(`Cannot load ${file}: ${(error as Error).message}`, { cause: error });
    }
    return segmenter;
  }

  /** The encoder being fine-tuned (owned by this segmenter). */
  get encoder(): CoverModel {
    return this.#encoder;
  }

  /**
   * One step on images (B, C_in, *S) of any size and their labels (B, *S) (uint8, int32 or
   * int64; 0..K-1 or the ignore label): forward, loss, backward, clipping, optimiser step.
   * Also takes the two as one {@link LabelledBatch} (the form a Trainer passes).
   */
  async trainStep(images: Tensor, labels: Tensor, learningRate: number): Promise<SegmentationStepMetrics>;
  // Last, so that a Trainer infers its batch type from this form.
  async trainStep(batch: LabelledBatch, learningRate: number): Promise<SegmentationStepMetrics>;
  async trainStep(
    first: Tensor | LabelledBatch,
    second: Tensor | number,
    third?: number,
  ): Promise<SegmentationStepMetrics> {
    const isBatch = typeof second === 'number';
    if (isBatch && (typeof first !== 'object' || first === null || !('labels' in first)))
      throw new TypeError('Expected a batch { images, labels } (or images, labels, learningRate)');
    const { images, labels } = isBatch ? (first as LabelledBatch) : { images: first as Tensor, labels: second };
    const learningRate = isBatch ? second : third!;
    this.#checkImages(images);
    this.#checkLabels(labels, images);
    checkNumber(learningRate, 'learningRate', 0);
    const native = nativeModelOf(this.#encoder);
    return callNative(() => native.segmentationStep(images, labels, learningRate));
  }

  /**
   * Class probabilities (B, K, *S) of images (B, C_in, *S) of any size. With `window`, the
   * input is segmented in overlapping tiles of that size whose probabilities are blended
   * (see {@link SlidingWindowOptions}): memory is bounded by the tile.
   */
  async predictProbabilities(images: Tensor, options: PredictOptions = {}): Promise<Tensor<'float32'>> {
    this.#checkImages(images);
    checkTilingOptions(options, [], 'predictProbabilities');
    const native = nativeModelOf(this.#encoder);
    const segmentTile = async (tile: Tensor) => [
      adoptTensor(await callNative(() => native.segment(tile))) as Tensor<'float32'>,
    ];
    const { window, ...tiling } = options;
    if (window === undefined) return (await segmentTile(images))[0]!;
    // One output at the input's scale: the tiler blends it like the finest level.
    const [blended] = await encodeSlidingWindow(segmentTile, images as Tensor<'float32'>, { ...tiling, window });
    return blended!;
  }

  /** The most probable class of every voxel: labels (B, *S), uint8 (int32 above 256 classes). */
  async predict(images: Tensor, options: PredictOptions = {}): Promise<Tensor<'uint8'> | Tensor<'int32'>> {
    checkTilingOptions(options, [], 'predict');
    if (options.window === undefined) {
      // Chosen natively: only the labels cross to JS, not K probabilities per voxel.
      this.#checkImages(images);
      const native = nativeModelOf(this.#encoder);
      return adoptTensor(await callNative(() => native.segment(images, true))) as Tensor<'uint8'> | Tensor<'int32'>;
    }
    // Tiles blend probabilities; the class is chosen from the blend.
    const probabilities = await this.predictProbabilities(images, options);
    const [batch, classes, ...size] = probabilities.shape as number[];
    const voxels = size.reduce((a, b) => a * b, 1);
    const out = classes! <= 256 ? new Uint8Array(batch! * voxels) : new Int32Array(batch! * voxels);
    const p = probabilities.data;
    for (let b = 0; b < batch!; b++) {
      const base = b * classes! * voxels;
      for (let i = 0; i < voxels; i++) {
        let best = 0;
        for (let c = 1; c < classes!; c++) if (p[base + c * voxels + i]! > p[base + best * voxels + i]!) best = c;
        out[b * voxels + i] = best;
      }
    }
    return tensor(out, [batch!, ...size]) as Tensor<'uint8'> | Tensor<'int32'>;
  }

  /**
   * Predicts `images` and scores the result against `labels` (B, *S): per-class Dice and
   * 95th-percentile Hausdorff distance (in voxels, or in the units of `spacing`), and their
   * means (over `excludeFromMean`'s complement; ignore-label voxels count for nothing).
   */
  async evaluate(
    images: Tensor,
    labels: Tensor,
    options: { spacing?: readonly number[]; excludeFromMean?: readonly number[] } & PredictOptions = {},
  ): Promise<SegmentationScores> {
    this.#checkLabels(labels, images);
    checkTilingOptions(options, ['spacing', 'excludeFromMean'], 'evaluate');
    const { spacing, excludeFromMean, ...predictOptions } = options;
    const predicted = await this.predict(images, predictOptions);
    return scoreSegmentation(predicted.data, labelValues(labels), labels.shape.slice(1), {
      classes: this.options.classes,
      ignoreLabel: this.options.ignoreLabel,
      ...(spacing ? { spacing } : {}),
      ...(excludeFromMean ? { excludeFromMean } : {}),
    });
  }

  /**
   * Writes the encoder and the head to one safetensors file (atomically), with the
   * segmenter's options and the encoder file's metadata (e.g. how its images were prepared); {@link Segmenter.load} reads it back. The
   * encoder's tensors keep their PyTorch names; the head's are `segmentation_head.*`.
   */
  async save(file: string): Promise<void> {
    const tensors = await this.stateDict();
    const { seed: _seed, device: _device, ...modelOptions } = this.#encoder.options;
    void _seed;
    void _device;
    await saveSafetensors(file, tensors, {
      // What the encoder's file recorded (how its images were prepared, its steps) stays.
      ...this.#encoder.metadata,
      format: 'pt',
      [MODEL_OPTIONS_METADATA]: JSON.stringify(modelOptions),
      [SEGMENTER_METADATA]: JSON.stringify(this.options),
    });
  }

  /** Encoder and head weights by name (the head's as `segmentation_head.*`), copied to JS memory. */
  async stateDict(): Promise<Record<string, Tensor>> {
    const native = nativeModelOf(this.#encoder);
    // Both calls are queued now, so that a dispose() made after this call lets both finish.
    const [head, tensors] = await Promise.all([
      callNative(() => native.segmentationHeadState()),
      this.#encoder.stateDict(),
    ]);
    for (const [name, t] of Object.entries(head)) tensors[HEAD_PREFIX + name] = adoptTensor(t);
    return tensors;
  }

  /**
   * Replaces the encoder's and the head's weights with what {@link Segmenter.stateDict} gave.
   * The head's names and shapes are checked before anything changes.
   */
  async loadStateDict(tensors: Record<string, Tensor>): Promise<void> {
    const { encoderTensors, headTensors } = splitHead(tensors);
    // The head is checked first: nothing changes, the encoder neither, for a head that does not fit.
    await this.#checkHead(headTensors);
    await this.#encoder.loadStateDict(encoderTensors);
    await callNative(() => nativeModelOf(this.#encoder).loadSegmentationHeadState(headTensors));
  }

  /** Refuses head tensors of another shape or class count, not float32, not finite, or unknown. */
  async #checkHead(headTensors: Record<string, Tensor>): Promise<void> {
    const native = nativeModelOf(this.#encoder);
    const current = await callNative(() => native.segmentationHeadState());
    for (const [name, t] of Object.entries(current)) {
      const given = headTensors[name];
      if (given) assertTensor(given, `"${HEAD_PREFIX}${name}"`);
      if (!given || given.shape.join() !== t.shape.join())
        throw new RangeError(
          `Expected "${HEAD_PREFIX}${name}" of shape [${t.shape.join(', ')}] (a head of ${this.options.classes} classes) but ${given ? `received [${given.shape.join(', ')}]` : 'it is missing'}`,
        );
      if (given.dtype !== 'float32')
        throw new TypeError(`Expected float32 data for "${HEAD_PREFIX}${name}" but received ${given.dtype}`);
      if (firstNonFinite(given.data as Float32Array) >= 0)
        throw new RangeError(`"${HEAD_PREFIX}${name}" holds NaN or Inf; weights must be finite`);
    }
    const unknown = Object.keys(headTensors).find((name) => !Object.hasOwn(current, name));
    if (unknown !== undefined)
      throw new RangeError(
        `Unexpected head tensor "${HEAD_PREFIX}${unknown}"; the head has ${Object.keys(current)
          .map((name) => `"${HEAD_PREFIX}${name}"`)
          .join(', ')}`,
      );
  }

  /** The fine-tuning optimiser's moments, for an exact resume (see the Trainer's checkpoints). */
  async saveTrainingState(file: string): Promise<void> {
    const native = nativeModelOf(this.#encoder);
    const state = await callNative(() => native.segmentationTrainingState());
    const tensors = Object.fromEntries(Object.entries(state).map(([name, t]) => [name, adoptTensor(t)]));
    await saveSafetensors(file, tensors, { [TRAINING_STATE_METADATA]: JSON.stringify(this.options) });
  }

  /** Restores what {@link Segmenter.saveTrainingState} wrote; all of it, or nothing on a mismatch. */
  async loadTrainingState(file: string): Promise<void> {
    const { tensors, metadata } = await loadSafetensors(file);
    if (!metadata[TRAINING_STATE_METADATA])
      throw new Error(`${file} is not a segmenter's training state (no "${TRAINING_STATE_METADATA}" metadata)`);
    const native = nativeModelOf(this.#encoder);
    await callNative(() => native.loadSegmentationTrainingState(tensors));
  }

  /** Frees the encoder and the head (see `CoverModel.dispose`). */
  dispose(): Promise<void> {
    ownedEncoders.delete(this.#encoder);
    return this.#encoder.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #checkImages(images: Tensor): void {
    assertTensor(images, 'images');
    checkImages(this.#encoder.options, images, 'images');
  }

  #checkLabels(labels: Tensor, images: Tensor): void {
    assertTensor(labels, 'labels');
    if (labels.dtype !== 'uint8' && labels.dtype !== 'int32' && labels.dtype !== 'int64')
      throw new TypeError(`Expected uint8, int32 or int64 labels but received ${labels.dtype}`);
    const expected = [images.shape[0], ...images.shape.slice(2)];
    if (labels.shape.join() !== expected.join())
      throw new RangeError(
        `Expected labels of shape [${expected.join(', ')}] (B, *S) but received [${labels.shape.join(', ')}]`,
      );
  }
}

/** A segmenter's tensors split into the encoder's and the head's (without their prefix). */
function splitHead(tensors: Record<string, Tensor>): {
  encoderTensors: Record<string, Tensor>;
  headTensors: Record<string, Tensor>;
} {
  const encoderTensors: Record<string, Tensor> = {};
  const headTensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith(HEAD_PREFIX)) headTensors[name.slice(HEAD_PREFIX.length)] = t;
    else encoderTensors[name] = t;
  }
  return { encoderTensors, headTensors };
}

function labelValues(labels: Tensor): ArrayLike<number> {
  return labels.dtype === 'int64'
    ? Array.from(labels.data as BigInt64Array, Number)
    : (labels.data as ArrayLike<number>);
}
