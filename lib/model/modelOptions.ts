import { z } from 'zod';
import { device, integer, multipleOf, section, tuple5 } from '../config/fields';
import { parseOptions } from '../config/parseOptions';

/** Sizes of a COVER network and where it lives. Defaults are the method's. */
export interface ModelOptions {
  /** Spatial dimensions: 2 (images) or 3 (volumes). */
  dims: 2 | 3;
  /** Image channels. Default 1. */
  inChannels?: number;
  /** U-Net encoder widths, fine to coarse; multiples of 8 (GroupNorm uses C/8 groups), at most 2048. Default [32, 64, 128, 256, 512]. */
  channels?: [number, number, number, number, number];
  /** Channels per MoV head. Default 8. */
  headDim?: number;
  /** MoV heads per pyramid level, coarse (1/16) to fine. Default [4, 4, 4, 1, 1]. */
  heads?: [number, number, number, number, number];
  /** MoV window radius r: the window is (2r+1)^n; the network reaches 31 r voxels. Default 2. */
  radius?: number;
  /**
   * Seed of the model's own generator for weight initialisation (the process-wide RNG is
   * never used, so models created concurrently get the same weights as one after the
   * other). Default: a fresh random seed.
   */
  seed?: number;
  /** Where the model lives and computes: 'cpu', 'cuda', 'cuda:N' or 'auto'. Default 'cpu'. */
  device?: string;
}

/** Checks and defaults of {@link ModelOptions}, field by field (the tests require the two to match). */
export const modelOptionsSchema = section({
  dims: z.literal([2, 3], { error: '2 or 3' }),
  inChannels: integer(1, 4096).default(1),
  // 2048 bounds what one option can allocate (a 2048-wide 3D level is already ~1 GB of weights).
  channels: tuple5(multipleOf(8, 8, ' (GroupNorm uses C/8 groups)', 2048), 'an array of 5 integers').default([
    32, 64, 128, 256, 512,
  ]),
  headDim: integer(1, 4096).default(8),
  heads: tuple5(integer(1, 64), 'an array of 5 integers').default([4, 4, 4, 1, 1]),
  radius: integer(1, 8).default(2),
  seed: integer(0).optional(),
  device: device().default('cpu'),
});

/** What the schema accepts: must equal ModelOptions (checked in the tests). */
export type ModelOptionsInput = z.input<typeof modelOptionsSchema>;
export type ResolvedModelOptions = z.output<typeof modelOptionsSchema>;

/** Validates model options and fills in defaults. */
export function resolveModelOptions(options: unknown): ResolvedModelOptions {
  return parseOptions(modelOptionsSchema, options, 'model options');
}
