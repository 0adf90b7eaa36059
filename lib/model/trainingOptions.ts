import type { z } from 'zod';
import { boolean, choice, integer, list, multipleOf, number, section } from '../config/fields';
import { parseOptions } from '../config/parseOptions';
import type { RawTrainOptions } from '../native/binding';

/**
 * Training options. The interfaces below are the documented public types; the schemas give
 * the checks and the defaults (so a run's config.yaml records every value that produced
 * it), and test/unit/optionTypes.test.ts requires the two to describe the same objects. The
 * native structs (native/core/views.h, trainer.h) carry the same defaults for C++ callers;
 * test/native/trainingDefaults.test.ts trains with each set and requires identical steps.
 */

/** Peak learning rate of the default warmup + cosine schedule (Adam; see the README for why). */
export const DEFAULT_LEARNING_RATE = 1e-4;

/** How the two views of each image are made (COVER-SPEC section 1). */
export interface ViewOptions {
  /**
   * Transform strength g: rotation U(+-g pi/9) per angle, scale U(1 +- g/2) per axis,
   * translation U(+-0.2 g) of the source image's size per axis, shear U(+-g pi/32).
   * Default 0.5 (keeps over 80% of valid voxels within the network's reach); below 2 so
   * the scale stays positive.
   */
  degree?: number;
  /**
   * Elastic displacement: standard deviation of each component, in voxels; 0 turns it off.
   * Default 3 (the reference has none; see the README's "Does pretraining help?").
   */
  elasticAmplitude?: number;
  /** Gaussian smoothing of the elastic noise, voxels (at least 0.5 while elastic is on). Default 8. */
  elasticSigma?: number;
  /** Noise, contrast, brightness and in-painting on the moving view. Default true. */
  appearance?: boolean;
  /** Upper bound of the Gaussian noise std, drawn U(0, noiseStdMax). Default 0.02. */
  noiseStdMax?: number;
  /** Lower bound of the contrast factor about the mean. Default 0.5. */
  contrastMin?: number;
  /** Upper bound of the contrast factor about the mean. Default 1.5. */
  contrastMax?: number;
  /** Standard deviation of the brightness shift. Default 0.1. */
  brightnessStd?: number;
  /** In-painting: at most this many boxes of U(0, 1) noise. Default 10. */
  inpaintMaxBoxes?: number;
  /** Probability of adding each further box. Default 0.95. */
  inpaintProbability?: number;
  /** Smallest box side as a fraction of the crop. Default 0.1. */
  inpaintMinFraction?: number;
  /** Largest box side as a fraction of the crop. Default 0.133. */
  inpaintMaxFraction?: number;
}

/** The optimiser. Learning rates come per step from the caller's schedule. */
export interface OptimizerOptions {
  /** `adam` (L2 weight decay, the reference), `adamw` (decoupled) or `sgd`. Default `adam`. */
  kind?: 'adam' | 'adamw' | 'sgd';
  /** Weight decay (L2 for adam and sgd, decoupled for adamw). Default 1e-4. */
  weightDecay?: number;
  /** Adam's beta1. Default 0.9. */
  beta1?: number;
  /** Adam's beta2. Default 0.999. */
  beta2?: number;
  /** Adam's epsilon. Default 1e-8. */
  eps?: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** SGD with Nesterov momentum. Default false. */
  nesterov?: boolean;
}

/** Training options but the crop size (the pretrain config uses these too). */
export interface TrainingFields {
  /** How the two views are made. */
  views?: ViewOptions;
  /** The optimiser. */
  optimizer?: OptimizerOptions;
  /** Maximum global gradient norm; 0 disables clipping. Default 1. */
  gradClip?: number;
  /** lambda in L = L_vec + lambda * L_con. Default 1. */
  consistencyWeight?: number;
  /**
   * What L_con compares between F1 and the warped M1: `backbone` (the features themselves,
   * as the spec), `centered` (minus their spatial mean per channel, so that a constant map
   * no longer satisfies it) or `projection` (the finest MoV's projected features). Default
   * `backbone`.
   */
  consistencyFeatures?: 'backbone' | 'centered' | 'projection';
  /** lambda ramps up linearly over this many steps. Default 0 (full weight from the start). */
  consistencyWarmupSteps?: number;
  /**
   * Recompute the backbone's activations in backward instead of keeping them: only each
   * U-Net stage's inputs are kept, for one more backbone forward pass in backward (3D
   * 96^3: 3.3 GB instead of 5.1 GB peak, 30% more time). Same results. Default false.
   */
  recompute?: boolean;
  /**
   * `bf16`: run the backbone (U-Net) under bfloat16 autocast in training steps, with the
   * projections, MoV and losses in float32: faster and lighter on GPUs with bf16 units
   * (on CPUs without bf16 units it is much slower: 25x measured on a 2-core x86 machine).
   * Not with `recompute`. Default `none` (float32 throughout).
   */
  mixedPrecision?: 'none' | 'bf16';
  /**
   * Time the step's phases (views, forward, backward, optimiser) on a GPU, which waits for
   * the device after each. Off by default there: the step then waits once, and the phase
   * timings are NaN (the whole step's time is always measured). On the CPU phases are
   * always timed (nothing to wait for). Default false.
   */
  phaseTimings?: boolean;
  /** Seed of the view generator. Default 0. */
  seed?: number;
}

