import { warmupCosine } from '../../lib/train/warmupCosine';

describe('warmupCosine', () => {
  it('warms up linearly, then follows a cosine from the peak to the floor', () => {
    const lr = warmupCosine({ baseLr: 1, warmupSteps: 4, maxSteps: 14, minLr: 0.1 });
    expect([0, 1, 2, 3].map(lr)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(lr(4)).toBeCloseTo(1, 12);
    // Halfway through the decay: the mean of peak and floor.
    const half = warmupCosine({ baseLr: 1, warmupSteps: 0, maxSteps: 2, minLr: 0 });
    expect(half(1)).toBeCloseTo(0.5, 12);
    // The last step (13) still learns; the floor comes one step later.
    expect(lr(13)).toBeCloseTo(0.1 + (0.9 * (1 + Math.cos(0.9 * Math.PI))) / 2, 12);
    expect(lr(14)).toBeCloseTo(0.1, 12);
    expect(lr(100)).toBeCloseTo(0.1, 12);
    for (let s = 4; s < 13; s++) expect(lr(s + 1)).toBeLessThan(lr(s));
  });

  it('rejects bad settings', () => {
    expect(() => warmupCosine({ baseLr: -1, maxSteps: 10 })).toThrow(RangeError);
    expect(() => warmupCosine({ baseLr: 1, maxSteps: 10, warmupSteps: 11 })).toThrow(RangeError);
    expect(() => warmupCosine({ baseLr: 1, maxSteps: 10, minLr: 2 })).toThrow(RangeError);
  });
});
