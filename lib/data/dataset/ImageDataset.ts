import {
  ImageReadError,
  isPlanar,
  readImage,
  normalizeIntensity,
  resampleToSpacing,
  spacingFor,
  type ImageVolume,
  normalizationSchema,
  type NormalizeSpec,
} from '../image';
import { parseOptions } from '../../config/parseOptions';
import { silentLogger, type Logger } from '../../log/logger';
import { checkInteger, firstNonFinite, refuseUnknownOptions } from '../../validate';
import { checkImageVolume } from './patchOptions';

import { findImageFiles } from './findImageFiles';

export interface ImageDatasetOptions {
  /** Intensity mapping to [0, 1]. Default percentile clipping 0.5 to 99.5. */
  normalize?: NormalizeSpec;
  /** Resample to this voxel size (mm per array axis) first, as `spacingFor` says. Default: keep. */
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
    if (!Array.isArray(files) || !files.every((file) => typeof file === 'string'))
      throw new TypeError('Expected a list of image file paths (ImageDataset.fromSources takes folders and globs)');
    if (files.length === 0) throw new Error('An ImageDataset needs at least one image file');
    checkDatasetOptions(options);
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
    checkInteger(index, 'index', 0, this.files.length - 1);
    // A file that failed fails again: not read anew at every draw (thousands of them, or a
    // large broken archive, would slow every batch).
    if (this.#failed.has(index)) return Promise.resolve(undefined);
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

  /**
   * Reads every image once, as `get` would prepare it, without keeping any: which files fail
   * and why, all of them, before a long run meets the first one hours in. Under onError
   * "skip" the failed files are passed over from then on without being read again.
   */
  async verify(options: VerifyOptions = {}): Promise<DatasetCheck> {
    const { concurrency = 2, signal, onProgress } = checkVerifyOptions(options);
    const total = this.files.length;
    const failures: Array<DatasetFailure | undefined> = new Array<DatasetFailure | undefined>(total);
    const sizes = new Extent();
    const spacings = new Extent();
    let next = 0;
    let done = 0;
    let failedSoFar = 0;
    let stopped = false; // by the signal, or by an error of onProgress
    const worker = async () => {
      while (next < total && !stopped && !signal?.aborted) {
        const index = next++;
        const file = this.files[index]!;
        try {
          const volume = await this.#prepare(file);
          sizes.add(volume.shape);
          spacings.add(volume.spacing);
        } catch (error) {
          failures[index] = { file, message: error instanceof Error ? error.message : String(error) };
          failedSoFar += 1;
          if (this.#options.onError === 'skip') this.#failed.add(index);
        }
        done += 1;
        try {
          onProgress?.(done, total, failedSoFar);
        } catch (error) {
          stopped = true;
          throw error;
        }
      }
    };
    // allSettled: no worker is still reading (and marking files failed) once verify has settled.
    const outcomes = await Promise.allSettled(Array.from({ length: Math.min(concurrency, total) }, worker));
    const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
    if (rejected) throw rejected.reason;
    // An abort that came after the last file changes nothing: the check is whole.
    if (done < total) signal?.throwIfAborted();
    const failed = failures.filter((failure) => failure !== undefined);
    return {
      readable: this.files.length - failed.length,
      failed,
      ...(sizes.min ? { shape: { min: sizes.min, max: sizes.max! } } : {}),
      ...(spacings.min ? { spacing: { min: spacings.min, max: spacings.max! } } : {}),
    };
  }

  async #load(index: number): Promise<ImageVolume | undefined> {
    const file = this.files[index]!;
    try {
      return await this.#prepare(file);
    } catch (error) {
      if ((this.#options.onError ?? 'error') === 'error') throw error;
      if (!this.#failed.has(index)) {
        this.#failed.add(index);
        (this.#options.logger ?? silentLogger).warn(`skipping an unreadable image: ${(error as Error).message}`, {
          file,
        });
      }
      return undefined;
    }
  }

  /** Reads, resamples, checks and normalises one file; throws what is wrong with it. */
  async #prepare(file: string): Promise<ImageVolume> {
    const { normalize = { kind: 'percentile' }, spacing, maxVoxels } = this.#options;
    const read =
      this.#options.read ?? ((path: string) => readImage(path, maxVoxels !== undefined ? { maxVoxels } : {}));
    let volume = checkImageVolume(await read(file), file);
    const target = spacing && spacingFor(volume, spacing);
    if (target) volume = resampleToSpacing(volume, target, maxVoxels !== undefined ? { maxVoxels } : {});
    // After resampling, which may leave one slice of a thin volume.
    if (this.#options.volumesOnly && isPlanar(volume.shape))
      throw new ImageReadError(file, 'is a 2D image; 3D training needs volumes (or use dims 2)');
    const normalized = normalizeIntensity(volume, normalize);
    // The other normalisations map NaN and infinities to 0 or 1; left as they are, they
    // would make every step that draws them skip as non-finite, the file unnamed.
    const bad = normalize.kind === 'none' ? firstNonFinite(normalized.data) : -1;
    if (bad >= 0)
      throw new ImageReadError(
        file,
        `holds ${normalized.data[bad]} at voxel ${bad}, and normalize is "none"; clean the image or normalise it`,
      );
    return normalized;
  }
}

export interface VerifyOptions {
  /** Files read at once, 1 to 64. Default 2 (each may be a large volume in memory until checked). */
  concurrency?: number;
  /** Stops after the files being read; verify then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each file, with how many are done, the total, and how many of those failed. */
  onProgress?: (done: number, total: number, failed: number) => void;
}

export interface DatasetFailure {
  file: string;
  /** What is wrong with it (the reader's message, which starts with the path). */
  message: string;
}

export interface DatasetCheck {
  /** Files that prepare as training would prepare them. */
  readable: number;
  /** The others, in the dataset's order. */
  failed: DatasetFailure[];
  /** Smallest and largest size per array axis of the readable images, after resampling. */
  shape?: { min: number[]; max: number[] };
  /** Smallest and largest voxel size (mm) per array axis of the readable images. */
  spacing?: { min: number[]; max: number[] };
}

/**
 * Per-axis minimum and maximum over arrays of 2 or 3 values. Arrays align on their last
 * axes: a 2D picture among volumes counts for the in-plane axes only.
 */
class Extent {
  min?: number[];
  max?: number[];

  add(values: readonly number[]): void {
    const length = Math.max(values.length, this.min?.length ?? 0);
    const at = (array: readonly number[] | undefined, axis: number) => array?.[axis - (length - array.length)];
    const defined = (value: number | undefined): value is number => value !== undefined;
    const axes = Array.from({ length }, (_, axis) => axis);
    this.min = axes.map((axis) => Math.min(...[at(values, axis), at(this.min, axis)].filter(defined)));
    this.max = axes.map((axis) => Math.max(...[at(values, axis), at(this.max, axis)].filter(defined)));
  }
}

function checkVerifyOptions(options: VerifyOptions): VerifyOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Expected verify options as an object');
  refuseUnknownOptions(options, ['concurrency', 'signal', 'onProgress'], 'verify');
  if (options.concurrency !== undefined) checkInteger(options.concurrency, 'concurrency', 1, 64);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new TypeError('Expected signal to be an AbortSignal');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new TypeError('Expected onProgress to be a function (done, total, failed) => void');
  return options;
}

const DATASET_OPTIONS = Object.keys({
  normalize: 1,
  spacing: 1,
  onError: 1,
  cacheSize: 1,
  logger: 1,
  maxVoxels: 1,
  volumesOnly: 1,
  read: 1,
} satisfies Record<keyof ImageDatasetOptions, 1>);

/** Options are checked up front: under onError "skip" a bad one would read as every image failing. */
function checkDatasetOptions(options: ImageDatasetOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('Expected ImageDataset options as an object');
  refuseUnknownOptions(options, DATASET_OPTIONS, 'ImageDataset');
  const { normalize, spacing, onError, cacheSize, maxVoxels, read, logger } = options;
  if (normalize !== undefined) parseOptions(normalizationSchema, normalize, 'normalize');
  if (
    spacing !== undefined &&
    (!Array.isArray(spacing) ||
      (spacing.length !== 2 && spacing.length !== 3) ||
      !spacing.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0))
  )
    throw new RangeError(
      `Expected spacing as 2 or 3 positive voxel sizes in mm but received ${JSON.stringify(spacing)}`,
    );
  if (onError !== undefined && onError !== 'error' && onError !== 'skip')
    throw new RangeError(`Expected onError "error" or "skip" but received ${JSON.stringify(onError)}`);
  if (cacheSize !== undefined) checkInteger(cacheSize, 'cacheSize', 0);
  if (maxVoxels !== undefined) checkInteger(maxVoxels, 'maxVoxels', 1);
  if (read !== undefined && typeof read !== 'function')
    throw new TypeError('Expected read to be a function (file) => Promise<ImageVolume>');
  if (logger !== undefined && typeof logger?.warn !== 'function')
    throw new TypeError('Expected logger to be a Logger (createLogger(), or an object with warn())');
}
