import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { prefetch } from '../data/prefetch';
import { lockFolder } from '../io/folderLock';
import { silentLogger, type Logger } from '../log/logger';
import { takeNativeWarnings } from '../runtime';
import type { StepMetrics } from '../model/CoverModel';
import { MONITORED_METRICS, type MonitoredMetric } from '../model/pretrainingScore';
import { DEFAULT_LEARNING_RATE } from '../model/trainingOptions';
import type { Tensor } from '../tensor';
import { checkInteger, checkNumber, refuseUnknownOptions } from '../validate';
import { MetricsCsvFile } from './metricsCsv';
import { startMetricsFile, truncateMetricsFile } from './metricsFile';
import {
  latestCheckpoint,
  removeInterruptedWrites,
  restoreCheckpoint,
  saveCheckpoint,
  updateBestCheckpoint,
} from './checkpoints';
import type { Trainable, TrainableMetrics, TrainingScore } from './trainable';
import { Plateau } from './plateau';
import { warmupCosine } from './warmupCosine';

export { MONITORED_METRICS, type MonitoredMetric };

export interface CheckpointOptions {
  /** Folder of the checkpoints. */
  dirpath: string;
  /** Write one every N steps (and at the end, and when stopped). Default 100. */
  everyNTrainSteps?: number;
  /** How many of the newest to keep. Default 3. */
  saveLast?: number;
  /**
   * Write the weights only, without the optimiser moments and view-generator state (a third
   * of the size). A resume from such a checkpoint continues from its weights and step with
   * fresh moments, so it does not repeat an uninterrupted run exactly. Default false.
   */
  weightsOnly?: boolean;
  /**
   * Also keep the best checkpoint (best-step-N, named by best.json): the one with the lowest
   * score over the steps since the previous checkpoint (pretraining: mean L_vec / no-motion
   * baseline; fine-tuning: mean loss). Default true.
   */
  saveBest?: boolean;
}

export interface FitOptions {
  /** Steps to train in all (a resumed run counts the steps already done). */
  maxSteps: number;
  /** Peak learning rate of the default warmup + cosine schedule, or a function of the step. Default 1e-4. */
  learningRate?: number | ((step: number) => number);
  /** Warmup steps of the default schedule. Default 5% of maxSteps. */
  warmupSteps?: number;
  /** Batches prepared ahead of the native step. Default 2. */
  prefetch?: number;
  /** Stops cleanly after the running step (writing a checkpoint when configured). */
  signal?: AbortSignal;
  checkpoint?: CheckpointOptions;
  /**
   * Appends one JSON line of metrics per step. A resume keeps the lines up to its checkpoint;
   * a run from step 0 refuses a file that holds records already (another run's).
   */
  metricsFile?: string;
  /**
   * Appends one CSV row of metrics per step (a header line first; `timings.stepMs` and the
   * like for nested fields; the learning rate is the `learningRate` column). Kept and refused
   * as `metricsFile` is.
   */
  csvFile?: string;
  /** Continue from the latest checkpoint in checkpoint.dirpath when there is one. Default false. */
  resume?: boolean;
  /** Where the trainer reports resumes and checkpoints. Default: silent. */
  logger?: Logger;
  /**
   * Steps skipped for a non-finite loss or gradient (weights untouched) that a run may
   * take; one more ends it with an error naming them, after a checkpoint of the last good
   * weights. Default 10.
   */
  maxNonFiniteSteps?: number;
  /** Stop when a monitored metric stops improving (see {@link EarlyStoppingOptions}). */
  earlyStopping?: EarlyStoppingOptions;
}

/**
 * Early stopping in Lightning's manner, on step metrics: every `every` steps the mean of
 * `monitor` over those steps is compared with the best mean so far; after `patience` checks
 * in a row without an improvement of more than `minDelta`, training stops (the final
 * checkpoint is written and the result's `reason` is 'early-stopping').
 */
export interface EarlyStoppingOptions<Monitor extends string = MonitoredMetric | (string & {})> {
  /**
   * The metric: the score that ranks checkpoints (the default; pretraining: `vectorRatio`,
   * mean L_vec / mean no-motion L_vec, see MONITORED_METRICS; fine-tuning: `loss`) or a step
   * metric of what is trained (pretraining: `featureVariation`...; fine-tuning: `crossEntropy`,
   * `diceLoss`).
   */
  monitor?: Monitor;
  /** Whether lower (`min`) or higher (`max`) is better. Default `min`. */
  mode?: 'min' | 'max';
  /** Checks without improvement before stopping. */
  patience: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Steps per check. Default: the checkpoint interval, else 100. */
  every?: number;
}

