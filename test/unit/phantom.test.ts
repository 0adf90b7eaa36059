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
});
