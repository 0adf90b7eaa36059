import { tensor, type Tensor } from '../../lib';
import {
  blendProfile,
  encodeSlidingWindow,
  tileOrigins,
  upsampleLinear,
  type EncodeTile,
} from '../../lib/encoder/slidingWindow';

/**
 * A stand-in encoder with no context: level l is the 2^l average pooling of the input,
 * padded to multiples of 16 and cropped back like CoverModel.encode. Tiling such an operator
 * must reproduce the whole-input result exactly, whatever the window, overlap or blending,
 * so these tests pin the tiling, blending and cropping arithmetic.
 */
const poolingEncoder: EncodeTile = async (images, fullResolution) => {
  const [batch, channels, ...size] = images.shape as number[];
  const planes = batch! * channels!;
  const plane = size.reduce((a, b) => a * b, 1);
  const unravel = (i: number, shape: number[]) =>
    shape.map((side, axis) => Math.floor(i / shape.slice(axis + 1).reduce((a, b) => a * b, 1)) % side);
  const ravel = (index: number[], shape: number[]) => index.reduce((offset, x, axis) => offset * shape[axis]! + x, 0);
  return [0, 1, 2, 3, 4].map((l) => {
    const f = 2 ** l;
    const pooledSize = size.map((s) => Math.ceil(s / f));
    const pooledPlane = pooledSize.reduce((a, b) => a * b, 1);
    // Mean of each f^n block, voxels outside the input counting as zeros.
    const pooled = new Float32Array(planes * pooledPlane);
    for (let i = 0; i < plane; ++i) {
      const target = ravel(
        unravel(i, size).map((x) => Math.floor(x / f)),
        pooledSize,
      );
      for (let p = 0; p < planes; ++p)
        pooled[p * pooledPlane + target]! += images.data[p * plane + i]! / f ** size.length;
    }
    if (!fullResolution) return tensor(pooled, [batch!, channels!, ...pooledSize]);
    const full = new Float32Array(planes * plane);
    for (let i = 0; i < plane; ++i) {
      const source = ravel(
        unravel(i, size).map((x) => Math.floor(x / f)),
        pooledSize,
      );
      for (let p = 0; p < planes; ++p) full[p * plane + i] = pooled[p * pooledPlane + source]!;
    }
    return tensor(full, [batch!, channels!, ...size]);
  });
};

function ramp(shape: number[]): Tensor<'float32'> {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; ++i) data[i] = Math.sin(i * 0.37) + (i % 7) * 0.1;
  return tensor(data, shape);
}

