import { planeShape, type ImageVolume } from '../data/image';
import { checkSameGrid, classesOf, readLabelMap } from './labelMaps';
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
    const shape = planeShape(volume.shape);
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
