import { tensor, type Tensor } from '../tensor';
import { refuseUnknownOptions } from '../validate';
import { addBox, gatherBox, strides } from './boxes';

/**
 * Sliding-window encoding: the backbone runs on overlapping tiles of a fixed size and the
 * tiles' feature maps are blended with weights that fall off towards each tile's edges.
 * Why: memory stays bounded by the tile for inputs of any size (a 1 mm brain does not fit
 * whole). Tiles see less context and normalise with their own GroupNorm statistics, so
 * features differ from whole-image ones near tile edges; on the brain probe, whole 2D
 * slices scored better than tiles of the training crop size.
 */

/** How tiles are weighted where they overlap. */
export type BlendMode = 'gaussian' | 'linear' | 'constant';

/** Options of {@link encodeSlidingWindow}. */
export interface SlidingWindowOptions {
  /** Tile size per spatial axis (or one for all), each a positive multiple of 16. */
  window: number | readonly number[];
  /**
   * Fraction of a tile shared with its neighbour along each axis, in [0, 1). Default 0.5.
   * Tile origins are rounded to multiples of 16 so every level's grid aligns exactly.
   */
  overlap?: number;
  /**
   * Tile weights: `gaussian` (sigma = 1/8 of the tile per axis, the default), `linear`
   * (a tent peaking at the centre) or `constant` (plain averaging).
   */
  blend?: BlendMode;
  /** Every level upsampled to the input's grid (see `EncodeOptions.fullResolution`). Default false. */
  fullResolution?: boolean;
  /** Stops between tiles: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each tile with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** The option names every sliding-window call takes. */
const TILING_OPTIONS = ['window', 'overlap', 'blend', 'signal', 'onProgress'];

/**
 * Refuses option names `call` does not take (a misspelt `window` would silently process
 * the whole image at once) and `overlap` or `blend` without a `window` (ignored there).
 * `extra`: the call's own options besides the tiling ones.
 */
export function checkTilingOptions(options: unknown, extra: readonly string[], call: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`Expected an options object for ${call} but received ${JSON.stringify(options)}`);
  refuseUnknownOptions(options, [...extra, ...TILING_OPTIONS], call);
  const given = options as Partial<SlidingWindowOptions>;
  const stray = (['overlap', 'blend'] as const).filter((key) => given[key] !== undefined);
  if (given.window === undefined && stray.length > 0)
    throw new TypeError(
      `${stray.join(' and ')} ${stray.length > 1 ? 'apply' : 'applies'} only to tiles: pass window as well, or leave ${stray.length > 1 ? 'them' : 'it'} out`,
    );
}

/** What the tiler needs of a model: the backbone pyramid of one batch of tiles. */
export type EncodeTile = (tile: Tensor<'float32'>, fullResolution: boolean) => Promise<Tensor<'float32'>[]>;

const ALIGN = 16;
const LEVELS = 5;

/** Origins of tiles of side `window` covering `padded` voxels (both multiples of 16). */
export function tileOrigins(padded: number, window: number, overlap: number): number[] {
  if (window >= padded) return [0];
  const stride = Math.max(ALIGN, Math.round((window * (1 - overlap)) / ALIGN) * ALIGN);
  const origins: number[] = [];
  for (let origin = 0; origin + window < padded; origin += stride) origins.push(origin);
  origins.push(padded - window);
  return origins;
}

/** Weights of `n` samples across one tile axis, largest at the centre, all positive. */
export function blendProfile(n: number, mode: BlendMode): Float32Array {
  const profile = new Float32Array(n);
  const centre = n / 2;
  for (let i = 0; i < n; ++i) {
    const distance = i + 0.5 - centre;
    if (mode === 'gaussian') {
      const sigma = n / 8;
      profile[i] = Math.exp(-(distance * distance) / (2 * sigma * sigma));
    } else if (mode === 'linear') {
      profile[i] = 1 - Math.abs(distance) / centre + 1 / n;
    } else {
      profile[i] = 1;
    }
  }
  return profile;
}

function checkOptions(options: SlidingWindowOptions, dims: number): number[] {
  const window = typeof options.window === 'number' ? Array(dims).fill(options.window) : [...options.window];
  if (window.length !== dims || window.some((w) => !Number.isInteger(w) || w < ALIGN || w % ALIGN !== 0))
    throw new RangeError(
      `Expected window to be a multiple of 16 (at least 16) or ${dims} of them but received ${JSON.stringify(options.window)}`,
    );
  const overlap = options.overlap ?? 0.5;
  if (typeof overlap !== 'number' || !(overlap >= 0 && overlap < 1))
    throw new RangeError(`Expected overlap in [0, 1) but received ${String(overlap)}`);
  const blend = options.blend ?? 'gaussian';
  if (!['gaussian', 'linear', 'constant'].includes(blend))
    throw new RangeError(`Expected blend to be 'gaussian', 'linear' or 'constant' but received ${String(blend)}`);
  return window;
}

/** Per-voxel weight of a tile of `size`: the product of the axes' profiles. */
function tileWeights(size: readonly number[], blend: BlendMode): Float32Array {
  const profiles = size.map((n) => blendProfile(n, blend));
  const total = size.reduce((a, b) => a * b, 1);
  const weights = new Float32Array(total).fill(1);
  const boxStrides = strides(size);
  for (let i = 0; i < total; ++i)
    for (let axis = 0; axis < size.length; ++axis)
      weights[i]! *= profiles[axis]![Math.floor(i / boxStrides[axis]!) % size[axis]!]!;
  return weights;
}

