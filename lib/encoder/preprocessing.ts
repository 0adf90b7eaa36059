import {
  normalizeIntensity,
  readImage,
  resampleToSpacing,
  spacingFor,
  type ImageVolume,
  type NormalizeSpec,
} from '../data/image';
import type { CoverModel } from '../model/CoverModel';

/** How a run prepared its training images, as its weights file records it. */
export interface Preprocessing {
  /** Intensity normalisation. */
  normalize?: NormalizeSpec;
  /** Voxel size volumes were resampled to, mm per array axis. */
  spacing?: number[];
  /** 2D runs on volumes: the axis their slices were cut along. */
  sliceAxis?: string;
}

/** The metadata key of a weights file under which a run records its {@link Preprocessing}. */
export const PREPROCESSING_METADATA = 'cover-torch.preprocessing';

/** Axis of a [D, H, W] volume that a run's slice axis cuts along (axial planes are [H, W]). */
export const SLICE_AXIS: Record<string, number> = { axial: 0, coronal: 1, sagittal: 2 };

/** The axis a run's 2D slices were cut along (axial when it recorded none). */
export function sliceAxisOf(preprocessing: Preprocessing): number {
  return SLICE_AXIS[preprocessing.sliceAxis ?? 'axial'] ?? 0;
}

/** The preprocessing recorded in a loaded model's weights file ({} when none is). */
export function recordedPreprocessing(model: CoverModel): Preprocessing {
  const recorded = model.metadata[PREPROCESSING_METADATA];
  if (!recorded) return {};
  try {
    return JSON.parse(recorded) as Preprocessing;
  } catch (error) {
    throw new Error(
      `The weights' metadata "${PREPROCESSING_METADATA}" is not valid JSON (${(error as Error).message}); expected what pretraining recorded, e.g. {"dims":2,"normalize":{"kind":"none"}}`,
      { cause: error },
    );
  }
}

/**
 * Reads `image` (a file) or takes it as it is, and prepares it as the run prepared its
 * training images: volumes read from files resampled to the recorded spacing and, when
 * `normalize`, intensities normalised the same way.
 */
export async function prepareImage(
  image: string | ImageVolume,
  preprocessing: Preprocessing,
  normalize: boolean,
): Promise<ImageVolume> {
  let volume = typeof image === 'string' ? await readImage(image) : image;
  const target = typeof image === 'string' && preprocessing.spacing && spacingFor(volume, preprocessing.spacing);
  if (target) volume = resampleToSpacing(volume, target);
  return normalize ? normalizeAsRecorded(volume, preprocessing) : volume;
}

/** The intensity mapping of a run (percentile clipping when it recorded none). */
export function normalizeAsRecorded(volume: ImageVolume, preprocessing: Preprocessing): ImageVolume {
  return normalizeIntensity(volume, preprocessing.normalize ?? { kind: 'percentile' });
}

/**
 * The planes of a [D, H, W] volume across `axis`: how many, their rows and columns, and the
 * flat index of (plane s, row i, column j).
 */
export function planesAcross(
  shape: [number, number, number],
  axis: number,
): { count: number; rows: number; columns: number; at: (s: number, i: number, j: number) => number } {
  const stride = [shape[1] * shape[2], shape[2], 1];
  const [u, v] = [0, 1, 2].filter((a) => a !== axis) as [number, number];
  const [planeStep, rowStep, columnStep] = [stride[axis]!, stride[u]!, stride[v]!];
  return {
    count: shape[axis]!,
    rows: shape[u]!,
    columns: shape[v]!,
    at: (s, i, j) => s * planeStep + i * rowStep + j * columnStep,
  };
}
