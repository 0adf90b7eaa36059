import { normalizeIntensity, readImage, resampleToSpacing, type ImageVolume, type NormalizeSpec } from '../data/image';
import type { CoverModel } from '../model/CoverModel';

/** How a run prepared its training images, as final.safetensors records it. */
export interface Preprocessing {
  normalize?: NormalizeSpec;
  spacing?: number[];
  sliceAxis?: string;
}

/** The preprocessing recorded in a loaded model's weights file ({} when none is). */
export function recordedPreprocessing(model: CoverModel): Preprocessing {
  const recorded = model.metadata['cover-torch.preprocessing'];
  return (recorded ? JSON.parse(recorded) : {}) as Preprocessing;
}

/**
 * Reads `file` and prepares it as the run prepared its training images: resampled to the
 * recorded spacing (volumes) and, when `normalize`, normalised the same way.
 */
export async function readPrepared(
  file: string,
  preprocessing: Preprocessing,
  normalize: boolean,
): Promise<ImageVolume> {
  let volume = await readImage(file);
  if (preprocessing.spacing && volume.shape.length === 3) volume = resampleToSpacing(volume, preprocessing.spacing);
  if (normalize) volume = normalizeIntensity(volume, preprocessing.normalize ?? { kind: 'percentile' });
  return volume;
}