/** Thrown by {@link Trainer.fit} when more steps than `maxNonFiniteSteps` were not finite. */
export class NonFiniteTrainingError extends Error {
  /** The checkpoint of the last good weights, when the Trainer writes checkpoints. */
  checkpoint: string | undefined;

  constructor(readonly steps: number[]) {
    super(
      `Training stopped: ${steps.length} steps had a non-finite loss or gradient (steps ${steps.join(', ')}); ` +
        'the weights were not changed by them. Check the data for NaN/Inf values, or lower the learning rate.',
    );
    this.name = 'NonFiniteTrainingError';
  }
}

// Every option name, as records so that the compiler says when one is added to the types.
const FIT_OPTIONS = Object.keys({
  maxSteps: 1,
  learningRate: 1,
  warmupSteps: 1,
  prefetch: 1,
  signal: 1,
  checkpoint: 1,
  metricsFile: 1,
  csvFile: 1,
  resume: 1,
  logger: 1,
  maxNonFiniteSteps: 1,
  earlyStopping: 1,
} satisfies Record<keyof FitOptions, 1>);
const CHECKPOINT_OPTIONS = Object.keys({
  dirpath: 1,
  everyNTrainSteps: 1,
  saveLast: 1,
  weightsOnly: 1,
  saveBest: 1,
} satisfies Record<keyof CheckpointOptions, 1>);
const EARLY_STOPPING_OPTIONS = Object.keys({
  monitor: 1,
  mode: 1,
  patience: 1,
  minDelta: 1,
  every: 1,
} satisfies Record<keyof EarlyStoppingOptions, 1>);

/** Batches to train on, or a function giving them from a step on (for exact resumes). */
export type BatchSource<Batch = Tensor> =
  AsyncIterable<Batch> | Iterable<Batch> | ((startStep: number) => AsyncIterable<Batch> | Iterable<Batch>);

/** One step's metrics with its index and the wall time so far. */
export type StepRecord<Metrics = StepMetrics> = Metrics & {
  /** Steps done in all after this one (1 for the first step of a fresh run). */
  step: number;
  /** The step this call started from: 0, or the resumed checkpoint's step. */
  startStep: number;
  /** Wall time since this call started (not since the run's first step when resumed). */
  elapsedMs: number;
};

/** Why a training call ended. */
export type StopReason = 'max-steps' | 'aborted' | 'early-stopping' | 'batches-exhausted' | 'left-early' | 'error';

/** How a training call ended. */
export interface FitResult<Metrics = StepMetrics> {
  /** Steps done in all. */
  step: number;
  /** True when it ended before maxSteps: an abort, early stopping, a `break` in the loop, an error. */
  stopped: boolean;
  /**
   * Why: maxSteps reached, the signal aborted, early stopping, the batches ran out, the
   * caller left a `steps()` loop, or an error.
   */
  reason: StopReason;
  /** The last checkpoint written (this call's or, if none was, the resumed one's), if any. */
  checkpoint: string | undefined;
  /** The last step's record, if a step ran. */
  last: StepRecord<Metrics> | undefined;
}

/** The Trainer's events and their arguments. */
export interface TrainerEvents<Metrics = StepMetrics> {
  /** After each step. */
  trainBatchEnd: [record: StepRecord<Metrics>];
  /** After a checkpoint is written, with its folder. */
  checkpoint: [folder: string];
  /** When a training call ends, however it ends. */
  end: [result: FitResult<Metrics>];
}

/**
 * Drives the steps of a CoverModel (pretraining on image batches) or of a Segmenter
 * (fine-tuning on labelled batches) over a stream of batches: schedule, prefetching,
 * checkpoints, metrics files, early stopping, abort. `await fit(batches)` trains to the end;
 * `for await (const record of steps(batches))` does the same one step at a time. Events
 * (typed): `trainBatchEnd` (record), `checkpoint` (folder) and `end` (result).
 */
export class Trainer<Batch = Tensor, Metrics extends TrainableMetrics = StepMetrics> extends EventEmitter<
  TrainerEvents<Metrics>
