import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../log/logger';
import { modelOptionsSchema, type ModelOptions } from '../model/modelOptions';
import { DEFAULT_LEARNING_RATE, trainingFields, type SpatialSize, type TrainingFields } from '../model/trainingOptions';
import { dataOptionsSchema, type DataOptions, type ResolvedDataOptions } from './dataOptions';
import { boolean, choice, integer, list, multipleOf, number, positive, section, text } from './fields';
import { MONITORED_METRICS, type EarlyStoppingOptions, type MonitoredMetric } from '../train/Trainer';
import { ConfigError, parseOptions } from './parseOptions';

const { seed: _trainingSeed, ...trainingFieldsWithoutSeed } = trainingFields;
void _trainingSeed;

/**
 * The configuration of a pretraining run (`cover-torch pretrain --config run.yaml`): the one
 * schema behind the config file, the command-line overrides and the PretrainConfig type.
 */
export const pretrainConfigSchema = section({
  /** 2D images or 3D volumes. Default 2. */
  dims: z.literal([2, 3], { error: '2 or 3' }).default(2),
  /** Train on the built-in procedural phantoms instead of `data`. */
  demo: boolean().default(false),
  data: dataOptionsSchema.optional(),
  // prefault: the empty default is parsed, so the model defaults are written in one place only.
  model: modelOptionsSchema.omit({ dims: true, seed: true }).prefault({}),
  training: section({
    /** Crop side per axis, multiples of 16. Default 64 (2D demo), 128 (2D data), 32 (3D demo), 64 (3D data). */
    cropSize: list(multipleOf(16, 16), 'an array of 2 or 3 integers', 2, 3).optional(),
    // The model's training options, but for the seed: the run's one seed is at the top.
    ...trainingFieldsWithoutSeed,
  }).prefault({}),
  /** Training steps in all. Default 300 (2D demo), 60 (3D demo), 2000 (data). */
  steps: integer(1).optional(),
  /** Images per step. Default 4 in 2D, 1 in 3D. */
  batchSize: integer(1, 4096).optional(),
  /** Peak learning rate of the warmup + cosine schedule (Adam). Default 1e-4: 1e-3 degrades the features (see the README). */
  learningRate: positive().default(DEFAULT_LEARNING_RATE),
  /** Warmup steps. Default 5% of steps. */
  warmupSteps: integer(0).optional(),
  /** Steps between checkpoints. Default 50. */
  checkpointEvery: integer(1).default(50),
  /** Checkpoints without optimiser moments (a third of the size; a resume restarts the moments). Default false. */
  checkpointWeightsOnly: boolean().default(false),
  /** Checkpoints kept besides the best one. Default 3. */
  keepLast: integer(1, 1000).default(3),
  /** Batches prepared ahead of the native step. Default 2. */
  prefetch: integer(1, 64).default(2),
  /** Steps with a non-finite loss or gradient (skipped) a run may take before it stops. Default 10. */
  maxNonFiniteSteps: integer(0).default(10),
  /** Stop when a monitored metric stops improving (Trainer's earlyStopping). Default: off. */
  earlyStopping: section({
    monitor: choice(MONITORED_METRICS).default('vectorRatio'),
    mode: choice(['min', 'max']).default('min'),
    patience: integer(1),
    minDelta: number(0).default(0),
    every: integer(1).optional(),
  }).optional(),
  /** Seed of weights, data sampling and views, 0 to 2^32 - 1 (the batch sampler is 32-bit). Default 0. */
  seed: integer(0, 2 ** 32 - 1).default(0),
  /** Output folder (checkpoints/, metrics.jsonl). Default runs/demo-<dims>d or runs/pretrain-<dims>d. */
  out: text().optional(),
  /** Continue from the latest checkpoint in `out`. */
  resume: boolean().default(false),
  logLevel: choice(LOG_LEVELS).default('info'),
});

/**
 * A pretraining run's configuration (`cover-torch pretrain --config run.yaml`, or the
 * object the CLI builds from its flags). Equal to what {@link pretrainConfigSchema} accepts
 * (test/unit/optionTypes.test.ts).
 */
