import { CoverModel, tensor, type Tensor } from '../../lib';
import { upsampleLinear } from '../../lib/encoder/slidingWindow';

const small = { dims: 2 as const, channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

function image(shape: number[], seed: number): Tensor<'float32'> {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + 0.5 * Math.sin(i / 9 + seed) * Math.cos(i / 31);
  return tensor(data, shape);
}

/** The [y, x] plane of channel c of batch item b from a (B, C, H, W) tensor. */
function plane(t: Tensor, b: number, c: number, rows: number, cols: number): number[] {
  const [, channels, height, width] = t.shape as [number, number, number, number];
  const out: number[] = [];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) out.push(Number(t.data[((b * channels + c) * height + y) * width + x]));
  }
  return out;
}

describe('CoverModel.encode', () => {
  let model: CoverModel;
  beforeAll(async () => {
    model = await CoverModel.create({ ...small, seed: 4 });
  });
  afterAll(() => model.dispose());

  it('gives the backbone features that forward computes for the fixed view', async () => {
    const x = image([1, 1, 32, 48], 1);
    const [f1] = await model.encode(x);
    const { fixedFeatures } = await model.forward(image([1, 1, 32, 48], 2), x);
    expect(f1!.shape).toEqual(fixedFeatures.shape);
    const difference = Math.max(...f1!.data.map((v, i) => Math.abs(v - fixedFeatures.data[i]!)));
    expect(difference).toBeLessThan(1e-4);
  });

  it('takes any size: pads to multiples of 16 and crops every level back', async () => {
    const levels = await model.encode(image([2, 1, 37, 50], 3));
    expect(levels.map((level) => level.shape)).toEqual([
      [2, 8, 37, 50],
      [2, 16, 19, 25],
      [2, 16, 10, 13],
      [2, 16, 5, 7],
      [2, 16, 3, 4],
    ]);
    // The same as encoding the zero-padded image and cropping by hand.
    const padded = new Float32Array(2 * 48 * 64);
    const source = image([2, 1, 37, 50], 3).data;
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < 37; y++)
        for (let x = 0; x < 50; x++) padded[(b * 48 + y) * 64 + x] = source[(b * 37 + y) * 50 + x]!;
    const [whole] = await model.encode(tensor(padded, [2, 1, 48, 64]));
    expect(plane(levels[0]!, 1, 3, 37, 50)).toEqual(plane(whole!, 1, 3, 37, 50));
  });

  it('upsamples every level to the input grid with fullResolution', async () => {
    const levels = await model.encode(image([1, 1, 37, 50], 5), { fullResolution: true });
    expect(levels.map((level) => level.shape)).toEqual([
      [1, 8, 37, 50],
      [1, 16, 37, 50],
      [1, 16, 37, 50],
      [1, 16, 37, 50],
      [1, 16, 37, 50],
    ]);
    // Linear upsampling keeps a level's range: no value beyond its coarse extremes.
    const coarse = (await model.encode(image([1, 1, 37, 50], 5)))[4]!;
    const max = Math.max(...coarse.data);
    expect(Math.max(...levels[4]!.data)).toBeLessThanOrEqual(max + 1e-5);
  });

  it('encodes in tiles with window: one tile equals the whole, smaller tiles blend to the same pyramid shape', async () => {
    const x = image([1, 1, 37, 50], 6);
    const whole = await model.encode(x);
    // A window at least the padded size is one tile: the plain encode, bit for bit.
    const single = await model.encode(x, { window: 64 });
    single.forEach((level, l) => expect(Array.from(level.data)).toEqual(Array.from(whole[l]!.data)));
    const progress: number[] = [];
    const tiled = await model.encode(x, { window: 32, onProgress: (done) => progress.push(done) });
    expect(tiled.map((level) => level.shape)).toEqual(whole.map((level) => level.shape));
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]); // 2 x 3 tiles of 32 over 48 x 64
    // Tiles see less context and their own GroupNorm statistics, so values differ, but the
    // blended map stays close to the whole one (a random network is the worst case: a
    // trained one differs by 3-8% in F1 at 217 x 181 with 64-96 tiles).
    const relative = (a: Tensor, b: Tensor) => {
      let d = 0;
      let n = 0;
      a.data.forEach((v, i) => ((d += (Number(v) - Number(b.data[i])) ** 2), (n += Number(b.data[i]) ** 2)));
      return Math.sqrt(d / n);
    };
    expect(relative(tiled[0]!, whole[0]!)).toBeGreaterThan(0);
    expect(relative(tiled[0]!, whole[0]!)).toBeLessThan(0.6);
  });

  it("upsamples blended levels as ATen does (the tiler's full resolution)", async () => {
    const x = image([1, 1, 32, 48], 8);
    const levels = await model.encode(x);
    const full = await model.encode(x, { fullResolution: true });
    levels.forEach((level, l) => {
      const [, channels, h, w] = level.shape as number[];
      const up = upsampleLinear(level.data as Float32Array, channels!, [h!, w!], 2 ** l);
      const difference = Math.max(...up.map((v, i) => Math.abs(v - full[l]!.data[i]!)));
      expect(difference).toBeLessThan(1e-5);
    });
  });

  it('correspond() takes any size: the forward displacement of the padded pair, cropped back', async () => {
    const moving = image([1, 1, 37, 50], 9);
    const fixed = image([1, 1, 37, 50], 10);
    const field = await model.correspond(moving, fixed);
    expect(field.shape).toEqual([1, 2, 37, 50]);
    const pad = (t: Tensor) => {
      const out = new Float32Array(48 * 64);
      for (let y = 0; y < 37; y++) out.set((t.data as Float32Array).subarray(y * 50, y * 50 + 50), y * 64);
      return tensor(out, [1, 1, 48, 64]);
    };
    const { displacement } = await model.forward(pad(moving), pad(fixed));
    for (const axis of [0, 1]) expect(plane(field, 0, axis, 37, 50)).toEqual(plane(displacement, 0, axis, 37, 50));
    await expect(model.correspond(moving, image([1, 1, 37, 48], 1))).rejects.toThrow(/like moving/);
  });

  it('refuses a window that is not a multiple of 16', async () => {
    await expect(model.encode(image([1, 1, 32, 32], 1), { window: 20 })).rejects.toThrow(/multiple of 16/);
  });

  // A misspelt window would otherwise encode the whole image at once, silently.
  it('refuses unknown options, with the closest name, and tiling options without a window', async () => {
    const input = image([1, 1, 32, 32], 1);
    await expect(model.encode(input, { windw: 16 } as never)).rejects.toThrow(
      'Unknown option "windw" for encode; did you mean "window"? Allowed: fullResolution, window, overlap, blend, signal, onProgress',
    );
    await expect(model.encode(input, { overlap: 0.25 })).rejects.toThrow(
      'overlap applies only to tiles: pass window as well, or leave it out',
    );
    await expect(model.encode(input, { window: undefined, fullResolution: true })).resolves.toHaveLength(5);
  });

  it('refuses an empty batch or an empty side with a clear error', async () => {
    await expect(model.encode(tensor(new Float32Array(0), [0, 1, 16, 16]))).rejects.toThrow(
      'Expected images with at least one image of at least one voxel but received [0, 1, 16, 16]',
    );
    await expect(model.trainStep(tensor(new Float32Array(0), [0, 1, 48, 48]), 1e-4)).rejects.toThrow(
      /at least one image/,
    );
  });

  it('refuses images that are not (B, C_in, H, W) float32', async () => {
    await expect(model.encode(image([1, 37, 50], 1))).rejects.toThrow(/Expected images of shape \(B, C, H, W\)/);
    await expect(model.encode(tensor(new Float64Array(64), [1, 1, 8, 8]))).rejects.toThrow(/float32/);
  });
});
