import {
  ImageReadError,
  isPlanar,
  readImage,
  normalizeIntensity,
  resampleToSpacing,
  type ImageVolume,
  type NormalizeSpec,
} from '../image';
import { silentLogger, type Logger } from '../../log/logger';

import { findImageFiles } from './findImageFiles';

export interface ImageDatasetOptions {
  /** Intensity mapping to [0, 1]. Default percentile clipping 0.5 to 99.5. */
  normalize?: NormalizeSpec;
  /** Resample volumes to this voxel size (mm per array axis) first. Default: keep. */
  spacing?: number[];
  /** An unreadable file throws ("error", the default) or is skipped with a warning ("skip"). */
  onError?: 'error' | 'skip';
  /** Decoded images kept in memory. Default 8. */
  cacheSize?: number;
  /** Receives the warnings of skipped files. */
  logger?: Logger;
  /** Largest image read by the default reader, in voxels. Default 2^29 (see readImage). */
  maxVoxels?: number;
  /**
   * Only volumes (3D training): a 2D image (or one slice) counts as unreadable, so that
   * `onError: 'skip'` passes over a stray picture as it does over a broken file. Default false.
   */
  volumesOnly?: boolean;
  /** Reads one image; default readImage (NIfTI, DICOM series, PNG, JPEG). */
  read?: (file: string) => Promise<ImageVolume>;
}

/**
 * A list of images read on demand: each is read, optionally resampled, normalised, and kept
 * in a small least-recently-used cache, so a long run over many volumes holds only a few.
 */
export class ImageDataset {
  readonly files: readonly string[];
  readonly #options: ImageDatasetOptions;
  readonly #cache = new Map<number, Promise<ImageVolume | undefined>>();
  readonly #failed = new Set<number>();

  constructor(files: readonly string[], options: ImageDatasetOptions = {}) {
    if (files.length === 0) throw new Error('An ImageDataset needs at least one image file');
    this.files = files;
    this.#options = options;
  }

  /** Files, folders (recursively; a DICOM slice folder is one series) and glob patterns. */
  static async fromSources(sources: readonly string[], options: ImageDatasetOptions = {}): Promise<ImageDataset> {
    return new ImageDataset(await findImageFiles(sources), options);
  }

  get size(): number {
    return this.files.length;
  }

  /** How many files failed to load so far (only with onError "skip"). */
  get failedCount(): number {
    return this.#failed.size;
  }

  /** Image `index`, ready for sampling; undefined when it failed and failures are skipped. */
  get(index: number): Promise<ImageVolume | undefined> {
    const cached = this.#cache.get(index);
    if (cached) {
      // Re-insert: a Map iterates in insertion order, so its first key is the least recent.
      this.#cache.delete(index);
      this.#cache.set(index, cached);
      return cached;
    }
    const loading = this.#load(index);
    this.#cache.set(index, loading);
    const limit = this.#options.cacheSize ?? 8;
    while (this.#cache.size > limit) this.#cache.delete(this.#cache.keys().next().value!);
    return loading;
  }

  async #load(index: number): Promise<ImageVolume | undefined> {
    const file = this.files[index]!;
    const { normalize = { kind: 'percentile' }, spacing, onError = 'error', maxVoxels } = this.#options;
    const read = this.#options.read ?? ((path: string) => readImage(path, maxVoxels ? { maxVoxels } : {}));
    try {
      let volume = await read(file);
      if (this.#options.volumesOnly && isPlanar(volume.shape))
        throw new ImageReadError(file, 'is a 2D image; 3D training needs volumes (or use dims 2)');
      if (spacing && volume.shape.length === spacing.length)
        volume = resampleToSpacing(volume, spacing, maxVoxels ? { maxVoxels } : {});
      return normalizeIntensity(volume, normalize);
    } catch (error) {
      if (onError === 'error') throw error;
      if (!this.#failed.has(index)) {
        this.#failed.add(index);
        (this.#options.logger ?? silentLogger).warn(`skipping an unreadable image: ${(error as Error).message}`, {
          file,
        });
      }
      return undefined;
    }
  }
}