export interface PretrainConfig {
  /** 2D images or 3D volumes. Default 2. */
  dims?: 2 | 3;
  /** Train on the built-in procedural phantoms instead of `data`. Default false. */
  demo?: boolean;
  /** Your images; required unless `demo`. */
  data?: DataOptions;
  /** The network's sizes (its seed is the run's `seed`). */
  model?: Omit<ModelOptions, 'dims' | 'seed'>;
  /** Views, optimiser and losses (the view seed is the run's `seed`). */
  training?: Omit<TrainingFields, 'seed'> & {
    /** Crop side per axis, multiples of 16. Default 64 (2D demo), 128 (2D data), 32 (3D demo), 64 (3D data). */
    cropSize?: number[];
  };
  /** Training steps in all. Default 300 (2D demo), 60 (3D demo), 2000 (data). */
  steps?: number;
  /** Images per step. Default 4 in 2D, 1 in 3D. */
  batchSize?: number;
  /** Peak learning rate of the warmup + cosine schedule (Adam). Default 1e-4. */
  learningRate?: number;
  /** Warmup steps. Default 5% of steps. */
  warmupSteps?: number;
  /** Steps between checkpoints. Default 50. */
  checkpointEvery?: number;
  /** Checkpoints without optimiser moments (a third of the size; a resume restarts the moments). Default false. */
  checkpointWeightsOnly?: boolean;
  /** Checkpoints kept besides the best one. Default 3. */
  keepLast?: number;
  /** Batches prepared ahead of the native step. Default 2. */
  prefetch?: number;
  /** Steps with a non-finite loss or gradient (skipped) a run may take before it stops. Default 10. */
  maxNonFiniteSteps?: number;
  /** Stop when a monitored metric stops improving; see the Trainer's EarlyStoppingOptions. Default: off. */
  earlyStopping?: EarlyStoppingOptions<MonitoredMetric>;
  /** Seed of weights, data sampling and views, 0 to 2^32 - 1 (the batch sampler is 32-bit). Default 0. */
  seed?: number;
  /** Output folder (checkpoints/, metrics.jsonl). Default runs/demo-<dims>d or runs/pretrain-<dims>d. */
  out?: string;
  /** Continue from the latest checkpoint in `out`. Default false. */
  resume?: boolean;
  /** Least severe log level printed. Default "info". */
  logLevel?: LogLevel;
}

export type PretrainConfigInput = z.input<typeof pretrainConfigSchema>;
type ParsedConfig = z.output<typeof pretrainConfigSchema>;

/** A run's configuration with every default decided. */
export interface ResolvedPretrainConfig extends Omit<
  ParsedConfig,
  'data' | 'training' | 'steps' | 'batchSize' | 'out'
> {
  data: ResolvedDataOptions | undefined;
  training: ParsedConfig['training'] & { cropSize: SpatialSize<2 | 3> };
  steps: number;
  batchSize: number;
  warmupSteps: number;
  out: string;
}

/**
 * Validates a configuration object and decides the defaults that depend on `dims` and on
 * demo versus real data. `origin` names where it came from in error messages.
 */
export function resolvePretrainConfig(value: unknown, origin = 'configuration'): ResolvedPretrainConfig {
  const prefix = `Invalid ${origin}: `;
  const config = parseOptions(pretrainConfigSchema, value, 'the configuration', prefix);
  const { dims, demo } = config;
  if (demo === (config.data !== undefined)) {
    throw new ConfigError(
      [demo ? 'Use either demo: true or data, not both' : 'Expected data.sources (your images) or demo: true'],
      prefix,
      ['data'],
    );
  }
  const cropSide = dims === 2 ? (demo ? 64 : 128) : demo ? 32 : 64;
  const cropSize = config.training.cropSize ?? new Array<number>(dims).fill(cropSide);
  if (cropSize.length !== dims) {
    throw new ConfigError(
      [
        `Expected an array of ${dims} integers for training.cropSize (dims is ${dims}) but received [${cropSize.join(', ')}]`,
      ],
      prefix,
      ['training.cropSize'],
    );
  }
  const steps = config.steps ?? (demo ? (dims === 2 ? 300 : 60) : 2000);
  if (config.warmupSteps !== undefined && config.warmupSteps > steps)
    throw new ConfigError(
      [`Expected warmupSteps between 0 and steps (${steps}) but received ${config.warmupSteps}`],
      prefix,
      ['warmupSteps'],
    );
  return {
    ...config,
    data: config.data,
    // One side per dimension, checked above.
    training: { ...config.training, cropSize: cropSize as SpatialSize<2 | 3> },
    steps,
    batchSize: config.batchSize ?? (dims === 2 ? 4 : 1),
    warmupSteps: config.warmupSteps ?? Math.floor(steps * 0.05),
    out: config.out ?? `runs/${demo ? 'demo' : 'pretrain'}-${dims}d`,
  };
}
