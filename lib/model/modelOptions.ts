import { z } from 'zod';
import { device, integer, multipleOf, section, tuple5 } from '../config/fields';
import { parseOptions } from '../config/parseOptions';

/** Sizes of a COVER network. Defaults are the method's. Source of both the type and the checks. */
export const modelOptionsSchema = section({
  /** Spatial dimensions: 2 (images) or 3 (volumes). */
  dims: z.literal([2, 3], { error: '2 or 3' }),
  /** Image channels. Default 1. */
  inChannels: integer(1, 4096).default(1),
  /** U-Net encoder widths, fine to coarse; multiples of 8. Default [32, 64, 128, 256, 512]. */
  channels: tuple5(multipleOf(8, 8, ' (GroupNorm uses C/8 groups)'), 'an array of 5 integers').default([
    32, 64, 128, 256, 512,
  ]),
  /** Channels per MoV head. Default 8. */
  headDim: integer(1, 4096).default(8),
  /** MoV heads per pyramid level, coarse (1/16) to fine. Default [4, 4, 4, 1, 1]. */
  heads: tuple5(integer(1, 64), 'an array of 5 integers').default([4, 4, 4, 1, 1]),
  /** MoV window radius r: the window is (2r+1)^n; the network reaches 31 r voxels. Default 2. */
  radius: integer(1, 8).default(2),
  /**
   * Seed of the model's own generator for weight initialisation (the process-wide RNG is
   * never used, so models created concurrently get the same weights as one after the
   * other). Default: a fresh random seed.
   */
  seed: integer(0).optional(),
  /** Where the model lives and computes: 'cpu', 'cuda', 'cuda:N' or 'auto'. Default 'cpu'. */
  device: device().default('cpu'),
});

export type ModelOptions = z.input<typeof modelOptionsSchema>;
export type ResolvedModelOptions = z.output<typeof modelOptionsSchema>;

/** Validates model options and fills in defaults. */
export function resolveModelOptions(options: unknown): ResolvedModelOptions {
  return parseOptions(modelOptionsSchema, options, 'model options');
}
