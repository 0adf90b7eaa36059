import { boolean, integer, list, number, section } from '../config/fields';
import { parseOptions } from '../config/parseOptions';
import type { RawSegmentationOptions } from '../native/binding';
import { optimizerOptionsSchema, type OptimizerOptions } from '../model/trainingOptions';

/** Options of a {@link Segmenter}: its head and how it is trained. */
export interface SegmenterOptions {
  /** Number of classes K (labels 0..K-1), 2 to 1024. */
  classes: number;
  /** One weight per class for both loss terms (cross-entropy and Dice). Default: all 1. */
  classWeights?: number[];
  /** Voxels with this label add nothing to the loss or to evaluation. Default: none. */
  ignoreLabel?: number;
  /**
   * Train the head only (a linear probe of the frozen pretrained features; a step is a
   * forward pass) instead of the whole backbone with it. Default false.
   */
  freezeEncoder?: boolean;
  /** Weight of the soft Dice term: L = CE + diceWeight * (1 - Dice). Default 1. */
  diceWeight?: number;
  /** Maximum global gradient norm; 0 disables clipping. Default 1. */
  gradClip?: number;
  /** The optimiser (Adam with weight decay 1e-4 by default, as for pretraining). */
  optimizer?: OptimizerOptions;
  /** Seed of the head's initial weights. Default: a fresh random one. */
  seed?: number;
}

export const segmenterOptionsSchema = section({
  classes: integer(2, 1024),
  classWeights: list(number(0), 'an array of non-negative numbers').optional(),
  ignoreLabel: integer(0, 2 ** 31 - 1).optional(),
  freezeEncoder: boolean().default(false),
  diceWeight: number(0).default(1),
  gradClip: number(0).default(1),
  optimizer: optimizerOptionsSchema.prefault({}),
  seed: integer(0).optional(),
}).superRefine((options, context) => {
  const weights = options.classWeights;
  if (weights && weights.length !== options.classes)
    context.addIssue({
      code: 'custom',
      path: ['classWeights'],
      input: weights,
      message: `one weight per class (${options.classes})`,
    });
  else if (weights && weights.every((w) => w === 0))
    context.addIssue({ code: 'custom', path: ['classWeights'], input: weights, message: 'at least one weight > 0' });
});

export type ResolvedSegmenterOptions = RawSegmentationOptions & { seed?: number; freezeEncoder: boolean };

/** Checks options and fills the defaults. */
export function resolveSegmenterOptions(options: unknown): ResolvedSegmenterOptions {
  const { optimizer, ...rest } = parseOptions(segmenterOptionsSchema, options, 'segmenter options');
  return { ...rest, optimizer: { ...optimizer } };
}
