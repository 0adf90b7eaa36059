import { z } from 'zod';
import { choice, number, positive, section } from '../../config/fields';
import { parseOptions } from '../../config/parseOptions';
import type { ImageVolume } from './ImageVolume';

/**
 * Maps intensities to [0, 1] before pretraining, so MR (arbitrary units) and CT (HU) inputs
 * reach the network on one scale. Returns a new volume; the input is never changed.
 *
 * Non-finite voxels: NaN becomes 0; +/-Infinity is left out of percentiles and min/max and then
 * clipped to 1 or 0 like any value outside the range.
 */

/** CT windows as [centre, width] in HU (common radiology defaults). */
export const CT_WINDOW_PRESETS = {
  'soft-tissue': [40, 400],
  lung: [-600, 1500],
  /** The wide bone window (W 1800, L 400) rather than the narrower 1500/300 some viewers use. */
  bone: [400, 1800],
  brain: [40, 80],
  liver: [60, 150],
  mediastinum: [50, 350],
} as const satisfies Record<string, readonly [number, number]>;

export type CtWindowPreset = keyof typeof CT_WINDOW_PRESETS;

const presetNames = Object.keys(CT_WINDOW_PRESETS) as [CtWindowPreset, ...CtWindowPreset[]];

/** The normalisations: the schema behind NormalizeSpec, its checks and data.normalize in configs. */
export const normalizationSchema = z.discriminatedUnion(
  'kind',
  [
    /** Clip to the lower/upper percentiles of all voxels, then scale to [0, 1]. Defaults 0.5 and 99.5. */
    section({
      kind: z.literal('percentile'),
      lower: number(0, 100).default(0.5),
      upper: number(0, 100).default(99.5),
    }).refine((spec) => spec.lower < spec.upper, { error: 'a percentile above lower', path: ['upper'] }),
    /** Clip to [centre - width / 2, centre + width / 2], then scale to [0, 1]. */
    section({ kind: z.literal('window'), center: number(), width: positive() }),
    /** A named CT window from CT_WINDOW_PRESETS (values in HU). */
    section({ kind: z.literal('ct'), preset: choice(presetNames) }),
    /** Scale the minimum to 0 and the maximum to 1. */
    section({ kind: z.literal('minmax') }),
    /** Leave the intensities as they are (the same volume object is returned). */
    section({ kind: z.literal('none') }),
  ],
  { error: 'an object with kind "percentile", "window", "ct", "minmax" or "none"' },
);

export type NormalizeSpec = z.input<typeof normalizationSchema>;

/** Bins of the percentile histogram (see percentiles()). */
export const PERCENTILE_BINS = 4096;

export function normalizeIntensity(volume: ImageVolume, options: NormalizeSpec): ImageVolume {
  const spec = parseOptions(normalizationSchema, options, 'normalize');
  switch (spec.kind) {
    case 'none':
      return volume;
    case 'minmax': {
      const { min, max } = finiteRange(volume.data);
      return scaled(volume, min, max);
    }
    case 'percentile': {
      const [low, high] = percentiles(volume.data, [spec.lower, spec.upper]);
      return scaled(volume, low!, high!);
    }
    case 'window':
      return scaled(volume, spec.center - spec.width / 2, spec.center + spec.width / 2);
    case 'ct': {
      const [center, width] = CT_WINDOW_PRESETS[spec.preset];
      return scaled(volume, center - width / 2, center + width / 2);
    }
  }
}

/** (v - low) / (high - low) clipped to [0, 1]; all zeros when high <= low (a constant image). */
function scaled(volume: ImageVolume, low: number, high: number): ImageVolume {
  const data = new Float32Array(volume.data.length);
  const width = high - low;
  if (width > 0) {
    const source = volume.data;
    for (let i = 0; i < data.length; i++) {
      const v = (source[i]! - low) / width;
      data[i] = v > 1 ? 1 : v > 0 ? v : 0; // NaN fails both tests and becomes 0
    }
  }
  return { ...volume, data, shape: [...volume.shape], spacing: [...volume.spacing], affine: [...volume.affine] };
}

