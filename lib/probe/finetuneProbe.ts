import { seededRandom } from '../data/phantom';
import type { CoverModel } from '../model/CoverModel';
import { Segmenter } from '../segment/Segmenter';
import { scoreSegmentation } from '../segment/segmentationMetrics';
import { tensor } from '../tensor';
import type { LabelledSlices } from './brainLabels';
import type { ProbeScores } from './probeFeatures';

/**
 * Fine-tuning scores of an encoder: the whole network plus a 1x1 class head trained on the
 * labelled training slices (random crops), then every test slice segmented whole and scored
 * with per-class Dice over all test voxels together. This is the measure the method claims
 * its gains on (pretrained against the same network from scratch, few labels); the linear
 * probe measures what the frozen features hold.
 */
export const FINETUNE_SETTINGS = {
  steps: 300,
  crop: 96,
  /** One crop from each training slice per step. */
  batch: 4,
  learningRate: 3e-4,
  optimizer: 'adam, weight decay 1e-4',
  loss: 'cross-entropy + soft Dice (all classes weight 1)',
  headSeed: 0,
} as const;

export interface FinetuneProbeOptions {
  steps?: number;
  /** Train the head only, the encoder frozen (a linear probe of F1). Default false. */
  freezeEncoder?: boolean;
  /** Seed of the crop positions and the head. Default 0. */
  seed?: number;
  /** Called after each step with its loss. */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Fine-tunes `model` (its weights change; the caller still owns and disposes it) on the
 * training slices and scores it on the test slices.
 */
export async function finetuneProbe(
  model: CoverModel,
  { train, test }: { train: LabelledSlices; test: LabelledSlices },
  options: FinetuneProbeOptions = {},
): Promise<ProbeScores> {
  const { steps = FINETUNE_SETTINGS.steps, freezeEncoder = false, seed = FINETUNE_SETTINGS.headSeed } = options;
  const { crop, learningRate } = FINETUNE_SETTINGS;
  const [height, width] = train.shape;
  if (height < crop || width < crop)
    throw new RangeError(`Expected slices of at least ${crop} x ${crop} but received ${height} x ${width}`);
  const classes = train.classes.length;
  const segmenter = await Segmenter.create(model, { classes, freezeEncoder, seed });
  const random = seededRandom(seed);
  const count = train.images.length;
  const images = new Float32Array(count * crop * crop);
  const labels = new Uint8Array(count * crop * crop);
  for (let step = 1; step <= steps; step++) {
    for (let s = 0; s < count; s++) {
      const top = Math.floor(random() * (height - crop + 1));
      const left = Math.floor(random() * (width - crop + 1));
      for (let y = 0; y < crop; y++) {
        const from = (top + y) * width + left;
        images.set(train.images[s]!.subarray(from, from + crop), (s * crop + y) * crop);
        labels.set(train.labels[s]!.subarray(from, from + crop), (s * crop + y) * crop);
      }
    }
    const metrics = await segmenter.trainStep(
      tensor(images, [count, 1, crop, crop]),
      tensor(labels, [count, crop, crop]),
      learningRate,
    );
    options.onStep?.(step, metrics.loss);
  }
  const plane = height * width;
  const predicted = new Uint8Array(test.images.length * plane);
  const truth = new Uint8Array(test.images.length * plane);
  for (let s = 0; s < test.images.length; s++) {
    const labelled = await segmenter.predict(tensor(test.images[s]!, [1, 1, height, width]));
    predicted.set(labelled.data, s * plane);
    truth.set(test.labels[s]!, s * plane);
  }
  // Dice over all test voxels together, as the linear probe scores (no distances needed).
  const scores = scoreSegmentation(predicted, truth, [predicted.length], { classes, surfaceDistances: false });
  return { dice: scores.perClass.map((c) => c.dice), meanDice: scores.meanDice };
}
