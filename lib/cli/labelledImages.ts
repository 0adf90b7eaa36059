import { readImage, resampleToSpacing, type ImageVolume } from '../data/image';
import { findImageFiles } from '../data/dataset/findImageFiles';
import { planesAcross, prepareImage, sliceAxisOf, type Preprocessing } from '../encoder/preprocessing';

/** One image and its label map, on one grid, as a model of the run's dims takes them. */
export interface LabelledImage {
  /** Intensities, prepared as the run prepared its images. */
  image: Float32Array;
  labels: Int32Array;
  /** [H, W] or [D, H, W]. */
  shape: number[];
  spacing: number[];
  /** The image file, with the slice for 2D models on volumes. */
  source: string;
}

/**
 * Image files and label files (each a list of files, folders or glob patterns; paired in
 * sorted order) read as a model of `dims` takes them: a 2D model gets every slice of a
 * volume along the run's slice axis that holds a label other than 0, or, with `wholeVolumes`,
 * the volume itself (to segment slice by slice and score whole).
 */
export async function readLabelledImages(
  imageSources: string[],
  labelSources: string[],
  options: { preprocessing: Preprocessing; normalize: boolean; dims: 2 | 3; wholeVolumes?: boolean },
): Promise<LabelledImage[]> {
  const [images, labels] = await Promise.all([findImageFiles(imageSources), findImageFiles(labelSources)]);
  if (images.length !== labels.length)
    throw new Error(
      `found ${images.length} images but ${labels.length} label maps; they pair up in sorted order, so the counts must match`,
    );
  const pairs: LabelledImage[] = [];
  for (const [i, file] of images.entries()) {
    const volume = await prepareImage(file, options.preprocessing, options.normalize);
    const labelVolume = await readLabelMap(labels[i]!, options.preprocessing);
    const shape = squeeze(volume.shape);
    checkSameGrid(labelVolume, labels[i]!, volume, file, options.preprocessing);
    const labelValues = classesOf(labelVolume.data, labels[i]!);
    if (shape.length === options.dims || (options.wholeVolumes && options.dims === 2 && shape.length === 3)) {
      pairs.push({ image: volume.data, labels: labelValues, shape, spacing: spacingOf(volume, shape), source: file });
    } else if (options.dims === 2 && shape.length === 3) {
      const axis = sliceAxisOf(options.preprocessing);
      for (const slice of slicesOf(volume.data, labelValues, shape as [number, number, number], axis)) {
        if (slice.labels.every((label) => label === 0)) continue;
        pairs.push({
          ...slice,
          spacing: volume.spacing.filter((_, a) => a !== axis),
          source: `${file} slice ${slice.index}`,
        });
      }
    } else {
      throw new Error(`a ${options.dims}D model cannot take ${file}, a ${shape.length}D image`);
    }
  }
  if (pairs.length === 0) throw new Error('no labelled image (every label map is 0 everywhere)');
  return pairs;
}

/**
 * A label map on the grid its image is trained on: resampled to the run's spacing as the
 * image is (prepareImage), by nearest neighbour so that its values stay classes.
 */
async function readLabelMap(file: string, preprocessing: Preprocessing): Promise<ImageVolume> {
  const labels = await readImage(file);
  if (!preprocessing.spacing || labels.shape.length !== 3) return labels;
  return resampleToSpacing(labels, preprocessing.spacing, { interpolation: 'nearest' });
}

/**
 * Image and label map must cover the same voxels: the same shape and voxel-to-world matrix
 * (to 1e-3 mm, the rounding of float32 headers). Two maps of the same shape that files
 * place differently (one with no orientation, one flipped) would pair every voxel with
 * another's label.
 */
function checkSameGrid(
  labels: ImageVolume,
  labelFile: string,
  image: ImageVolume,
  imageFile: string,
  preprocessing: Preprocessing,
): void {
  const resampled = preprocessing.spacing && labels.shape.length === 3 ? ' (both resampled to the run spacing)' : '';
  if (squeeze(labels.shape).join() !== squeeze(image.shape).join())
    throw new Error(
      `${labelFile} has shape [${labels.shape.join(', ')}] but its image ${imageFile} has [${image.shape.join(', ')}]${resampled}; label maps must be on their image's grid`,
    );
  const differs = labels.affine
    .slice(0, 12)
    .some((value, i) => !(Math.abs(value - image.affine[i]!) <= 1e-3 * Math.max(1, Math.abs(image.affine[i]!))));
  if (differs)
    throw new Error(
      `${labelFile} and its image ${imageFile} have the same shape but place their voxels differently ` +
        `(voxel-to-world matrices [${rows(labels.affine)}] and [${rows(image.affine)}]); label maps must be on their image's grid`,
    );
}

function rows(affine: number[]): string {
  return [0, 1, 2]
    .map((r) =>
      affine
        .slice(4 * r, 4 * r + 4)
        .map((x) => +x.toFixed(3))
        .join(' '),
    )
    .join('; ');
}

/** Label values as classes; a value that is not an integer means the file is not a label map. */
function classesOf(values: Float32Array, file: string): Int32Array {
  const classes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const rounded = Math.round(value);
    if (!(Math.abs(value - rounded) <= 1e-3))
      throw new Error(
        `${file} holds ${value} at voxel ${i}, not a class number; expected integer labels 0..K-1 (an image passed as labels?)`,
      );
    classes[i] = rounded;
  }
  return classes;
}

/** A 2D image saved as NIfTI reads as one slice, [1, H, W]. */
function squeeze(shape: number[]): number[] {
  return shape.length === 3 && shape[0] === 1 ? shape.slice(1) : shape;
}

function spacingOf(volume: ImageVolume, shape: number[]): number[] {
  return volume.spacing.slice(volume.spacing.length - shape.length);
}

/** Each plane across `axis` of a [D, H, W] volume and its labels. */
export function* slicesOf(
  data: Float32Array,
  labels: Int32Array,
  shape: [number, number, number],
  axis: number,
): Generator<{ image: Float32Array; labels: Int32Array; shape: number[]; index: number }> {
  const { count, rows, columns, at } = planesAcross(shape, axis);
  for (let s = 0; s < count; s++) {
    const image = new Float32Array(rows * columns);
    const sliceLabels = new Int32Array(rows * columns);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++) {
        image[i * columns + j] = data[at(s, i, j)]!;
        sliceLabels[i * columns + j] = labels[at(s, i, j)]!;
      }
    yield { image, labels: sliceLabels, shape: [rows, columns], index: s };
  }
}