function maxDifference(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  let max = 0;
  for (let i = 0; i < a.data.length; ++i) max = Math.max(max, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return max;
}

describe('tileOrigins', () => {
  it('covers the axis with tiles aligned to 16, the last one ending at the far side', () => {
    expect(tileOrigins(64, 64, 0.5)).toEqual([0]);
    expect(tileOrigins(64, 128, 0.5)).toEqual([0]);
    expect(tileOrigins(160, 64, 0.5)).toEqual([0, 32, 64, 96]);
    expect(tileOrigins(160, 64, 0)).toEqual([0, 64, 96]);
    expect(tileOrigins(208, 96, 0.25)).toEqual([0, 80, 112]);
    for (const origin of tileOrigins(400, 48, 0.7)) expect(origin % 16).toBe(0);
  });
});

describe('blendProfile', () => {
  it('is positive everywhere, symmetric and largest in the middle', () => {
    for (const mode of ['gaussian', 'linear', 'constant'] as const) {
      const p = Array.from(blendProfile(16, mode));
      expect(Math.min(...p)).toBeGreaterThan(0);
      expect(p).toEqual([...p].reverse());
      expect(p[7]).toBe(Math.max(...p));
    }
    const gaussian = blendProfile(64, 'gaussian');
    expect(gaussian[0]! / gaussian[31]!).toBeLessThan(1e-3);
  });
});

describe('encodeSlidingWindow', () => {
  it('reproduces a context-free encoder exactly in 2D, for every blending and odd sizes', async () => {
    const image = ramp([2, 1, 70, 45]);
    const whole = await poolingEncoder(image, false);
    for (const blend of ['gaussian', 'linear', 'constant'] as const) {
      const tiled = await encodeSlidingWindow(poolingEncoder, image, { window: [32, 16], overlap: 0.5, blend });
      tiled.forEach((level, l) => expect(maxDifference(level, whole[l]!)).toBeLessThan(1e-5));
    }
  });

  it('reproduces it in 3D, and at full resolution as blending then upsampling the whole pyramid', async () => {
    const image = ramp([1, 2, 40, 33, 20]);
    const whole = await poolingEncoder(image, false);
    const tiled = await encodeSlidingWindow(poolingEncoder, image, { window: 16, overlap: 0.25 });
    tiled.forEach((level, l) => expect(maxDifference(level, whole[l]!)).toBeLessThan(1e-5));

    // Full resolution: each level of the zero-padded input, upsampled by 2^l, cropped to S.
    const flat = ramp([1, 1, 37, 50]);
    const padded = new Float32Array(48 * 64);
    for (let y = 0; y < 37; ++y) padded.set(flat.data.subarray(y * 50, y * 50 + 50), y * 64);
    const levels = await poolingEncoder(tensor(padded, [1, 1, 48, 64]), false);
    const full = await encodeSlidingWindow(poolingEncoder, flat, { window: 32, fullResolution: true });
    full.forEach((level, l) => {
      const up = upsampleLinear(levels[l]!.data, 1, [48 / 2 ** l, 64 / 2 ** l], 2 ** l);
      const expected = new Float32Array(37 * 50);
      for (let y = 0; y < 37; ++y) expected.set(up.subarray(y * 64, y * 64 + 50), y * 50);
      expect(maxDifference(level, tensor(expected, [1, 1, 37, 50]))).toBeLessThan(1e-5);
    });
  });

  it('upsamples linearly with align_corners = false', () => {
    // 2 samples -> 4: positions -0.25, 0.25, 0.75, 1.25 clamp to [0, 1].
    expect(Array.from(upsampleLinear(Float32Array.from([0, 4]), 1, [2], 2))).toEqual([0, 1, 3, 4]);
    // Separable in 2D: the corners keep their values, the middle is the mean.
    const up = upsampleLinear(Float32Array.from([0, 4, 8, 12]), 1, [2, 2], 2);
    expect(up[0]).toBe(0);
    expect(up[15]).toBe(12);
    expect(up[5]).toBeCloseTo(0 * 0.5625 + 4 * 0.1875 + 8 * 0.1875 + 12 * 0.0625, 5);
  });

  it('encodes an input no larger than the window in one call', async () => {
    const calls: number[][] = [];
    const spy: EncodeTile = (tile, full) => (calls.push(tile.shape as number[]), poolingEncoder(tile, full));
    await encodeSlidingWindow(spy, ramp([1, 1, 40, 60]), { window: 64 });
    expect(calls).toEqual([[1, 1, 40, 60]]);
  });

  it('reports progress per tile and stops when aborted', async () => {
    const progress: string[] = [];
    await encodeSlidingWindow(poolingEncoder, ramp([1, 1, 64, 64]), {
      window: 32,
      onProgress: (done, total) => progress.push(`${done}/${total}`),
    });
    expect(progress).toEqual(['1/9', '2/9', '3/9', '4/9', '5/9', '6/9', '7/9', '8/9', '9/9']);
    const controller = new AbortController();
    const run = encodeSlidingWindow(poolingEncoder, ramp([1, 1, 64, 64]), {
      window: 32,
      signal: controller.signal,
      onProgress: (done) => done === 2 && controller.abort(new Error('stop here')),
    });
    await expect(run).rejects.toThrow('stop here');
  });

  it('refuses windows that are not multiples of 16 and overlaps outside [0, 1)', async () => {
    const image = ramp([1, 1, 32, 32]);
    await expect(encodeSlidingWindow(poolingEncoder, image, { window: 24 })).rejects.toThrow(
      /window to be a multiple of 16.*24/,
    );
    await expect(encodeSlidingWindow(poolingEncoder, image, { window: [16] })).rejects.toThrow(/or 2 of them/);
    await expect(encodeSlidingWindow(poolingEncoder, image, { window: 16, overlap: 1 })).rejects.toThrow(
      /overlap in \[0, 1\) but received 1/,
    );
  });
});
