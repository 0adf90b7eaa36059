import type { RawTrainOptions } from '../native/binding';
import {
  checkBoolean,
  checkChoice,
  checkInteger,
  checkIntegerArray,
  checkKnownKeys,
  checkNumber,
  checkObject,
} from '../validate';

/** How the two views of each image are made (COVER-SPEC section 1). */
export interface ViewOptions {
  /** Transform strength g (rotation g*pi/9, scale 1 +- g/2, translation 0.2*g*crop, shear g*pi/32). Default 0.5. */
  degree?: number;
  /** Elastic displacement amplitude in voxels; 0 turns it off. Default 0. */
  elasticAmplitude?: number;
  /** Smoothing of the elastic noise, voxels. Default 8. */
  elasticSigma?: number;
  /** Noise, contrast, brightness and in-painting on the moving view. Default true. */
  appearance?: boolean;
  /** Upper bound of the Gaussian noise std. Default 0.02. */
  noiseStdMax?: number;
  /** Contrast factor range about the mean. Default 0.5 and 1.5. */
  contrastMin?: number;
  contrastMax?: number;
  /** Brightness shift std. Default 0.1. */
  brightnessStd?: number;
  /** In-painting: at most this many boxes, each added with `inpaintProbability`. Default 10 and 0.95. */
  inpaintMaxBoxes?: number;
  inpaintProbability?: number;
  /** Box side as a fraction of the crop. Default 0.10 to 0.133. */
  inpaintMinFraction?: number;
  inpaintMaxFraction?: number;
}

/** The optimiser. Learning rates come per step from the caller's schedule. */
export interface OptimizerOptions {
  /** `adam` (L2 weight decay, the reference), `adamw` (decoupled) or `sgd`. Default `adam`. */
  kind?: 'adam' | 'adamw' | 'sgd';
  /** Default 1e-4. */
  weightDecay?: number;
  /** Adam betas and eps. Default 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** SGD momentum and Nesterov. Default 0.9, false. */
  momentum?: number;
  nesterov?: boolean;
}

export interface TrainingOptions {
  /** Crop size per spatial axis, each a multiple of 16; training images should be ~1.5x larger. */
  cropSize: number[];
  views?: ViewOptions;
  optimizer?: OptimizerOptions;
  /** Maximum global gradient norm; 0 disables clipping. Default 1. */
  gradClip?: number;
  /** lambda in L = L_vec + lambda * L_con. Default 1. */
  consistencyWeight?: number;
  /** lambda ramps up linearly over this many steps. Default 0 (full weight from the start). */
  consistencyWarmupSteps?: number;
  /** Seed of the view generator. Default 0. */
  seed?: number;
}

const VIEW_KEYS = [
  'degree',
  'elasticAmplitude',
  'elasticSigma',
  'appearance',
  'noiseStdMax',
  'contrastMin',
  'contrastMax',
  'brightnessStd',
  'inpaintMaxBoxes',
  'inpaintProbability',
  'inpaintMinFraction',
  'inpaintMaxFraction',
] as const;
const OPTIMIZER_KEYS = ['kind', 'weightDecay', 'beta1', 'beta2', 'eps', 'momentum', 'nesterov'] as const;
const KEYS = [
  'cropSize',
  'views',
  'optimizer',
  'gradClip',
  'consistencyWeight',
  'consistencyWarmupSteps',
  'seed',
] as const;

/** Validates training options for a model of `dims` dimensions into the addon's form. */
export function resolveTrainingOptions(options: unknown, dims: number): RawTrainOptions {
  checkObject(options, 'training options');
  checkKnownKeys(options, KEYS, 'training options');
  const cropSize = checkIntegerArray(options.cropSize, 'cropSize', dims, 16);
  cropSize.forEach((size, i) => {
    if (size % 16 !== 0) throw new RangeError(`Expected a multiple of 16 for cropSize[${i}] but received ${size}`);
  });
  const views: Record<string, number | boolean | number[]> = { cropSize };
  if (options.views !== undefined) {
    checkObject(options.views, 'views');
    checkKnownKeys(options.views, VIEW_KEYS, 'views');
    for (const [key, value] of Object.entries(options.views)) {
      if (key === 'appearance') views[key] = checkBoolean(value, `views.${key}`);
      else if (key === 'inpaintMaxBoxes') views[key] = checkInteger(value, `views.${key}`, 0, 1000);
      else if (key === 'inpaintProbability' || key.endsWith('Fraction'))
        views[key] = checkNumber(value, `views.${key}`, 0, 1);
      else views[key] = checkNumber(value, `views.${key}`, 0);
    }
  }
  const optimizer: Record<string, number | boolean | string> = {};
  if (options.optimizer !== undefined) {
    checkObject(options.optimizer, 'optimizer');
    checkKnownKeys(options.optimizer, OPTIMIZER_KEYS, 'optimizer');
    for (const [key, value] of Object.entries(options.optimizer)) {
      if (key === 'kind') optimizer[key] = checkChoice(value, 'optimizer.kind', ['adam', 'adamw', 'sgd'] as const);
      else if (key === 'nesterov') optimizer[key] = checkBoolean(value, 'optimizer.nesterov');
      else if (key === 'beta1' || key === 'beta2') optimizer[key] = checkNumber(value, `optimizer.${key}`, 0, 0.999999);
      else optimizer[key] = checkNumber(value, `optimizer.${key}`, 0);
    }
  }
  const raw: RawTrainOptions = { views, optimizer };
  if (options.gradClip !== undefined) raw.gradClip = checkNumber(options.gradClip, 'gradClip', 0);
  if (options.consistencyWeight !== undefined)
    raw.consistencyWeight = checkNumber(options.consistencyWeight, 'consistencyWeight', 0);
  if (options.consistencyWarmupSteps !== undefined) {
    raw.consistencyWarmupSteps = checkInteger(options.consistencyWarmupSteps, 'consistencyWarmupSteps', 0);
  }
  if (options.seed !== undefined) raw.seed = checkInteger(options.seed, 'seed', 0);
  return raw;
}