/**
 * Linear upsampling of `planes` row-major grids of `size` by `factor` along every axis,
 * with align_corners = false (ATen's `interpolate`): output voxel i samples the input at
 * (i + 0.5) / factor - 0.5, clamped to the grid. One axis at a time.
 */
export function upsampleLinear(
  data: Float32Array,
  planes: number,
  size: readonly number[],
  factor: number,
): Float32Array {
  let current = data;
  const shape = [...size];
  for (let axis = 0; axis < shape.length; ++axis) {
    const n = shape[axis]!;
    const m = n * factor;
    const outer = planes * shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const next = new Float32Array(outer * m * inner);
    for (let i = 0; i < m; ++i) {
      const x = Math.max(0, (i + 0.5) / factor - 0.5);
      const lo = Math.min(Math.floor(x), n - 1);
      const hi = Math.min(lo + 1, n - 1);
      const t = x - lo;
      for (let o = 0; o < outer; ++o) {
        const a = (o * n + lo) * inner;
        const b = (o * n + hi) * inner;
        const out = (o * m + i) * inner;
        for (let k = 0; k < inner; ++k) next[out + k] = current[a + k]! * (1 - t) + current[b + k]! * t;
      }
    }
    current = next;
    shape[axis] = m;
  }
  return current;
}

/**
 * Encodes `images` (B, C, *S) tile by tile and blends the tiles into the same pyramid that
 * `CoverModel.encode` returns for the whole input (F1..F5, level l with ceil(S / 2^l) voxels
 * per axis, or all at S with `fullResolution`). Tiles are blended on each level's own grid
 * and only the blended levels are upsampled, 2^l fewer values per axis to move and blend.
 * An input no larger than the window is encoded in one piece, exactly as `encode` would.
 */
export async function encodeSlidingWindow(
  encodeTile: EncodeTile,
  images: Tensor<'float32'>,
  options: SlidingWindowOptions,
): Promise<Tensor<'float32'>[]> {
  const [batch, channels, ...size] = images.shape as number[];
  const dims = size.length;
  const requested = checkOptions(options, dims);
  const overlap = options.overlap ?? 0.5;
  const blend = options.blend ?? 'gaussian';
  const fullResolution = options.fullResolution ?? false;
  const padded = size.map((s) => Math.ceil(s / ALIGN) * ALIGN);
  const window = requested.map((w, axis) => Math.min(w, padded[axis]!));
  if (window.every((w, axis) => w === padded[axis])) return encodeTile(images, fullResolution);

  const originsPerAxis = padded.map((p, axis) => tileOrigins(p, window[axis]!, overlap));
  const tiles = originsPerAxis.reduce<number[][]>(
    (all, origins) => all.flatMap((prefix) => origins.map((o) => [...prefix, o])),
    [[]],
  );
  // Level l lives on a grid 2^l coarser than the (padded) input.
  const scales = Array.from({ length: LEVELS }, (_, l) => 2 ** l);
  const sums: Float32Array[] = [];
  const levelChannels: number[] = [];
  const weightSums = scales.map((scale) => new Float32Array(padded.reduce((a, p) => a * (p / scale), 1)));
  const weights = scales.map((scale) =>
    tileWeights(
      window.map((w) => w / scale),
      blend,
    ),
  );
  const tile = new Float32Array(batch! * channels! * window.reduce((a, b) => a * b, 1));
  for (const [done, origin] of tiles.entries()) {
    options.signal?.throwIfAborted();
    tile.fill(0);
    gatherBox(images.data, size, tile, window, origin, batch! * channels!);
    const levels = await encodeTile(tensor(tile, [batch!, channels!, ...window]), false);
    for (const [l, level] of levels.entries()) {
      const scale = scales[l]!;
      const levelSize = padded.map((p) => p / scale);
      const boxSize = window.map((w) => w / scale);
      const boxOrigin = origin.map((o) => o / scale);
      const planes = batch! * level.shape[1]!;
      levelChannels[l] = level.shape[1]!;
      const sum = (sums[l] ??= new Float32Array(planes * weightSums[l]!.length));
      addBox(sum, levelSize, level.data, boxSize, boxOrigin, planes, weights[l]!);
      addBox(weightSums[l]!, levelSize, weights[l]!, boxSize, boxOrigin, 1);
    }
    options.onProgress?.(done + 1, tiles.length);
  }
  return sums.map((sum, l) => {
    const scale = scales[l]!;
    const weightSum = weightSums[l]!;
    const planes = batch! * levelChannels[l]!;
    for (let p = 0; p < planes; ++p)
      for (let i = 0, offset = p * weightSum.length; i < weightSum.length; ++i) sum[offset + i]! /= weightSum[i]!;
    // Like encode: upsample on the padded grid (so every level scales by exactly 2^l),
    // then crop the padding (ceil(S / 2^l) voxels per axis, or S at full resolution).
    let grid = padded.map((p) => p / scale);
    let blended = sum;
    if (fullResolution && scale > 1) {
      blended = upsampleLinear(sum, planes, grid, scale);
      grid = padded;
    }
    const keep = fullResolution ? size : size.map((s) => Math.ceil(s / scale));
    const cropped = new Float32Array(planes * keep.reduce((a, b) => a * b, 1));
    gatherBox(blended, grid, cropped, keep, Array(dims).fill(0), planes);
    return tensor(cropped, [batch!, levelChannels[l]!, ...keep]);
  });
}