> {
  readonly #model: Trainable<Batch, Metrics>;
  readonly #options: FitOptions;

  constructor(model: Trainable<Batch, Metrics>, options: FitOptions) {
    super();
    if (typeof (model as Partial<Trainable<Batch, Metrics>> | null)?.trainStep !== 'function')
      throw new TypeError(
        'Expected a model to train (a CoverModel, a Segmenter or another Trainable) as the first argument',
      );
    if (typeof options !== 'object' || options === null)
      throw new TypeError('Expected Trainer options, at least { maxSteps }');
    // A misspelt option would otherwise be ignored and its default used.
    refuseUnknownOptions(options, FIT_OPTIONS, 'Trainer');
    if (options.checkpoint) refuseUnknownOptions(options.checkpoint, CHECKPOINT_OPTIONS, 'Trainer checkpoint');
    if (options.earlyStopping)
      refuseUnknownOptions(options.earlyStopping, EARLY_STOPPING_OPTIONS, 'Trainer earlyStopping');
    const signal = options.signal as Partial<AbortSignal> | undefined;
    if (signal !== undefined && (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function'))
      throw new TypeError('Expected an AbortSignal for signal (from an AbortController)');
    checkInteger(options.maxSteps, 'maxSteps', 1);
    if (options.maxNonFiniteSteps !== undefined) checkInteger(options.maxNonFiniteSteps, 'maxNonFiniteSteps', 0);
    if (options.prefetch !== undefined) checkInteger(options.prefetch, 'prefetch', 1, 64);
    // Without checkpoints there is nothing to resume from, and the metrics files would be cut
    // back to step 0.
    if (options.resume && !options.checkpoint)
      throw new TypeError('Expected checkpoint.dirpath with resume: true (the checkpoints to resume from)');
    if (typeof options.learningRate === 'number') checkNumber(options.learningRate, 'learningRate', 0);
    if (options.earlyStopping) checkEarlyStopping(options.earlyStopping, model.trainingScore);
    this.#model = model;
    this.#options = options;
  }

  /**
   * Trains on `batches` up to `maxSteps` (or until aborted, or the batches run out) and
   * resolves with how it ended. `batches` is an (async) iterable of batches (B, C, *S), or a
   * function giving the stream from a step on, which lets a resumed run see the batches the
   * interrupted one would have seen (patchBatches and phantomBatches take a start step).
   */
  async fit(batches: BatchSource<Batch>): Promise<FitResult<Metrics>> {
    const run = this.steps(batches);
    for (;;) {
      const next = await run.next();
      if (next.done) return next.value;
    }
  }

  /**
   * Like {@link fit}, one step at a time: yields each step's record. Leaving the loop early
   * (`break`, `return`, a throw) ends training there: the final checkpoint is written and
   * `end` is emitted with `stopped: true`, as when aborted.
   */
  async *steps(batches: BatchSource<Batch>): AsyncGenerator<StepRecord<Metrics>, FitResult<Metrics>, undefined> {
    // Two runs writing one checkpoint folder would interleave their checkpoints.
    const release = this.#options.checkpoint ? await lockFolder(this.#options.checkpoint.dirpath) : undefined;
    try {
      return yield* this.#run(batches);
    } finally {
      await release?.();
    }
  }

  async *#run(batches: BatchSource<Batch>): AsyncGenerator<StepRecord<Metrics>, FitResult<Metrics>, undefined> {
    const options = this.#options;
    const schedule =
      typeof options.learningRate === 'function'
        ? options.learningRate
        : warmupCosine({
            baseLr: options.learningRate ?? DEFAULT_LEARNING_RATE,
            maxSteps: options.maxSteps,
            warmupSteps: options.warmupSteps ?? Math.floor(options.maxSteps * 0.05),
          });
    const checkpoint = options.checkpoint;
    const every = checkpoint ? checkInteger(checkpoint.everyNTrainSteps ?? 100, 'everyNTrainSteps', 1) : 0;
    const keep = checkpoint ? checkInteger(checkpoint.saveLast ?? 3, 'saveLast', 1) : 0;

    const logger = options.logger ?? silentLogger;
    if (checkpoint) {
      const removed = await removeInterruptedWrites(checkpoint.dirpath);
      if (removed.length > 0)
        logger.info('removed what an interrupted checkpoint left', { removed: removed.join(' ') });
    }
    const score = this.#model.trainingScore;
    const plateau = options.earlyStopping ? new Plateau(options.earlyStopping, score, every || 100) : undefined;
    let step = 0;
    let lastCheckpoint: string | undefined;
    if (options.resume && checkpoint) {
      const folder = await latestCheckpoint(checkpoint.dirpath);
      if (folder) {
        const restored = await restoreCheckpoint(folder, this.#model);
        step = restored.step;
        if (step > options.maxSteps)
          throw new RangeError(
            `${folder} is at step ${step}, past maxSteps (${options.maxSteps}): raise maxSteps to train on from there`,
          );
        lastCheckpoint = folder;
        logger.info('resumed', { checkpoint: folder, step });
        if (restored.weightsOnly)
          logger.warn('the checkpoint holds weights only: optimiser moments and views start afresh', { step });
        const afresh = plateau?.restore(restored.earlyStopping);
        if (afresh) logger.warn('early stopping counts its patience afresh', { step, why: afresh });
      } else {
        logger.info('no checkpoint to resume from; starting at step 0', { dirpath: checkpoint.dirpath });
      }
    }
    // Both files are checked before either is changed. (A resume without a checkpoint redoes
    // the steps its files hold: they are dropped below.)
    if (!options.resume) {
      if (options.metricsFile) await startMetricsFile(options.metricsFile, 'jsonl');
      if (options.csvFile) await startMetricsFile(options.csvFile, 'csv');
    }
    if (options.metricsFile) {
      await fs.mkdir(path.dirname(options.metricsFile), { recursive: true });
      // Steps after the checkpoint are trained again: their old lines would appear twice.
      const dropped = options.resume ? await truncateMetricsFile(options.metricsFile, step) : 0;
      if (dropped > 0) logger.info('dropped metrics of steps after the checkpoint', { dropped, step });
    }
    let csv: MetricsCsvFile | undefined;
    if (options.csvFile) {
      await fs.mkdir(path.dirname(options.csvFile), { recursive: true });
      const opened = await MetricsCsvFile.open(options.csvFile, options.resume ? step : undefined);
      csv = opened.csv;
      if (opened.dropped > 0)
        logger.info('dropped CSV rows of steps after the checkpoint', { dropped: opened.dropped, step });
    }

    const started = Date.now();
    const startStep = step;
    let last: StepRecord<Metrics> | undefined;
    let savedAt = step;
    // Running sums of the score's terms since the last checkpoint.
    let scoreSum = 0;
    let scoreWeight = 0;
    const save = async () => {
      if (!checkpoint || savedAt === step) return;
      const meanScore = scoreWeight > 0 ? scoreSum / scoreWeight : NaN;
      const folder = await saveCheckpoint(
        checkpoint.dirpath,
        this.#model,
        { step, metrics: last ? { ...last } : {}, score: meanScore, earlyStopping: plateau?.state() },
        keep,
        checkpoint.weightsOnly ?? false,
      );
      savedAt = step;
      lastCheckpoint = folder;
      scoreSum = 0;
      scoreWeight = 0;
      logger.info('checkpoint written', { checkpoint: folder, step });
      if (checkpoint.saveBest !== false && (await updateBestCheckpoint(checkpoint.dirpath, folder, step, meanScore))) {
        logger.debug('best checkpoint so far', { step, [score.name]: meanScore });
      }
      this.emit('checkpoint', folder);
    };
    // Until the loop finishes by itself, leaving it (a break or throw in the caller's loop,
    // an abort, an error here) counts as stopped.
    let stopped = true;
    let failure: { error: unknown } | undefined;
    let result: FitResult<Metrics> | undefined;
    let reason: StopReason = 'left-early';
    const nonFinite: number[] = [];
    const stream = typeof batches === 'function' ? batches(step) : batches;
    try {
      for await (const batch of prefetch(stream, options.prefetch ?? 2)) {
        if (step >= options.maxSteps || options.signal?.aborted) break;
        const metrics = await this.#model.trainStep(batch, schedule(step));
        step += 1;
        logNativeWarnings(logger, step);
        if (metrics.skipped) {
          nonFinite.push(step);
          logger.warn('skipped a step: the loss or gradient was not finite; the weights were not changed', {
            step,
            loss: score.loss(metrics),
            gradNorm: metrics.gradNorm,
          });
        } else {
          // A skipped step's NaN would poison the best-checkpoint score.
          const [value, weight] = score.terms(metrics);
          scoreSum += value;
          scoreWeight += weight;
        }
        last = { ...metrics, step, startStep, elapsedMs: Date.now() - started };
        if (options.metricsFile) await fs.appendFile(options.metricsFile, `${JSON.stringify(last)}\n`);
        await csv?.append(last);
        this.emit('trainBatchEnd', last);
        if (nonFinite.length > (options.maxNonFiniteSteps ?? 10)) throw new NonFiniteTrainingError(nonFinite);
        // Counted before the caller sees the step and before the checkpoint, so that any
        // checkpoint of this step (a final one, should the caller leave) keeps it in early
        // stopping's state.
        const plateaued = plateau?.add(metrics, step) ?? false;
        yield last;
        if (checkpoint && step % every === 0) await save();
        if (plateau && plateaued) {
          logger.info('early stopping: the monitored metric stopped improving', plateau.describe(step));
          reason = 'early-stopping';
          break;
        }
        // Here too, not only when the next batch arrives: a source may never send it.
        if (step >= options.maxSteps || options.signal?.aborted) break;
      }
      if (reason !== 'early-stopping')
        reason = step >= options.maxSteps ? 'max-steps' : options.signal?.aborted ? 'aborted' : 'batches-exhausted';
      stopped = step < options.maxSteps;
    } catch (error) {
      failure = { error };
      reason = 'error';
      throw error;
    } finally {
      // However it ended, the weights reached so far are kept and `end` says how; unless
      // an update stopped part-way left them neither the last step's nor the next's.
      try {
        if (failure && isPartialUpdate(failure.error))
          logger.error('no final checkpoint: the failed step left the weights part-way through an update', {
            step,
            lastCheckpoint: lastCheckpoint ?? 'none',
          });
        else await save();
        if (failure?.error instanceof NonFiniteTrainingError && lastCheckpoint) {
          failure.error.checkpoint = lastCheckpoint;
          failure.error.message += ` The last good weights are in ${lastCheckpoint}.`;
        }
      } catch (error) {
        // An error of training already on its way out is the one to report; otherwise (the
        // loop finished, or the caller left it) a lost final checkpoint must not pass silently.
        // eslint-disable-next-line no-unsafe-finally
        if (!failure) throw error;
        logger.error('could not write the final checkpoint', { error: String(error) });
      }
      if (stopped && options.signal?.aborted) logger.info('stopped on request', { step });
      result = { step, stopped, reason, checkpoint: lastCheckpoint, last };
      this.emit('end', result);
    }
    return result;
  }
}

/**
 * The native step's error when the optimiser failed after moving some weights: the start of
 * its message (kPartialUpdate in native/core/trainer.h).
 */
export const PARTIAL_UPDATE_MESSAGE = "The optimiser's update failed part-way";

function isPartialUpdate(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith(PARTIAL_UPDATE_MESSAGE);
}

/** LibTorch's warnings of the step, at debug level rather than on stderr. */
function logNativeWarnings(logger: Logger, step: number): void {
  const { messages, dropped } = takeNativeWarnings();
  for (const message of messages) logger.debug('LibTorch warning', { step, message });
  if (dropped > 0) logger.debug('LibTorch warnings dropped', { step, dropped });
}

function checkEarlyStopping(
  options: EarlyStoppingOptions,
  score: Pick<TrainingScore<unknown>, 'name' | 'monitorable'>,
): void {
  checkInteger(options.patience, 'earlyStopping.patience', 1);
  if (options.minDelta !== undefined) checkNumber(options.minDelta, 'earlyStopping.minDelta', 0);
  if (options.every !== undefined) checkInteger(options.every, 'earlyStopping.every', 1);
  const monitorable = [score.name, ...score.monitorable];
  if (options.monitor !== undefined && !monitorable.includes(options.monitor))
    throw new RangeError(
      `Expected earlyStopping.monitor to be one of ${monitorable.join(', ')} but received ${String(options.monitor)}`,
    );
  if (options.mode !== undefined && options.mode !== 'min' && options.mode !== 'max')
    throw new RangeError(`Expected earlyStopping.mode 'min' or 'max' but received ${String(options.mode)}`);
}
