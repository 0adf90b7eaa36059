import { scoreSegmentation, squaredDistanceTransform } from '../../lib/segment/segmentationMetrics';
import { seededRandom } from '../../lib/data/phantom';

/** Nearest set voxel by brute force: the reference for the distance transform. */
function bruteForce(mask: Uint8Array, size: number[], spacing: number[]): Float64Array {
  const coordinates = (i: number) => {
    const c: number[] = [];
    for (let axis = size.length - 1; axis >= 0; axis--) {
      c[axis] = i % size[axis]!;
      i = Math.floor(i / size[axis]!);
    }
    return c;
  };
  const out = new Float64Array(mask.length).fill(1e30);
  for (let i = 0; i < mask.length; i++) {
    const a = coordinates(i);
    for (let j = 0; j < mask.length; j++) {
      if (!mask[j]) continue;
      const b = coordinates(j);
      const d = a.reduce((sum, v, axis) => sum + ((v - b[axis]!) * spacing[axis]!) ** 2, 0);
      out[i] = Math.min(out[i]!, d);
    }
  }
  return out;
}

/** A filled box [from, to) in a grid of `size`. */
function box(size: number[], from: number[], to: number[]): Uint8Array {
  const mask = new Uint8Array(size.reduce((a, b) => a * b, 1));
  for (let i = 0; i < mask.length; i++) {
    let rest = i;
    let inside = true;
    for (let axis = size.length - 1; axis >= 0; axis--) {
      const c = rest % size[axis]!;
      rest = Math.floor(rest / size[axis]!);
      if (c < from[axis]! || c >= to[axis]!) inside = false;
    }
    mask[i] = inside ? 1 : 0;
  }
  return mask;
}

describe('squaredDistanceTransform', () => {
  it.each([
    [
      [13, 17],
      [1, 1],
    ],
    [
      [9, 11],
      [0.7, 2.5],
    ],
    [
      [5, 6, 7],
      [2, 1, 0.5],
    ],
  ])('equals brute force on sparse random masks, size %j spacing %j', (size, spacing) => {
    const random = seededRandom(size.length * 10 + size[0]!);
    const mask = new Uint8Array(size.reduce((a, b) => a * b, 1)).map(() => (random() < 0.06 ? 1 : 0));
    mask[3] = 1;
    const fast = squaredDistanceTransform(mask, size, spacing);
    const slow = bruteForce(mask, size, spacing);
    for (let i = 0; i < mask.length; i++) expect(fast[i]).toBeCloseTo(slow[i]!, 9);
  });
});

describe('scoreSegmentation', () => {
  it('gives Dice per class over all images and the mean over present classes', () => {
    // truth 0 0 1 1 2 2, predicted 0 1 1 1 2 0: class 0: 2*1/(2+2) = 0.5; class 1: 2*2/(2+3) = 0.8;
    // class 2: 2*1/(2+1) = 2/3; class 3 absent from both -> NaN, left out of the mean.
    const scores = scoreSegmentation([0, 1, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2], [3], {
      classes: 4,
      surfaceDistances: false,
    });
    expect(scores.perClass.map((c) => c.dice)).toEqual([0.5, 0.8, 2 / 3, NaN]);
    expect(scores.meanDice).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    const noBackground = scoreSegmentation([0, 1, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2], [3], {
      classes: 3,
      excludeFromMean: [0],
      surfaceDistances: false,
    });
    expect(noBackground.meanDice).toBeCloseTo((0.8 + 2 / 3) / 2, 12);
  });

  it('leaves voxels with the ignore label out', () => {
    const scores = scoreSegmentation([1, 1, 0, 0], [1, 255, 0, 255], [4], {
      classes: 2,
      ignoreLabel: 255,
      surfaceDistances: false,
    });
    expect(scores.perClass.map((c) => c.dice)).toEqual([1, 1]);
  });

  it('gives the Hausdorff 95 of two boxes against a brute-force surface distance', () => {
    const size = [20, 24];
    const truth = box(size, [4, 4], [12, 14]);
    const predicted = box(size, [6, 5], [15, 14]);
    const spacing = [1.5, 1];
    const scores = scoreSegmentation(predicted, truth, size, { classes: 2, spacing });
    // Reference: surfaces (mask voxels with a face neighbour outside), all directed
    // distances by brute force, NumPy-style linear percentile, max of both directions.
    const surface = (mask: Uint8Array) =>
      mask.map((v, i) => {
        if (!v) return 0;
        const y = Math.floor(i / size[1]!);
        const x = i % size[1]!;
        const inside = (yy: number, xx: number) =>
          yy >= 0 && yy < size[0]! && xx >= 0 && xx < size[1]! && mask[yy * size[1]! + xx] === 1;
        return inside(y - 1, x) && inside(y + 1, x) && inside(y, x - 1) && inside(y, x + 1) ? 0 : 1;
      });
    const directed = (from: Uint8Array, to: Uint8Array) => {
      const distances = bruteForce(to, size, spacing);
      const values = [...from.keys()].filter((i) => from[i]).map((i) => Math.sqrt(distances[i]!));
      values.sort((a, b) => a - b);
      const position = 0.95 * (values.length - 1);
      const low = Math.floor(position);
      return values[low]! + (values[Math.min(low + 1, values.length - 1)]! - values[low]!) * (position - low);
    };
    const expected = Math.max(
      directed(surface(predicted), surface(truth)),
      directed(surface(truth), surface(predicted)),
    );
    expect(scores.perClass[1]!.hausdorff95).toBeCloseTo(expected, 10);
    expect(expected).toBeGreaterThan(2); // the boxes differ by 3 rows at 1.5 per row
    // Identical maps: 0.
    expect(scoreSegmentation(truth, truth, size, { classes: 2 }).perClass[1]!.hausdorff95).toBe(0);
  });

  it('marks a class missing from one map with an infinite Hausdorff distance', () => {
    const scores = scoreSegmentation([0, 0, 0, 0], [0, 1, 1, 0], [2, 2], { classes: 3 });
    expect(scores.perClass[1]!.hausdorff95).toBe(Infinity);
    expect(scores.perClass[2]!.hausdorff95).toBeNaN();
    expect(scores.perClass[1]!.dice).toBe(0);
  });

  it('refuses maps of different lengths', () => {
    expect(() => scoreSegmentation([0, 1], [0, 1, 1], [2], { classes: 2 })).toThrow(/same length/);
  });

  // Such a label would count as a miss of every class: a silently lower score.
  it('refuses truth labels outside the classes, except the ignore label, and a class count below 1', () => {
    expect(() => scoreSegmentation([0, 1, 0], [0, 1, 7], [3], { classes: 2 })).toThrow(
      new RangeError('Expected truth labels in [0, 2) but found 7 at index 2'),
    );
    expect(() => scoreSegmentation([0, 1, 0], [-1, 1, 0], [3], { classes: 2, ignoreLabel: 255 })).toThrow(
      'Expected truth labels in [0, 2) or the ignore label 255 but found -1 at index 0',
    );
    expect(scoreSegmentation([0, 1, 0], [255, 1, 0], [3], { classes: 2, ignoreLabel: 255 }).perClass[1]!.dice).toBe(1);
    expect(() => scoreSegmentation([0], [0], [1], { classes: 0 })).toThrow(/classes/);
  });
});
