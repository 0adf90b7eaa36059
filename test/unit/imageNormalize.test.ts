import {
  CT_WINDOW_PRESETS,
  normalizeIntensity,
  percentiles,
  type ImageVolume,
  type NormalizeSpec,
} from '../../lib/data/image';
import { seededRandom } from '../../lib/data/phantom';

const volumeOf = (values: ArrayLike<number>): ImageVolume => ({
  data: Float32Array.from(values),
  shape: [1, 1, values.length],
  spacing: [1, 1, 1],
  affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
  source: 'test',
});
const normalized = (values: number[], spec: NormalizeSpec) =>
  Array.from(normalizeIntensity(volumeOf(values), spec).data);

/** numpy.percentile's default: linear interpolation between order statistics of a full sort. */
function exactPercentile(values: Float32Array, p: number): number {
  const sorted = values.slice().sort();
  const rank = (p / 100) * (sorted.length - 1);
  const k = Math.floor(rank);
  return sorted[k]! + (rank - k) * ((sorted[Math.min(k + 1, sorted.length - 1)] ?? 0) - sorted[k]!);
}

describe('normalizeIntensity', () => {
  it('clips a 0..999 ramp to its 0.5 and 99.5 percentiles (numpy: 4.995 and 994.005) and scales', () => {
    const ramp = Array.from({ length: 1000 }, (_, i) => (i * 379) % 1000); // 0..999, shuffled
    const [low, high] = percentiles(Float32Array.from(ramp), [0.5, 99.5]);
    expect(low).toBeCloseTo(4.995, 9);
    expect(high).toBeCloseTo(994.005, 9);
    const out = normalizeIntensity(volumeOf(ramp), { kind: 'percentile' });
    const at = (value: number) => out.data[ramp.indexOf(value)]!;
    expect(at(0)).toBe(0);
    expect(at(4)).toBe(0);
    expect(at(999)).toBe(1);
    expect(at(500)).toBeCloseTo((500 - 4.995) / (994.005 - 4.995), 6);
    expect(normalized([0, 5, 10, 100], { kind: 'percentile', lower: 0, upper: 100 })).toEqual(
      Array.from(Float32Array.from([0, 0.05, 0.1, 1])),
    );
  });

  it('gives exact percentiles on CT-like data without sorting it (checked against a full sort)', () => {
    const random = seededRandom(11);
    const values = new Float32Array(200_000);
    for (let i = 0; i < values.length; i++) {
      // 40% air at exactly -1024 HU, the rest spread from fat to bone with a long tail.
      values[i] = random() < 0.4 ? -1024 : Math.round(-120 + 260 * random() + (random() < 0.02 ? 1500 * random() : 0));
    }
    const ps = [0, 0.5, 25, 50, 99.5, 100];
    const got = percentiles(values, ps);
    ps.forEach((p, i) => expect(got[i]).toBeCloseTo(exactPercentile(values, p), 6));
  });

  it('stays within one histogram bin when one bin holds over 2^20 distinct values', () => {
    // i / n for i < n, plus one outlier at 4096: all but the outlier share the first of 4096 bins.
    const n = (1 << 20) + 5000;
    const values = new Float32Array(n + 1);
    for (let i = 0; i < n; i++) values[i] = i / n;
    values[n] = 4096;
    const [median] = percentiles(values, [50]); // exactly (n / 2) / n = 0.5
    expect(Math.abs(median! - 0.5)).toBeLessThan(1); // the promise: one bin, 4096 / 4096
    expect(Math.abs(median! - 0.5)).toBeLessThan(1e-3); // in practice: interpolated inside the bin
  });

  it('maps HU through the CT presets', () => {
    const window = (preset: keyof typeof CT_WINDOW_PRESETS, values: number[]) =>
      normalized(values, { kind: 'ct', preset });
    expect(window('soft-tissue', [-160, 40, 240, 1000])).toEqual([0, 0.5, 1, 1]);
    expect(window('lung', [-1350, -600, 150])).toEqual([0, 0.5, 1]);
    expect(window('bone', [-500, 400, 1300])).toEqual([0, 0.5, 1]);
    expect(window('brain', [-1000, 0, 40, 80])).toEqual([0, 0, 0.5, 1]);
    expect(window('liver', [-15, 60, 135])).toEqual([0, 0.5, 1]);
    expect(window('mediastinum', [-125, 50, 225])).toEqual([0, 0.5, 1]);
    expect(normalized([-1, 0, 1, 5], { kind: 'window', center: 0, width: 2 })).toEqual([0, 0.5, 1, 1]);
  });

  it('scales min-max, returns zeros for a constant image, and treats NaN as 0', () => {
    expect(normalized([2, 4, 6], { kind: 'minmax' })).toEqual([0, 0.5, 1]);
    expect(normalized([7, 7, 7], { kind: 'minmax' })).toEqual([0, 0, 0]);
    expect(normalized([7, 7, 7], { kind: 'percentile' })).toEqual([0, 0, 0]);
    expect(normalized([NaN, 0, 10, Infinity], { kind: 'minmax' })).toEqual([0, 0, 1, 1]);
  });

  it('returns a new volume and leaves the input alone; none returns the input', () => {
    const input = volumeOf([0, 10]);
    const out = normalizeIntensity(input, { kind: 'minmax' });
    expect(out).not.toBe(input);
    expect(Array.from(input.data)).toEqual([0, 10]);
    expect(out.shape).toEqual(input.shape);
    expect(out.affine).toEqual(input.affine);
    expect(normalizeIntensity(input, { kind: 'none' })).toBe(input);
  });

  it('rejects bad specs with the name, what was expected and what was received', () => {
    const volume = volumeOf([1, 2]);
    const bad = (spec: unknown) => () => normalizeIntensity(volume, spec as NormalizeSpec);
    expect(bad({ kind: 'zscore' })).toThrow(
      new TypeError(
        'Expected an object with kind "percentile", "window", "ct", "minmax" or "none" for normalize.kind but received "zscore" of type string',
      ),
    );
    expect(bad({ kind: 'percentile', lower: 60, upper: 40 })).toThrow(
      'Expected a percentile above lower for normalize.upper but received 40 of type number',
    );
    expect(bad({ kind: 'percentile', lower: 5, upper: 5 })).toThrow(TypeError);
    expect(bad({ kind: 'percentile', upper: 101 })).toThrow(
      'Expected a number between 0 and 100 for normalize.upper but received 101 of type number',
    );
    expect(bad({ kind: 'percentile', low: 1 })).toThrow(
      'Unknown option "low" in normalize; did you mean "lower"? Allowed: kind, lower, upper',
    );
    expect(bad({ kind: 'window', center: 40, width: 0 })).toThrow(
      'Expected a positive number up to 3.4e38 (the largest float32) for normalize.width but received 0 of type number',
    );
    expect(bad({ kind: 'window', center: '40', width: 400 })).toThrow(
      'Expected a number between -3.4e38 and 3.4e38 (float32\'s range) for normalize.center but received "40" of type string',
    );
    expect(bad({ kind: 'ct', preset: 'abdomen' })).toThrow(
      'Expected one of "soft-tissue", "lung", "bone", "brain", "liver", "mediastinum" for normalize.preset but received "abdomen" of type string',
    );
    expect(bad(undefined)).toThrow('for normalize but received undefined');
  });
});
