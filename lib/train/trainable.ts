import type { Tensor } from '../tensor';

/** What every training step reports, whatever is trained. */
export interface TrainableMetrics {
  /** The loss or gradient was not finite, so the step made no update. */
  skipped: boolean;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The rate the step used. */
  learningRate: number;
}

/**
 * How a {@link Trainer} ranks the checkpoints of what it trains, and what early stopping may
 * watch. The score over a span of steps is the sum of `terms(m)[0]` over the sum of
 * `terms(m)[1]`, lower being better: a ratio of sums, so that a normalised loss (L_vec over
 * its no-motion baseline) is not skewed by a few steps with a tiny baseline.
 */
export interface TrainingScore<Metrics> {
  /** The score's name as early stopping's `monitor` (its default). */
  readonly name: string;
  terms(metrics: Metrics): readonly [number, number];
  /** The loss the step minimised (what a skipped step's warning shows). */
  loss(metrics: Metrics): number;
  /** The step metrics early stopping may monitor besides the score (their plain mean). */
  readonly monitorable: readonly string[];
}

/**
 * What a {@link Trainer} can train: a `CoverModel` (pretraining on image batches) or a
 * `Segmenter` (fine-tuning on labelled batches). The checkpoint files are its weights
 * (`save`, read back by `loadStateDict`) and its optimiser's state.
 */
export interface Trainable<Batch, Metrics extends TrainableMetrics> {
  trainStep(batch: Batch, learningRate: number): Promise<Metrics>;
  readonly trainingScore: TrainingScore<Metrics>;
  stateDict(): Promise<Record<string, Tensor>>;
  loadStateDict(tensors: Record<string, Tensor>): Promise<void>;
  /** Writes the weights, loadable on their own (atomically). */
  save(file: string): Promise<void>;
  /** Optimiser moments and whatever else an exact resume needs. */
  saveTrainingState(file: string): Promise<void>;
  loadTrainingState(file: string): Promise<void>;
}
