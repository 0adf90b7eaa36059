import { isPlanar, type ImageVolume } from '../data/image';
import { CoverModel } from '../model/CoverModel';
import type { ModelOptions } from '../model/modelOptions';
import { toFloat16 } from '../float16';
import { tensor, type Tensor } from '../tensor';
import { planesAcross, prepareImage, recordedPreprocessing, sliceAxisOf, type Preprocessing } from './preprocessing';
import { checkTilingOptions, type BlendMode } from './slidingWindow';

export interface EncoderOptions {
  /** Decoder levels to return, 1 (F1, the finest) to 5, in this order. Default [1]. */
  levels?: number[];
  /**
   * Prepare the image as the run prepared its training images (the recorded normalisation;
   * files are also resampled to the recorded spacing). Default true.
   */
  normalize?: boolean;
  /** Encode in overlapping tiles of this side (bounded memory for large volumes). */
  window?: number;
  /** Share of a tile overlapping its neighbour, [0, 1). Default 0.5. */
  overlap?: number;
  /** Tile weights. Default 'gaussian'. */
  blend?: BlendMode;
  /** Stops between tiles (and between slices of a volume a 2D encoder encodes). */
  signal?: AbortSignal;
  /** Called after each tile or slice with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * `float16` returns the features as half precision (half the memory: F1..F5 of a 1 mm
   * brain are 992 x 7 M values; about 3 significant digits). Default `float32`.
   */
  dtype?: 'float32' | 'float16';
}

/** Features of one image on its (prepared) grid, as float32 or (asked for) float16. */
export interface EncodedImage<D extends 'float32' | 'float16' = 'float32'> {
  /** The chosen levels, upsampled to the image grid and stacked channel-first: (C, *S). */
  features: Tensor<D>;
  /** Channels each chosen level contributed, in order. */
  channelsPerLevel: number[];
  /** The grid the features lie on: the prepared image's shape, spacing and affine. */
  grid: Pick<ImageVolume, 'shape' | 'spacing' | 'affine' | 'source'>;
}

/**
 * A pretrained network as a feature extractor for whole images and volumes of any size:
 * load it from a run folder, a checkpoint or a weights file, and `encode` prepares each
 * image as the run prepared its training images (recorded beside the weights) and returns
 * the chosen decoder levels on the image's grid, ready to write as NIfTI. A 2D encoder
 * encodes a volume slice by slice along the run's slice axis.
 */
export class Encoder {
  readonly #model: CoverModel;
  readonly #owned: boolean;

  private constructor(model: CoverModel, owned: boolean) {
    this.#model = model;
    this.#owned = owned;
  }

  /** Loads a run folder (its newest weights: see weightsFileOf), a checkpoint or a weights file. */
  static async load(target: string, options?: Partial<ModelOptions>): Promise<Encoder> {
    return new Encoder(await CoverModel.load(target, options), true);
  }

  /** An encoder over a model the caller keeps (and disposes). */
  static of(model: CoverModel): Encoder {
    return new Encoder(model, false);
  }

  /** The network's spatial dimensions. */
  get dims(): 2 | 3 {
    return this.#model.options.dims;
  }

  /** How the run prepared its images ({} when its weights file records nothing). */
  get preprocessing(): Preprocessing {
    return recordedPreprocessing(this.#model);
  }

  /**
   * Reads `image` (a file: NIfTI, DICOM series folder, PNG, JPEG) or takes it as it is, and
   * prepares it as the run did: resampled to the recorded spacing (volumes read from files)
   * and, unless `normalize` is false, normalised the same way.
   */
  async prepare(image: string | ImageVolume, normalize = true): Promise<ImageVolume> {
    return prepareImage(image, this.preprocessing, normalize);
  }

  /** The chosen levels of `image`, prepared as the run prepared its images, on its grid. */
  encode(image: string | ImageVolume, options?: EncoderOptions & { dtype?: 'float32' }): Promise<EncodedImage>;
  encode(image: string | ImageVolume, options: EncoderOptions & { dtype: 'float16' }): Promise<EncodedImage<'float16'>>;
  async encode(
    image: string | ImageVolume,
    options: EncoderOptions = {},
  ): Promise<EncodedImage | EncodedImage<'float16'>> {
    checkTilingOptions(options, ['levels', 'normalize', 'dtype'], 'Encoder.encode');
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'float16')
      throw new RangeError(`Expected dtype 'float32' or 'float16' but received ${JSON.stringify(dtype)}`);
    const encoded = await this.#encodeFloat32(image, options);
    if (dtype === 'float32') return encoded;
    return {
      ...encoded,
      features: tensor(toFloat16(encoded.features.data), encoded.features.shape) as Tensor<'float16'>,
    };
  }

