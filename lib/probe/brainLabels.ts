import fs from 'node:fs';
import path from 'node:path';
import { normalizeIntensity, type NormalizeSpec } from '../data/image/normalize';
import { readImage } from '../data/image/readImage';

/**
 * Real tissue labels for the probe, built from Debian's mricron-data (`apt-get install
 * mricron-data`): the ch2 T1 brain, its brain-extracted copy ch2bet and the AAL atlas, all
 * on one 181 x 217 x 181 1 mm grid. Four classes, by these rules:
 *
 *   0 background  ch2bet = 0 (outside the brain mask: scalp, skull, air)
 *   1 AAL grey    AAL label > 0 (116 hand-drawn cortical, subcortical and cerebellar regions)
 *   2 dark brain  in the mask, outside AAL, ch2 intensity below DARK_FRACTION x the median
 *                 of mask-but-not-AAL voxels (CSF: ventricles, sulci)
 *   3 white       in the mask, outside AAL, not dark (white matter and what AAL leaves out)
 *
 * Slices are axial planes of the canonical (RAS+) array: [H, W] images, 217 x 181.
 */

export const MRICRON_TEMPLATES = '/usr/share/mricron/templates';
export const BRAIN_CLASSES = ['background', 'AAL grey', 'dark brain (CSF)', 'white'] as const;
/** Mask voxels outside AAL darker than this share of their median are CSF-like. */
export const DARK_FRACTION = 0.6;
/** Axial slice indices (along D, inferior to superior) the probe trains and tests on. */
export const TRAIN_SLICES = [55, 75, 95, 115] as const;
export const TEST_SLICES = Array.from({ length: 20 }, (_, i) => 42 + 5 * i);

/** 2D images with a label per pixel. */
export interface LabelledSlices {
  /** [H, W] of every slice. */
  shape: [number, number];
  /** Intensities normalised as for pretraining, one array per slice. */
  images: Float32Array[];
  labels: Uint8Array[];
  classes: readonly string[];
}

/** The probe's one input normalisation, the default of pretraining. */
export const PROBE_NORMALIZE: NormalizeSpec = { kind: 'percentile', lower: 0.5, upper: 99.5 };

/** The probe's train and test slices of ch2, with intensities normalised by `normalize`. */
export async function brainProbeSlices(
  normalize: NormalizeSpec = PROBE_NORMALIZE,
  folder = MRICRON_TEMPLATES,
): Promise<{ train: LabelledSlices; test: LabelledSlices }> {
  const files = ['ch2.nii.gz', 'ch2bet.nii.gz', 'aal.nii.gz'].map((name) => path.join(folder, name));
  const missing = files.filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `The brain probe needs Debian's mricron-data; missing ${missing.join(', ')}. Install it with: apt-get install mricron-data`,
    );
  }
  const [t1, brain, atlas] = await Promise.all(files.map((file) => readImage(file)));
  for (const volume of [brain!, atlas!]) {
    if (volume.shape.join() !== t1!.shape.join())
      throw new Error(`${volume.source} has shape [${volume.shape}] but ${t1!.source} has [${t1!.shape}]`);
  }
  const labels = brainLabels(t1!.data, brain!.data, atlas!.data);
  const image = normalizeIntensity(t1!, normalize).data;
  const [, height, width] = t1!.shape as [number, number, number];
  const plane = height * width;
  const take = (slices: readonly number[]): LabelledSlices => ({
    shape: [height, width],
    images: slices.map((z) => image.slice(z * plane, (z + 1) * plane)),
    labels: slices.map((z) => labels.slice(z * plane, (z + 1) * plane)),
    classes: BRAIN_CLASSES,
  });
  return { train: take(TRAIN_SLICES), test: take(TEST_SLICES) };
}

/** Per-voxel class (see the file comment) from the T1, the brain-extracted T1 and AAL. */
export function brainLabels(t1: Float32Array, brain: Float32Array, atlas: Float32Array): Uint8Array {
  const labels = new Uint8Array(t1.length);
  const outsideAtlas: number[] = [];
  for (let i = 0; i < t1.length; ++i) {
    if (brain[i]! <= 0) labels[i] = 0;
    else if (atlas[i]! > 0) labels[i] = 1;
    else {
      labels[i] = 3;
      outsideAtlas.push(t1[i]!);
    }
  }
  outsideAtlas.sort((a, b) => a - b);
  const median = outsideAtlas[Math.floor(outsideAtlas.length / 2)] ?? 0;
  const dark = DARK_FRACTION * median;
  for (let i = 0; i < t1.length; ++i) if (labels[i] === 3 && t1[i]! < dark) labels[i] = 2;
  return labels;
}
