import { checkInteger, checkIntegerArray, checkKnownKeys, checkObject } from '../validate';

/** Sizes of a COVER network. Defaults are the method's. */
export interface ModelOptions {
  /** Spatial dimensions: 2 (images) or 3 (volumes). */
  dims: 2 | 3;
  /** Image channels. Default 1. */
  inChannels?: number;
  /** U-Net encoder widths, fine to coarse; multiples of 8. Default [32, 64, 128, 256, 512]. */
  channels?: [number, number, number, number, number];
  /** Channels per MoV head. Default 8. */
  headDim?: number;
  /** MoV heads per pyramid level, coarse (1/16) to fine. Default [4, 4, 4, 1, 1]. */
  heads?: [number, number, number, number, number];
  /** MoV window radius r: the window is (2r+1)^n; the network reaches 31 r voxels. Default 2. */
  radius?: number;
  /** Seed for weight initialisation. Default: LibTorch's current RNG. */
  seed?: number;
}

export const MODEL_DEFAULTS = {
  inChannels: 1,
  channels: [32, 64, 128, 256, 512] as [number, number, number, number, number],
  headDim: 8,
  heads: [4, 4, 4, 1, 1] as [number, number, number, number, number],
  radius: 2,
};

const KEYS = ['dims', 'inChannels', 'channels', 'headDim', 'heads', 'radius', 'seed'] as const;

export type ResolvedModelOptions = Required<Omit<ModelOptions, 'seed'>> & { seed?: number };

/** Validates model options and fills in defaults. */
export function resolveModelOptions(options: unknown): ResolvedModelOptions {
  checkObject(options, 'model options');
  checkKnownKeys(options, KEYS, 'model options');
  if (options.dims !== 2 && options.dims !== 3) {
    throw new TypeError(`Expected 2 or 3 for dims but received ${JSON.stringify(options.dims)}`);
  }
  const channels = checkIntegerArray(options.channels ?? MODEL_DEFAULTS.channels, 'channels', 5, 8);
  channels.forEach((c, i) => {
    if (c % 8 !== 0)
      throw new RangeError(`Expected a multiple of 8 for channels[${i}] (GroupNorm uses C/8 groups) but received ${c}`);
  });
  const resolved = {
    dims: options.dims as 2 | 3,
    inChannels: checkInteger(options.inChannels ?? MODEL_DEFAULTS.inChannels, 'inChannels', 1, 4096),
    channels: channels as [number, number, number, number, number],
    headDim: checkInteger(options.headDim ?? MODEL_DEFAULTS.headDim, 'headDim', 1, 4096),
    heads: checkIntegerArray(options.heads ?? MODEL_DEFAULTS.heads, 'heads', 5, 1) as [
      number,
      number,
      number,
      number,
      number,
    ],
    radius: checkInteger(options.radius ?? MODEL_DEFAULTS.radius, 'radius', 1, 8),
  };
  if (options.seed === undefined) return resolved;
  return { ...resolved, seed: checkInteger(options.seed, 'seed', 0) };
}
