import { seededRandom } from '../data/phantom';
import { Segmenter } from '../segment/Segmenter';
import { tensor } from '../tensor';
import { readLabelledImages, type LabelledImage } from './labelledImages';
import { recordedPreprocessing } from '../encoder/preprocessing';
import { parseCommandArgs } from './commandArgs';

export const FINETUNE_USAGE = `Usage: cover-torch finetune --weights RUN --images SRC --labels SRC --classes K --out FILE [options]

Fine-tunes a pretrained encoder for segmentation (a Segmenter: a 1x1 class head on F1,
cross-entropy plus soft Dice) on labelled images, and writes encoder and head to one file
(Segmenter.load, cover-torch evaluate). Images (NIfTI, DICOM series, PNG, JPEG) are
prepared as the run prepared its training images; each label map is on its image's grid,
and they pair up in sorted order. A 2D model trains on the slices (along the run's slice
axis) that hold a label other than 0.
Options:
  --weights PATH        run folder, checkpoint folder or .safetensors file (required)
  --images SRC          image files, folders or glob patterns (required; may repeat)
  --labels SRC          label maps, as many (required; may repeat)
  --classes K           number of classes: labels 0..K-1 (required)
  --out FILE            the fine-tuned segmenter, .safetensors (required)
  --steps N             training steps (default 500)
  --crop N              crop side per axis (default 96), at most the smallest image's side
  --batch-size N        crops per step (default 4 for 2D models, 1 for 3D)
  --lr X                Adam learning rate (default 3e-4)
  --freeze-encoder      train the head only: a linear probe of the frozen features
  --class-weights LIST  one weight per class, e.g. 0.5,1,2
  --ignore-label N      voxels with this label count for nothing
  --seed N              seed of the crops and of the head (default 0)
  --no-normalize        use the intensities as they are`;

/** Runs `cover-torch finetune`; returns the exit code. */
export async function finetune(
  argv: string[],
  out: (text: string) => void,
  progress: (text: string) => void = () => undefined,
): Promise<number> {
  const args = parseCommandArgs(argv, FINETUNE_USAGE, {
    values: ['--weights', '--out', '--classes', '--steps', '--crop', '--batch-size', '--lr'].concat([
      '--class-weights',
      '--ignore-label',
      '--seed',
    ]),
    lists: ['--images', '--labels'],
    flags: ['--freeze-encoder', '--no-normalize'],
    required: ['--weights', '--images', '--labels', '--classes', '--out'],
    positional: 0,
  });
  const classes = args.integer('--classes', 2, 1024);
  const steps = args.integer('--steps', 1, Number.MAX_SAFE_INTEGER, 500);
  const seed = args.integer('--seed', 0, Number.MAX_SAFE_INTEGER, 0);
  const learningRate = args.number('--lr', 3e-4);
  const classWeights = args.value('--class-weights')?.split(',').map(Number);
  const ignore = args.value('--ignore-label');
  const segmenter = await Segmenter.create(args.value('--weights')!, {
    classes,
    seed,
    freezeEncoder: args.flag('--freeze-encoder'),
    ...(classWeights ? { classWeights } : {}),
    ...(ignore !== undefined ? { ignoreLabel: args.integer('--ignore-label', 0, 2 ** 31 - 1) } : {}),
  });
  try {
    const dims = segmenter.encoder.options.dims;
    const pairs = await readLabelledImages(args.list('--images'), args.list('--labels'), {
      preprocessing: recordedPreprocessing(segmenter.encoder),
      normalize: !args.flag('--no-normalize'),
      dims,
    });
    const batch = args.integer('--batch-size', 1, 4096, dims === 2 ? 4 : 1);
    const crop = cropSize(pairs, args.integer('--crop', 16, 4096, 96));
    progress(
      `fine-tuning on ${pairs.length} labelled ${dims === 2 ? 'images' : 'volumes'}, crops [${crop.join(', ')}]`,
    );
    const random = seededRandom(seed);
    let loss = NaN;
    for (let step = 1; step <= steps; step++) {
      const { images, labels } = randomCrops(pairs, crop, batch, random);
      loss = (await segmenter.trainStep(images, labels, learningRate)).loss;
      if (step % 50 === 0 || step === steps) progress(`step ${step}/${steps}, loss ${loss.toFixed(4)}`);
    }
    const file = args.value('--out')!;
    await segmenter.save(file);
    out(
      `wrote ${file}: ${classes} classes, ${steps} steps on ${pairs.length} labelled images, last loss ${loss.toFixed(4)}\n`,
    );
    return 0;
  } finally {
    await segmenter.dispose();
  }
}

/** The crop per axis: `side`, at most the smallest image's extent along that axis. */
function cropSize(pairs: LabelledImage[], side: number): number[] {
  return pairs[0]!.shape.map((_, axis) => Math.min(side, ...pairs.map((pair) => pair.shape[axis]!)));
}

/** `batch` crops of `crop` voxels at random images and positions, with their labels. */
export function randomCrops(
  pairs: LabelledImage[],
  crop: number[],
  batch: number,
  random: () => number,
): { images: ReturnType<typeof tensor<'float32'>>; labels: ReturnType<typeof tensor<'int32'>> } {
  const voxels = crop.reduce((a, b) => a * b, 1);
  const images = new Float32Array(batch * voxels);
  const labels = new Int32Array(batch * voxels);
  for (let b = 0; b < batch; b++) {
    const pair = pairs[Math.floor(random() * pairs.length)]!;
    const origin = crop.map((side, axis) => Math.floor(random() * (pair.shape[axis]! - side + 1)));
    const strides = pair.shape.map((_, axis) => pair.shape.slice(axis + 1).reduce((a, c) => a * c, 1));
    // Rows along the last axis are contiguous in both.
    const rowLength = crop.at(-1)!;
    for (let row = 0; row < voxels / rowLength; row++) {
      let from = origin.at(-1)!;
      let rest = row;
      for (let axis = crop.length - 2; axis >= 0; axis--) {
        from += (origin[axis]! + (rest % crop[axis]!)) * strides[axis]!;
        rest = Math.floor(rest / crop[axis]!);
      }
      images.set(pair.image.subarray(from, from + rowLength), b * voxels + row * rowLength);
      labels.set(pair.labels.subarray(from, from + rowLength), b * voxels + row * rowLength);
    }
  }
  return { images: tensor(images, [batch, 1, ...crop]), labels: tensor(labels, [batch, ...crop]) };
}
