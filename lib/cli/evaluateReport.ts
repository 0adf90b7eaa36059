import path from 'node:path';
import { warp } from '../encoder/warp';
import { endpointErrors, knownField } from '../encoder/knownMotion';
import type { CoverModel } from '../model/CoverModel';
import { renderReport, type ReportPicture, type ReportSection } from '../report/htmlReport';
import { flowPicture, grayPicture, overlayLabels, pcaPicture, pngDataUri } from '../report/pictures';
import { plotRun } from '../plot/runPlot';
import type { SegmentationScores } from '../segment/segmentationMetrics';
import { tensor, type Tensor } from '../tensor';
import { planesAcross } from '../encoder/preprocessing';
import type { LabelledImage } from './labelledImages';
import { readRunRecords } from './plot';
import { shorten } from './shorten';

/** One evaluated image: what was read, what was predicted, how it scored. */
export interface EvaluatedCase {
  whole: LabelledImage;
  predicted: ArrayLike<number>;
  scores: SegmentationScores;
}

export interface EvaluationReportOptions {
  segmenterFile: string;
  encoder: CoverModel;
  cases: EvaluatedCase[];
  classes: number;
  exclude: number[];
  /** Axis of [D, H, W] volumes the pictures cut along (the run's slice axis). */
  axis: number;
  /** A pretraining run folder whose loss curves to show. */
  runFolder?: string;
  /**
   * The pretrained network (of runFolder) for the correspondence check. Without it the
   * fine-tuned encoder is used, whose backbone fine-tuning moved under the pretrained MoV
   * projections.
   */
  pretrained?: CoverModel;
}

/** Images shown with pictures (all are in the table). */
const PICTURED_CASES = 4;
/** Slices around the shown one that a 3D encoder sees for its features. */
const SLAB = 16;

/**
 * The self-contained HTML report of `cover-torch evaluate --report`: the score table,
 * segmentation overlays, PCA colour maps of the encoder's finest features, a predicted
 * against a known displacement on a sample pair, and the pretraining run's loss curves.
 */
export async function evaluationReport(options: EvaluationReportOptions): Promise<string> {
  const { cases, classes, encoder } = options;
  const sections: ReportSection[] = [scoreSection(options)];
  const planes = cases.slice(0, PICTURED_CASES).map((c) => busiestPlane(c, options.axis));
  const grays = planes.map((plane) => grayPicture(plane.image, plane.rows, plane.columns));
  sections.push({
    title: 'Segmentations',
    paragraphs: [
      `Per image, the plane with the most labelled voxels: the image, the true labels and the predicted labels (classes 1-${classes - 1} coloured, 0 left clear).`,
    ],
    pictureRows: planes.map((plane, i) => {
      const gray = grays[i]!;
      return [
        { uri: pngDataUri(gray), caption: plane.where },
        { uri: pngDataUri(overlayLabels(gray, plane.truth)), caption: 'true labels' },
        { uri: pngDataUri(overlayLabels(gray, plane.predicted)), caption: 'predicted labels' },
      ];
    }),
  });
  const featureRows: ReportPicture[][] = [];
  for (const [i, plane] of planes.entries()) {
    const { features, channels } = await finestFeatures(encoder, plane);
    featureRows.push([
      { uri: pngDataUri(grays[i]!), caption: plane.where },
      {
        uri: pngDataUri(pcaPicture(features, channels, plane.rows, plane.columns)),
        caption: `F1 (${channels} channels): first three principal components as red, green, blue`,
      },
    ]);
  }
  sections.push({
    title: 'Features',
    paragraphs: [
      "The encoder's finest features of the same planes, after fine-tuning: pixels of similar colour have similar features.",
    ],
    pictureRows: featureRows,
  });
  if (planes[0])
    sections.push(await correspondenceSection(options.pretrained ?? encoder, planes[0], !options.pretrained));
  if (options.runFolder) sections.push(await lossSection(options.runFolder));
  return renderReport(
    'cover-torch evaluation',
    `${options.segmenterFile}: ${cases.length} image${cases.length === 1 ? '' : 's'}, ${classes} classes, ${new Date().toISOString()}`,
    sections,
  );
}

