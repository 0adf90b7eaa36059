import { resampleToSpacing, spacingFor, type ImageVolume } from '../../lib/data/image';

function volume(
  shape: number[],
  spacing: number[],
  value: (index: number[]) => number,
  affine?: number[],
): ImageVolume {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const index = shape.map(() => 0);
  for (let n = 0; n < data.length; n++) {
    data[n] = value(index);
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis]! < shape[axis]!) break;
      index[axis] = 0;
    }
  }
  const [sz, sy, sx] = shape.length === 3 ? spacing : [1, ...spacing];
  return {
    data,
    shape,
    spacing,
    affine: affine ?? [sx!, 0, 0, -10, 0, sy!, 0, 20, 0, 0, sz!, 30, 0, 0, 0, 1],
    source: 'test',
  };
}

/** Value of a [z, y, x] index of a row-major 3D volume. */
const at = (v: ImageVolume, [z, y, x]: number[]) => v.data[(z! * v.shape[1]! + y!) * v.shape[2]! + x!]!;
const world = (affine: number[], [x, y, z]: number[]) =>
  [0, 1, 2].map((r) => affine[r * 4]! * x! + affine[r * 4 + 1]! * y! + affine[r * 4 + 2]! * z! + affine[r * 4 + 3]!);

describe('resampleToSpacing', () => {
  it('halves the size from 1 mm to 2 mm, keeping the first voxel centre', () => {
    const input = volume([4, 6, 8], [1, 1, 1], ([z, y, x]) => 100 * z! + 10 * y! + x!);
    const out = resampleToSpacing(input, [2, 2, 2]);
    expect(out.shape).toEqual([2, 3, 4]);
    expect(out.spacing).toEqual([2, 2, 2]);
    expect(out.affine).toEqual([2, 0, 0, -10, 0, 2, 0, 20, 0, 0, 2, 30, 0, 0, 0, 1]);
    // Output voxel j sits on input voxel 2j: exact copies.
    expect(at(out, [1, 2, 3])).toBe(100 * 2 + 10 * 4 + 6);
    expect(at(out, [0, 0, 0])).toBe(0);
    expect(out.source).toBe('test');
  });

  it('keeps a linear ramp linear at every sample, up- and down-sampling, with anisotropic voxels', () => {
    // Ramp in mm from the first centre; past the last input centre the edge value repeats.
    const spacing = [2, 0.5, 1];
    const shape = [5, 9, 10];
    const ramp = (mm: number[]) => 3 * mm[2]! - 2 * mm[1]! + 0.5 * mm[0]! + 7;
    const input = volume(shape, spacing, (i) => ramp(i.map((v, a) => v * spacing[a]!)));
    const target = [0.7, 0.75, 1.5];
    const out = resampleToSpacing(input, target);
    expect(out.shape).toEqual([14, 6, 7]); // round(10 / 0.7), round(4.5 / 0.75), round(10 / 1.5)
    for (let z = 0; z < 14; z++)
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 7; x++) {
          const mm = [z, y, x].map((j, a) => Math.min(j * target[a]!, (shape[a]! - 1) * spacing[a]!));
          expect(at(out, [z, y, x])).toBeCloseTo(ramp(mm), 3);
        }
    // The affine puts output voxels where they were sampled from.
    // Output (x, y, z) = (3, 2, 4) was sampled at input index (3 * 1.5 / 1, 2 * 0.75 / 0.5, 4 * 0.7 / 2).
    const expected = world(input.affine, [4.5, 3, 1.4]);
    world(out.affine, [3, 2, 4]).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 9));
  });

  it('resamples 2D [H, W] images', () => {
    const input = volume([100, 100], [1, 1], ([y, x]) => y! + 2 * x!, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const out = resampleToSpacing(input, [2, 2]);
    expect(out.shape).toEqual([50, 50]);
    expect(out.data[51]).toBe(2 + 2 * 2); // [1, 1] -> input [2, 2]
    expect(out.affine).toEqual([2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const up = resampleToSpacing(input, [0.5, 0.5]);
    expect(up.shape).toEqual([200, 200]);
    expect(up.data[1]).toBeCloseTo(1); // x = 0.5 on a ramp of slope 2
  });

  it('keeps label values with nearest-neighbour interpolation, up and down', () => {
    const labels = volume([1, 2, 4], [1, 1, 1], ([, y, x]) => 10 * y! + x!);
    const up = resampleToSpacing(labels, [1, 0.5, 0.5], { interpolation: 'nearest' });
    expect(up.shape).toEqual([1, 4, 8]);
    // Samples at 0, 0.5, 1, ... 3.5 input voxels (past the last centre: the edge); ties go to the lower.
    expect(Array.from(up.data.subarray(0, 8))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(Array.from(up.data.subarray(16, 24))).toEqual([10, 10, 11, 11, 12, 12, 13, 13]);
    const down = resampleToSpacing(labels, [1, 1, 1.5], { interpolation: 'nearest' });
    // Samples at 0, 1.5 (tie: 1), 3 input voxels.
    expect(Array.from(down.data)).toEqual([0, 1, 3, 10, 11, 13]);
    expect(down.affine).toEqual(resampleToSpacing(labels, [1, 1, 1.5]).affine);
    expect(() => resampleToSpacing(labels, [1, 1, 1], { interpolation: 'cubic' as never })).toThrow(
      "Expected interpolation 'linear' or 'nearest' but received \"cubic\" of type string",
    );
  });

  it('returns equal data (a copy) for the same spacing, and at least one voxel per axis', () => {
    const input = volume([3, 4, 5], [1, 2, 3], ([z, y, x]) => z! * y! - x!);
    const same = resampleToSpacing(input, [1, 2, 3]);
    expect(same.data).toEqual(input.data);
    expect(same.data).not.toBe(input.data);
    expect(same.affine).toEqual(input.affine);
    expect(resampleToSpacing(input, [100, 100, 100]).shape).toEqual([1, 1, 1]);
  });

  it('rejects a target spacing of the wrong length or a non-positive size', () => {
    const input = volume([2, 2, 2], [1, 1, 1], () => 0);
    expect(() => resampleToSpacing(input, [1, 1])).toThrow(
      'Expected an array of 3 spacings (one per axis of shape [2, 2, 2]) for targetSpacing but received an array of length 2',
    );
    expect(() => resampleToSpacing(input, [1, 0, 1])).toThrow(
      new RangeError('Expected a positive number of mm for targetSpacing[1] but received 0 of type number'),
    );
    expect(() => resampleToSpacing(input, [1, NaN, 1])).toThrow(RangeError);
  });

  it('rejects a volume without a positive voxel size, and an output over the voxel limit before allocating it', () => {
    const unknown = volume([2, 2], [1, NaN], () => 0);
    expect(() => resampleToSpacing(unknown, [1, 1])).toThrow(
      `Expected a positive voxel size for ${unknown.source}'s spacing[1] but received NaN`,
    );
    const input = volume([4, 4, 4], [1, 1, 1], () => 0);
    // 4 mm at 1e-3 mm: 4000^3 voxels, 256 GB of float32.
    expect(() => resampleToSpacing(input, [1e-3, 1e-3, 1e-3])).toThrow(
      /image of 4000 x 4000 x 4000 voxels \(64,000,000,000\) is larger than the 536,870,912 voxels accepted/,
    );
    expect(resampleToSpacing(input, [0.5, 0.5, 0.5], { maxVoxels: 512 }).shape).toEqual([8, 8, 8]);
    expect(() => resampleToSpacing(input, [0.5, 0.5, 0.5], { maxVoxels: 511 })).toThrow(/larger than the 511 voxels/);
  });
});

describe('spacingFor', () => {
  it('resamples volumes, one-slice volumes in their plane, and leaves 2D pictures', () => {
    expect(spacingFor({ shape: [10, 20, 30], spacing: [3, 1, 1] }, [1, 2, 2])).toEqual([1, 2, 2]);
    expect(spacingFor({ shape: [1, 20, 30], spacing: [5, 1, 1] }, [1, 2, 2])).toEqual([5, 2, 2]);
    expect(spacingFor({ shape: [20, 30], spacing: [1, 1] }, [1, 2, 2])).toBeUndefined();
    expect(spacingFor({ shape: [20, 30], spacing: [1, 1] }, [2, 2])).toEqual([2, 2]);
    expect(spacingFor({ shape: [10, 20, 30], spacing: [3, 1, 1] }, [2, 2])).toEqual([3, 2, 2]);
  });
});
