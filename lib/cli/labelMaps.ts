/** Label maps as the commands that take them (finetune, evaluate, register) read them. */
import { planeShape, readImage, resampleToSpacing, spacingFor, type ImageVolume } from '../data/image';
import type { Preprocessing } from '../encoder/preprocessing';

/**
 * A label map on the grid its image is trained on: resampled to the run's spacing as the
 * image is (prepareImage), by nearest neighbour so that its values stay classes.
 */
export async function readLabelMap(file: string, preprocessing: Preprocessing): Promise<ImageVolume> {
  const labels = await readImage(file);
  const target = preprocessing.spacing && spacingFor(labels, preprocessing.spacing);
  return target ? resampleToSpacing(labels, target, { interpolation: 'nearest' }) : labels;
}

/**
 * Image and label map must cover the same voxels: the same shape and voxel-to-world matrix
 * (to 1e-3 mm, the rounding of float32 headers). Two maps of the same shape that files
 * place differently (one with no orientation, one flipped) would pair every voxel with
 * another's label.
 */
export function checkSameGrid(
  labels: ImageVolume,
  labelFile: string,
  image: ImageVolume,
  imageFile: string,
  preprocessing: Preprocessing,
): void {
  const resampled = preprocessing.spacing && labels.shape.length === 3 ? ' (both resampled to the run spacing)' : '';
  if (planeShape(labels.shape).join() !== planeShape(image.shape).join())
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
export function classesOf(values: Float32Array, file: string): Int32Array {
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