function scoreSection({ cases, classes, exclude }: EvaluationReportOptions): ReportSection {
  const number = (value: number, digits: number) =>
    Number.isNaN(value) ? '-' : value === Infinity ? 'inf' : value.toFixed(digits);
  const classColumns = Array.from({ length: classes }, (_, c) => c);
  return {
    title: 'Scores',
    paragraphs: [
      'Dice and 95th-percentile Hausdorff distance (mm) per image; the means leave out ' +
        (exclude.length > 0 ? `class${exclude.length === 1 ? '' : 'es'} ${exclude.join(', ')}` : 'no class') +
        '.',
    ],
    table: {
      header: ['image', 'mean Dice', 'mean HD95', ...classColumns.map((c) => `Dice ${c}`)],
      rows: cases.map(({ whole, scores }) => [
        shorten(whole.source, 60),
        number(scores.meanDice, 3),
        number(scores.meanHausdorff95, 2),
        ...scores.perClass.map((c) => number(c.dice, 3)),
      ]),
    },
  };
}

/** A plane of an evaluated image with its labels, and where it lies. */
interface Plane {
  image: Float32Array;
  truth: Int32Array;
  predicted: Int32Array;
  rows: number;
  columns: number;
  where: string;
  /** For volumes: the volume, the axis and the index of the plane. */
  volume?: { whole: LabelledImage; axis: number; index: number };
}

function busiestPlane({ whole, predicted }: EvaluatedCase, axis: number): Plane {
  const name = path.basename(whole.source);
  if (whole.shape.length === 2) {
    const [rows, columns] = whole.shape as [number, number];
    return {
      image: whole.image,
      truth: whole.labels,
      predicted: Int32Array.from(predicted),
      rows,
      columns,
      where: name,
    };
  }
  const { count, rows, columns, at } = planesAcross(whole.shape as [number, number, number], axis);
  let best = 0;
  let bestCount = -1;
  for (let s = 0; s < count; s++) {
    let labelled = 0;
    for (let i = 0; i < rows; i++) for (let j = 0; j < columns; j++) if (whole.labels[at(s, i, j)]! > 0) labelled++;
    if (labelled > bestCount) [best, bestCount] = [s, labelled];
  }
  const image = new Float32Array(rows * columns);
  const truth = new Int32Array(rows * columns);
  const guess = new Int32Array(rows * columns);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < columns; j++) {
      image[i * columns + j] = whole.image[at(best, i, j)]!;
      truth[i * columns + j] = whole.labels[at(best, i, j)]!;
      guess[i * columns + j] = predicted[at(best, i, j)]!;
    }
  return {
    image,
    truth,
    predicted: guess,
    rows,
    columns,
    where: `${name}, plane ${best} of ${count}`,
    volume: { whole, axis, index: best },
  };
}

/**
 * What the encoder takes for a plane: the plane itself (2D), or a slab of SLAB planes around
 * it, plane axis first (3D); and where the plane lies in it.
 */
function encoderInput(encoder: CoverModel, plane: Plane): { input: Tensor<'float32'>; index: number } {
  if (encoder.options.dims === 2 || !plane.volume)
    return { input: tensor(plane.image, [1, 1, plane.rows, plane.columns]), index: 0 };
  const { whole, axis, index } = plane.volume;
  const { count, rows, columns, at } = planesAcross(whole.shape as [number, number, number], axis);
  const depth = Math.min(SLAB, count);
  const first = Math.min(Math.max(0, index - depth / 2), count - depth);
  const slab = new Float32Array(depth * rows * columns);
  for (let k = 0; k < depth; k++)
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++) slab[(k * rows + i) * columns + j] = whole.image[at(first + k, i, j)]!;
  return { input: tensor(slab, [1, 1, depth, rows, columns]), index: index - first };
}