function finiteRange(data: Float32Array): { min: number; max: number; count: number } {
  let min = Infinity;
  let max = -Infinity;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) continue; // NaN or +/-Infinity
    if (v < min) min = v;
    if (v > max) max = v;
    count++;
  }
  return { min, max, count };
}

/**
 * Percentiles (0..100) of the finite values, as numpy's default (linear interpolation between
 * order statistics), without sorting all voxels: a 4096-bin histogram over [min, max] finds the
 * bin holding each needed order statistic; a bin whose values are all equal gives it directly,
 * and otherwise that bin's values (up to 2^20 of them) are gathered and sorted, so the result
 * is exact. Only when one bin holds more than 2^20 different values is the order statistic
 * interpolated inside the bin, exact then to within one bin, (max - min) / 4096.
 */
export function percentiles(data: Float32Array, ps: number[]): number[] {
  const { min, max, count } = finiteRange(data);
  if (count === 0) return ps.map(() => 0);
  if (max === min) return ps.map(() => min);
  const binCount = PERCENTILE_BINS;
  const scale = binCount / (max - min);
  // No Math.* or global constants in the per-voxel loops: inside a vm context (jest) every
  // global lookup goes through an interceptor and makes these loops 50x slower.
  const last = binCount - 1;
  const binOf = (v: number) => {
    const b = ((v - min) * scale) | 0; // v >= min, so truncation is floor
    return b > last ? last : b;
  };
  const counts = new Float64Array(binCount);
  const lows = new Float64Array(binCount).fill(Infinity);
  const highs = new Float64Array(binCount).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) continue; // NaN or +/-Infinity
    const b = binOf(v);
    counts[b] = counts[b]! + 1;
    if (v < lows[b]!) lows[b] = v;
    if (v > highs[b]!) highs[b] = v;
  }
  // before[b] = number of values in bins below b.
  const before = new Float64Array(binCount + 1);
  for (let b = 0; b < binCount; b++) before[b + 1] = before[b]! + counts[b]!;
  const binHolding = (k: number) => {
    let lo = 0;
    let hi = binCount - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before[mid + 1]! > k) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };

  const ranks = ps.map((p) => (p / 100) * (count - 1));
  const needed = new Set<number>();
  for (const r of ranks) needed.add(Math.floor(r)).add(Math.min(count - 1, Math.floor(r) + 1));
  // Bins to gather: slot[b] indexes `lists`, -1 for bins not gathered.
  const slot = new Int32Array(binCount).fill(-1);
  const lists: Float32Array[] = [];
  for (const k of needed) {
    const b = binHolding(k);
    if (slot[b] === -1 && lows[b] !== highs[b] && counts[b]! <= 1 << 20) {
      slot[b] = lists.length;
      lists.push(new Float32Array(counts[b]!));
    }
  }
  if (lists.length > 0) {
    const filled = new Int32Array(lists.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v - v !== 0) continue; // NaN or +/-Infinity
      const s = slot[binOf(v)]!;
      if (s < 0) continue;
      lists[s]![filled[s]!] = v;
      filled[s] = filled[s]! + 1;
    }
    for (const list of lists) list.sort();
  }
  const orderStatistic = (k: number) => {
    const b = binHolding(k);
    if (lows[b] === highs[b]) return lows[b]!;
    if (slot[b]! >= 0) return lists[slot[b]!]![k - before[b]!]!;
    return lows[b]! + ((k - before[b]! + 0.5) / counts[b]!) * (highs[b]! - lows[b]!);
  };
  return ranks.map((r) => {
    const k = Math.floor(r);
    const low = orderStatistic(k);
    return r === k ? low : low + (r - k) * (orderStatistic(Math.min(count - 1, k + 1)) - low);
  });
}
