import type { z } from 'zod';
import { boolean, choice, integer, list, multipleOf, number, section } from '../config/fields';
import { parseOptions } from '../config/parseOptions';
import type { RawTrainOptions } from '../native/binding';

/**
 * Training options: one schema gives the types, the checks and the defaults, so a run's
 * config.yaml records every value that produced it. The native structs
 * (native/core/views.h, trainer.h) carry the same defaults for C++ callers; a test trains
 * with each set and requires identical steps.
 */

/** Peak learning rate of the default warmup + cosine schedule (Adam; see the README for why). */
export const DEFAULT_LEARNING_RATE = 1e-4;

/** How the two views of each image are made (COVER-SPEC section 1). */
export const viewOptionsSchema = section({
  /** Transform strength g (rotation g*pi/9, scale 1 +- g/2, translation 0.2*g*image size, shear g*pi/32). Default 0.5; below 2 so the scale stays positive. */
  degree: number(0, 1.9).default(0.5),
  /** Elastic displacement: standard deviation of each component, in voxels; 0 turns it off. Default 0. */
  elasticAmplitude: number(0).default(0),
  /** Smoothing of the elastic noise, voxels. Default 8. */
  elasticSigma: number(0).default(8),
  /** Noise, contrast, brightness and in-painting on the moving view. Default true. */
  appearance: boolean().default(true),
  /** Upper bound of the Gaussian noise std. Default 0.02. */
  noiseStdMax: number(0).default(0.02),
  /** Contrast factor range about the mean. Default 0.5 and 1.5. */
  contrastMin: number(0).default(0.5),
  contrastMax: number(0).default(1.5),
  /** Brightness shift std. Default 0.1. */
  brightnessStd: number(0).default(0.1),
  /** In-painting: at most this many boxes, each added with `inpaintProbability`. Default 10 and 0.95. */
  inpaintMaxBoxes: integer(0, 1000).default(10),
  inpaintProbability: number(0, 1).default(0.95),
  /** Box side as a fraction of the crop. Default 0.10 to 0.133. */
  inpaintMinFraction: number(0, 1).default(0.1),
  inpaintMaxFraction: number(0, 1).default(0.133),
});

/** The optimiser. Learning rates come per step from the caller's schedule. */
export const optimizerOptionsSchema = section({
  /** `adam` (L2 weight decay, the reference), `adamw` (decoupled) or `sgd`. Default `adam`. */
  kind: choice(['adam', 'adamw', 'sgd']).default('adam'),
  /** Default 1e-4. */
  weightDecay: number(0).default(1e-4),
  /** Adam betas and eps. Default 0.9, 0.999, 1e-8. */
  beta1: number(0, 0.999999).default(0.9),
  beta2: number(0, 0.999999).default(0.999),
  eps: number(0).default(1e-8),
  /** SGD momentum and Nesterov. Default 0.9, false. */
  momentum: number(0).default(0.9),
  nesterov: boolean().default(false),
});

/** Everything but the crop size, which depends on the model's dims (the pretrain config uses these too). */
export const trainingFields = {
  views: viewOptionsSchema.prefault({}),
  optimizer: optimizerOptionsSchema.prefault({}),
  /** Maximum global gradient norm; 0 disables clipping. Default 1. */
  gradClip: number(0).default(1),
  /** lambda in L = L_vec + lambda * L_con. Default 1. */
  consistencyWeight: number(0).default(1),
  /**
   * What L_con compares between F1 and the warped M1: `backbone` (the features themselves,
   * as the spec), `centered` (minus their spatial mean per channel, so that a constant map
   * no longer satisfies it) or `projection` (the finest MoV's projected features).
   */
  consistencyFeatures: choice(['backbone', 'centered', 'projection']).default('backbone'),
  /** lambda ramps up linearly over this many steps. Default 0 (full weight from the start). */
  consistencyWarmupSteps: integer(0).default(0),
  /** Seed of the view generator. Default 0. */
  seed: integer(0).default(0),
};

const cropSide = multipleOf(16, 16);

/** The training schema for a model of `dims` spatial dimensions. */
export function trainingOptionsSchema(dims: 2 | 3) {
  return section({
    /** Crop size per spatial axis, each a multiple of 16; training images should be ~1.5x larger. */
    cropSize: list(cropSide, `an array of ${dims} integers`, dims, dims),
    ...trainingFields,
  });
}

export type ViewOptions = z.input<typeof viewOptionsSchema>;
export type OptimizerOptions = z.input<typeof optimizerOptionsSchema>;
export type TrainingOptions = z.input<ReturnType<typeof trainingOptionsSchema>>;

/** Validates training options for a model of `dims` dimensions into the addon's form. */
export function resolveTrainingOptions(options: unknown, dims: 2 | 3): RawTrainOptions {
  const { cropSize, views, optimizer, ...rest } = parseOptions(
    trainingOptionsSchema(dims),
    options,
    'training options',
  );
  return { ...rest, views: { ...views, cropSize }, optimizer: { ...optimizer } };
}