async function finestFeatures(
  encoder: CoverModel,
  plane: Plane,
): Promise<{ features: Float32Array; channels: number }> {
  const { input, index } = encoderInput(encoder, plane);
  const [finest] = await encoder.encode(input, { fullResolution: true });
  const channels = finest!.shape[1]!;
  const pixels = plane.rows * plane.columns;
  if (finest!.shape.length === 4) return { features: finest!.data, channels };
  // (1, C, K, H, W): plane `index` of every channel.
  const depth = finest!.shape[2]!;
  const features = new Float32Array(channels * pixels);
  for (let c = 0; c < channels; c++)
    features.set(finest!.data.subarray((c * depth + index) * pixels, (c * depth + index + 1) * pixels), c * pixels);
  return { features, channels };
}

/**
 * A sample pair with a known answer: the plane (or slab) and itself turned by 4 degrees
 * about its centre and shifted by (1.5, -1) voxels in plane; the network's displacement
 * between them against the true one.
 */
async function correspondenceSection(encoder: CoverModel, plane: Plane, fineTuned: boolean): Promise<ReportSection> {
  const { input, index } = encoderInput(encoder, plane);
  const size = input.shape.slice(2) as number[];
  const dims = size.length;
  const voxels = size.reduce((a, b) => a * b, 1);
  const truth = knownField(size);
  const fixed = warp(input, tensor(truth, [1, dims, ...size]));
  const predicted = (await encoder.correspond(input, fixed)).data;
  const { errors, ...scores } = endpointErrors(predicted, truth, size, input.data);
  const mean = (value: number) => value.toFixed(2);
  // The shown plane's in-plane components (rows, columns).
  const pixels = plane.rows * plane.columns;
  const inPlane = (field: ArrayLike<number>) => {
    const out = new Float32Array(2 * pixels);
    const offset = dims === 3 ? index * pixels : 0;
    for (let a = 0; a < 2; a++)
      for (let p = 0; p < pixels; p++) out[a * pixels + p] = field[(dims - 2 + a) * voxels + offset + p]!;
    return out;
  };
  const maxLength = Math.max(1, quantileOf(inPlane(truth)));
  const planeStart = dims === 3 ? index * pixels : 0;
  const planeErrors = errors.subarray(planeStart, planeStart + pixels);
  return {
    title: 'Correspondence',
    paragraphs: [
      'A sample pair with a known answer: the plane and the same plane turned by 4 degrees about its centre and shifted by (1.5, -1) voxels, ' +
        (fineTuned
          ? 'matched by the fine-tuned encoder (fine-tuning moved its backbone under the pretrained MoV projections; pass --run for the pretrained network). '
          : 'matched by the pretrained network of the run. ') +
        `Mean endpoint error ${mean(scores.mean)} voxels for a mean true displacement of ${mean(scores.meanTrue)} voxels, over the ${scores.count} voxels whose true target lies inside the image; ` +
        `${mean(scores.meanForeground)} voxels over the ${scores.foregroundCount} of them on the foreground (intensity above 0.05). ` +
        `Colours: direction as hue, length as brightness (full at ${maxLength.toFixed(1)} voxels).`,
    ],
    pictureRows: [
      [
        {
          uri: pngDataUri(flowPicture(inPlane(truth), plane.rows, plane.columns, maxLength)),
          caption: 'true displacement',
        },
        {
          uri: pngDataUri(flowPicture(inPlane(predicted), plane.rows, plane.columns, maxLength)),
          caption: 'predicted displacement (correspond)',
        },
        {
          uri: pngDataUri(grayPicture(planeErrors, plane.rows, plane.columns)),
          caption: 'endpoint error (brighter is larger)',
        },
      ],
    ],
  };
}

/** The 95th percentile of the in-plane lengths of a (2, P) field. */
function quantileOf(field: Float32Array): number {
  const pixels = field.length / 2;
  const lengths = Float64Array.from({ length: pixels }, (_, p) => Math.hypot(field[p]!, field[pixels + p]!)).sort();
  return lengths[Math.floor(0.95 * (pixels - 1))] ?? 0;
}

async function lossSection(runFolder: string): Promise<ReportSection> {
  const records = await readRunRecords(path.join(runFolder, 'metrics.jsonl'));
  return {
    title: 'Pretraining',
    paragraphs: [`The pretraining run ${runFolder}: ${records.length} steps (as cover-torch plot draws them).`],
    svg: plotRun(records, path.basename(path.resolve(runFolder))),
  };
}
