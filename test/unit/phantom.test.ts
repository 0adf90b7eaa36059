import { phantom, phantomBatch } from '../../lib/data/phantom';

describe('phantoms', () => {
  it('are deterministic per seed, in [0, 1], with structure', () => {
    const a = phantom([48, 40], 3);
    expect(a).toHaveLength(48 * 40);
    expect(phantom([48, 40], 3)).toEqual(a);
    expect(phantom([48, 40], 4)).not.toEqual(a);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    // Background (corners) is near 0, the body is brighter, organs brighter still.
    expect(a[0]).toBeLessThan(0.05);
    expect(new Set(Array.from(a, (v) => Math.round(v * 10))).size).toBeGreaterThan(4);
  });

  it('make 3D volumes and batches of the requested shape', () => {
    expect(phantom([8, 12, 10], 1)).toHaveLength(960);
    const batch = phantomBatch(3, [16, 16], 7);
    expect(batch.shape).toEqual([3, 1, 16, 16]);
    expect(batch.data.subarray(0, 256)).toEqual(phantom([16, 16], 7));
    expect(batch.data.subarray(512)).toEqual(phantom([16, 16], 9));
  });

  it('refuses sizes and seeds that would give another phantom than asked for', () => {
    expect(() => phantom([2.5, 4], 0)).toThrow('Expected an integer between 1 and');
    expect(() => phantom([], 0)).toThrow('Expected a phantom size of 2 or 3 axes');
    expect(() => phantom([8, 8], NaN)).toThrow(/for seed but received NaN/);
    expect(() => phantom([8, 8], 0.5)).toThrow(/for seed but received 0.5/);
    expect(() => phantomBatch(1.5, [8, 8], 0)).toThrow(/for batchSize but received 1.5/);
    // Seeds are taken modulo 2^32, as large run seeds times a step count make them.
    expect(phantom([8, 8], 2 ** 32 + 3)).toEqual(phantom([8, 8], 3));
  });
});
