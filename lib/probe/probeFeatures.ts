import { seededRandom } from '../data/phantom';
import type { CoverModel, EncodeOptions } from '../model/CoverModel';
import { tensor } from '../tensor';
import type { LabelledSlices } from './brainLabels';
import { fitLinearProbe, predictLinearProbe, PROBE_SETTINGS } from './linearProbe';

/**
 * Linear-probe scores of dense features: fit one probe per feature source on voxels drawn
 * from the training slices (class-balanced, seeded), predict every voxel of the test slices,
 * and score per-class Dice over all test voxels together.
 */

/** Dice per class (NaN for a class absent from both prediction and truth) and their mean. */
export interface ProbeScores {
  dice: number[];
  meanDice: number;
}

/** Names of the decoder levels `CoverModel.encode` returns, fine to coarse. */
export const LEVEL_NAMES = ['F1', 'F2', 'F3', 'F4', 'F5'] as const;
/** Feature sources the probe scores: each level, and all levels stacked per voxel (a hypercolumn). */
export const SOURCE_NAMES = [...LEVEL_NAMES, 'F1-F5'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

/** Per-voxel features of one 2D slice: channel-first, `channels` x H x W. */
export type SliceFeatures = (image: Float32Array) => Promise<Float32Array[]>;

/**
 * Probe scores of each decoder level of `model` and of all levels together (full
 * resolution), with features encoded whole or, given `window`, in tiles.
 */
export async function probeEncoder(
  model: CoverModel,
  slices: { train: LabelledSlices; test: LabelledSlices },
  seed = 0,
  encodeOptions: Omit<EncodeOptions, 'fullResolution'> = {},
): Promise<Record<SourceName, ProbeScores>> {
  const [height, width] = slices.train.shape;
  const features: SliceFeatures = async (image) => {
    const levels = (
      await model.encode(tensor(image, [1, 1, height, width]), { ...encodeOptions, fullResolution: true })
    ).map((level) => level.data);
    // Channel-first maps of one grid stack by concatenation.
    const all = new Float32Array(levels.reduce((total, level) => total + level.length, 0));
    levels.reduce((offset, level) => (all.set(level, offset), offset + level.length), 0);
    return [...levels, all];
  };
  const scores = await probeSources(features, slices, seed);
  return Object.fromEntries(SOURCE_NAMES.map((name, i) => [name, scores[i]!])) as Record<SourceName, ProbeScores>;
}

/** Probe scores of the intensity alone (one feature per voxel): the floor any encoder must beat. */
export async function probeIntensity(
  slices: { train: LabelledSlices; test: LabelledSlices },
  seed = 0,
): Promise<ProbeScores> {
  const [scores] = await probeSources(async (image) => [image], slices, seed);
  return scores!;
}

/** Fits and scores one probe per feature source that `features` returns for a slice. */
export async function probeSources(
  features: SliceFeatures,
  { train, test }: { train: LabelledSlices; test: LabelledSlices },
  seed: number,
): Promise<ProbeScores[]> {
  const classes = train.classes.length;
  const plane = train.shape[0] * train.shape[1];
  const picks = balancedSample(train.labels, classes, PROBE_SETTINGS.samplesPerClass, seed);
  const labels = Uint8Array.from(picks, ([s, p]) => train.labels[s]![p]!);
  // Training rows (picks x channels) of every source, filled slice by slice.
  const rows: Float32Array[] = [];
  for (let s = 0; s < train.images.length; ++s) {
    const sources = await features(train.images[s]!);
    sources.forEach((data, source) => {
      const channels = data.length / plane;
      const target = (rows[source] ??= new Float32Array(picks.length * channels));
      picks.forEach(([slice, p], i) => {
        if (slice !== s) return;
        for (let c = 0; c < channels; ++c) target[i * channels + c] = data[c * plane + p]!;
      });
    });
  }
  const probes = await Promise.all(
    rows.map((data) =>
      fitLinearProbe(
        tensor(data, [picks.length, data.length / picks.length]),
        tensor(labels, [labels.length]),
        classes,
      ),
    ),
  );
  const counts = probes.map(() => ({
    overlap: new Float64Array(classes),
    predicted: new Float64Array(classes),
    truth: new Float64Array(classes),
  }));
  for (let s = 0; s < test.images.length; ++s) {
    const sources = await features(test.images[s]!);
    const truth = test.labels[s]!;
    for (const [source, data] of sources.entries()) {
      const map = tensor(data, [1, data.length / plane, plane]);
      const predicted = await predictLinearProbe(probes[source]!, map);
      const count = counts[source]!;
      for (let p = 0; p < plane; ++p) {
        count.predicted[predicted[p]!]! += 1;
        count.truth[truth[p]!]! += 1;
        if (predicted[p] === truth[p]) count.overlap[truth[p]!]! += 1;
      }
    }
  }
  return counts.map(({ overlap, predicted, truth }) => {
    const dice = Array.from(overlap, (o, k) => (2 * o) / (predicted[k]! + truth[k]!));
    const present = dice.filter((d) => !Number.isNaN(d));
    return { dice, meanDice: present.reduce((a, b) => a + b, 0) / present.length };
  });
}

/**
 * Up to `perClass` voxels of each class, drawn without replacement with a seeded generator,
 * as [slice, voxel] pairs in slice order.
 */
export function balancedSample(
  labels: Uint8Array[],
  classes: number,
  perClass: number,
  seed: number,
): [number, number][] {
  const byClass: [number, number][][] = Array.from({ length: classes }, () => []);
  labels.forEach((slice, s) => slice.forEach((label, p) => byClass[label]!.push([s, p])));
  const random = seededRandom(seed);
  const picks: [number, number][] = [];
  for (const members of byClass) {
    const take = Math.min(perClass, members.length);
    for (let i = 0; i < take; ++i) {
      const j = i + Math.floor(random() * (members.length - i));
      [members[i], members[j]] = [members[j]!, members[i]!];
      picks.push(members[i]!);
    }
  }
  return picks.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}