  async #encodeFloat32(image: string | ImageVolume, options: EncoderOptions): Promise<EncodedImage> {
    const levels = options.levels ?? [1];
    if (!Array.isArray(levels) || levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 1 || l > 5))
      throw new RangeError(
        `Expected levels between 1 and 5, e.g. [1] or [1, 3], but received ${JSON.stringify(levels)}`,
      );
    const volume = await this.prepare(image, options.normalize ?? true);
    const { window, overlap, blend, signal, onProgress } = options;
    const tiling = { window, overlap, blend, signal, onProgress };
    const pick = (pyramid: Tensor<'float32'>[]) => levels.map((l) => pyramid[l - 1]!);
    const grid = { shape: volume.shape, spacing: volume.spacing, affine: volume.affine, source: volume.source };
    if (this.dims === volume.shape.length) {
      const chosen = pick(
        await this.#model.encode(tensor(volume.data, [1, 1, ...volume.shape]), {
          ...tiling,
          fullResolution: true,
        }),
      );
      return stack(chosen, volume.data.length, grid);
    }
    if (this.dims !== 2 || volume.shape.length !== 3)
      throw new RangeError(`A ${this.dims}D encoder cannot encode a ${volume.shape.length}D image (${volume.source})`);
    return this.#encodeSlices(volume, pick, tiling, grid);
  }

  /** A 2D encoder on a volume: each slice along the run's slice axis, put back in place. */
  async #encodeSlices(
    volume: ImageVolume,
    pick: (pyramid: Tensor<'float32'>[]) => Tensor<'float32'>[],
    tiling: Pick<EncoderOptions, 'window' | 'overlap' | 'blend' | 'signal' | 'onProgress'>,
    grid: EncodedImage['grid'],
  ): Promise<EncodedImage> {
    // A one-slice volume (a 2D NIfTI) is one image, whatever axis the run sliced along.
    const axis = isPlanar(volume.shape) ? 0 : sliceAxisOf(this.preprocessing);
    const { count, rows, columns, at } = planesAcross(volume.shape as [number, number, number], axis);
    const { signal, onProgress, ...rest } = tiling;
    const voxels = volume.data.length;
    const slice = new Float32Array(rows * columns);
    let data: Float32Array | undefined;
    let channelsPerLevel: number[] = [];
    for (let s = 0; s < count; ++s) {
      signal?.throwIfAborted();
      for (let u = 0; u < rows; ++u)
        for (let v = 0; v < columns; ++v) slice[u * columns + v] = volume.data[at(s, u, v)]!;
      const chosen = pick(
        await this.#model.encode(tensor(slice, [1, 1, rows, columns]), { ...rest, fullResolution: true }),
      );
      channelsPerLevel = chosen.map((level) => level.shape[1]!);
      data ??= new Float32Array(channelsPerLevel.reduce((a, b) => a + b, 0) * voxels);
      let c = 0;
      for (const level of chosen)
        for (let k = 0; k < level.shape[1]!; ++k, ++c)
          for (let u = 0; u < rows; ++u)
            for (let v = 0; v < columns; ++v)
              data[c * voxels + at(s, u, v)] = level.data[(k * rows + u) * columns + v]!;
      onProgress?.(s + 1, count);
    }
    const channels = channelsPerLevel.reduce((a, b) => a + b, 0);
    return { features: tensor(data!, [channels, ...volume.shape]), channelsPerLevel, grid };
  }

  /** Frees the network when this encoder loaded it. */
  async dispose(): Promise<void> {
    if (this.#owned) await this.#model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Levels (1, C_l, *S) stacked into one (sum C_l, *S) tensor. */
function stack(levels: Tensor<'float32'>[], voxels: number, grid: EncodedImage['grid']): EncodedImage {
  const channelsPerLevel = levels.map((level) => level.shape[1]!);
  const data = new Float32Array(channelsPerLevel.reduce((a, b) => a + b, 0) * voxels);
  levels.reduce((offset, level) => (data.set(level.data, offset), offset + level.data.length), 0);
  return { features: tensor(data, [data.length / voxels, ...grid.shape]), channelsPerLevel, grid };
}