/** One size per spatial axis of a `D`-dimensional model: [H, W] or [D, H, W]. */
export type SpatialSize<D extends 2 | 3> = D extends 2 ? [number, number] : [number, number, number];

/**
 * Options of `CoverModel.configureTraining` for a model of `D` spatial dimensions (a
 * `CoverModel<2>` takes a crop of two sides only; with `D` unknown, either is accepted
 * and the model checks it).
 */
export interface TrainingOptions<D extends 2 | 3 = 2 | 3> extends TrainingFields {
  /** Crop size per spatial axis (one per model dim), each a multiple of 16; training images should be ~1.5x larger. */
  cropSize: SpatialSize<D>;
}

// The schemas: checks and defaults of the interfaces above, field by field.
/** The least elastic smoothing, voxels (see the check below). */
const MIN_ELASTIC_SIGMA = 0.5;

export const viewOptionsSchema = section({
  degree: number(0, 1.9).default(0.5),
  elasticAmplitude: number(0, 1000).default(3),
  elasticSigma: number(0, 1000).default(8),
  appearance: boolean().default(true),
  // Intensities are about [0, 1]: larger noise or shifts only destroy the images.
  noiseStdMax: number(0, 1).default(0.02),
  contrastMin: number(0, 100).default(0.5),
  contrastMax: number(0, 100).default(1.5),
  brightnessStd: number(0, 1).default(0.1),
  inpaintMaxBoxes: integer(0, 1000).default(10),
  inpaintProbability: number(0, 1).default(0.95),
  inpaintMinFraction: number(0, 1).default(0.1),
  inpaintMaxFraction: number(0, 1).default(0.133),
}).superRefine((views, context) => {
  // Pairs are checked here, not at the first training step.
  const atLeast = (field: keyof typeof views, other: keyof typeof views, what: string) => {
    if ((views[field] as number) < (views[other] as number))
      context.addIssue({
        code: 'custom',
        path: [field],
        input: views,
        message: `${what} >= ${other} (${views[other]})`,
      });
  };
  atLeast('contrastMax', 'contrastMin', 'a number');
  atLeast('inpaintMaxFraction', 'inpaintMinFraction', 'a fraction');
  // Below half a voxel the kernel is [0, 1, 0] (unsmoothed noise that folds the field
  // everywhere), and far below it its variance underflows: NaN fields, every step skipped.
  if (views.elasticAmplitude > 0 && views.elasticSigma < MIN_ELASTIC_SIGMA)
    context.addIssue({
      code: 'custom',
      path: ['elasticSigma'],
      input: views,
      message: `a smoothing of at least ${MIN_ELASTIC_SIGMA} voxels while elasticAmplitude is on`,
    });
});

export const optimizerOptionsSchema = section({
  kind: choice(['adam', 'adamw', 'sgd']).default('adam'),
  weightDecay: number(0).default(1e-4),
  beta1: number(0, 0.999999).default(0.9),
  beta2: number(0, 0.999999).default(0.999),
  eps: number(0).default(1e-8),
  momentum: number(0).default(0.9),
  nesterov: boolean().default(false),
}).superRefine((optimizer, context) => {
  // LibTorch refuses this only at the first step.
  if (optimizer.kind === 'sgd' && optimizer.nesterov && optimizer.momentum <= 0)
    context.addIssue({
      code: 'custom',
      path: ['momentum'],
      input: optimizer.momentum,
      message: 'a number > 0 while nesterov is on',
    });
});

export const trainingFields = {
  views: viewOptionsSchema.prefault({}),
  optimizer: optimizerOptionsSchema.prefault({}),
  gradClip: number(0).default(1),
  consistencyWeight: number(0).default(1),
  consistencyFeatures: choice(['backbone', 'centered', 'projection']).default('backbone'),
  consistencyWarmupSteps: integer(0).default(0),
  recompute: boolean().default(false),
  mixedPrecision: choice(['none', 'bf16']).default('none'),
  phaseTimings: boolean().default(false),
  seed: integer(0).default(0),
};

const cropSide = multipleOf(16, 16);

/** The training schema for a model of `dims` spatial dimensions. */
export function trainingOptionsSchema(dims: 2 | 3) {
  return section({
    cropSize: list(cropSide, `an array of ${dims} integers`, dims, dims),
    ...trainingFields,
  });
}

/** What the schema accepts: must equal TrainingOptions (checked in the tests). */
export type TrainingOptionsInput = z.input<ReturnType<typeof trainingOptionsSchema>>;

/** Validates training options for a model of `dims` dimensions into the addon's form. */
export function resolveTrainingOptions(options: unknown, dims: 2 | 3): RawTrainOptions {
  const { cropSize, views, optimizer, ...rest } = parseOptions(
    trainingOptionsSchema(dims),
    options,
    'training options',
  );
  if (rest.recompute && rest.mixedPrecision === 'bf16')
    throw new RangeError(
      'recompute and mixedPrecision "bf16" cannot be combined (the recomputed backward would run in float32); choose one',
    );
  return { ...rest, views: { ...views, cropSize }, optimizer: { ...optimizer } };
}
