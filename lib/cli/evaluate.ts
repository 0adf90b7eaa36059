import path from 'node:path';
import { writeFileAtomic } from '../io/writeFileAtomic';
import { checkOutputFile } from './outputFile';
import { CoverModel } from '../model/CoverModel';
import { Segmenter, type PredictOptions } from '../segment/Segmenter';
import { scoreSegmentation, type SegmentationScores } from '../segment/segmentationMetrics';
import { tensor } from '../tensor';
import { parseCommandArgs } from './commandArgs';
import { planesAcross, recordedPreprocessing, sliceAxisOf } from '../encoder/preprocessing';
import { readLabelledImages, slicesOf, type LabelledImage } from './labelledImages';
import { evaluationReport, type EvaluatedCase } from './evaluateReport';
import { shorten } from './shorten';
import { readRunRecords } from './plot';

export const EVALUATE_USAGE = `Usage: cover-torch evaluate SEGMENTER --images SRC --labels SRC [options]

Segments labelled images with a fine-tuned segmenter (a file of cover-torch finetune or
Segmenter.save, or a fine-tuning --run folder or checkpoint) and scores each against its labels: per-class Dice and 95th-percentile
Hausdorff distance (mm, from the image's spacing), then their means over the images.
Images are prepared as the encoder's run prepared its images; a 2D segmenter segments
volumes slice by slice along the run's slice axis and is scored on the whole volume.
Options:
  --images SRC          image files, folders or glob patterns (required; may repeat)
  --labels SRC          label maps on their images' grids, paired in sorted order (required)
  --exclude-class LIST  classes left out of the means, e.g. 0 for background
  --window N            segment in overlapping N-voxel tiles (bounded memory for large volumes)
  --json FILE           also write every score as JSON
  --report FILE         also write a self-contained HTML report: scores, overlays, PCA
                        maps of the features, a correspondence check, loss curves (--run)
  --run RUN             the pretraining run: the report shows its loss curves and checks
                        correspondence with its network
  --no-normalize        use the intensities as they are`;

/** Runs `cover-torch evaluate`; returns the exit code. */
export async function evaluate(argv: string[], out: (text: string) => void): Promise<number> {
  const args = parseCommandArgs(argv, EVALUATE_USAGE, {
    values: ['--exclude-class', '--json', '--window', '--report', '--run'],
    lists: ['--images', '--labels'],
    flags: ['--no-normalize'],
    required: ['--images', '--labels'],
    positional: 1,
    positionalName: 'SEGMENTER',
  });
  const exclude = (args.value('--exclude-class') ?? '').split(',').filter(Boolean).map(Number);
  const window = args.tileSide('--window');
  const predictOptions = window === undefined ? {} : { window };
  const report = args.value('--report');
  const inputs = [
    ['the segmenter', args.positional[0]],
    ...args.list('--images').map((image) => ['--images', image] as const),
    ...args.list('--labels').map((labels) => ['--labels', labels] as const),
  ] as const;
  const json = args.value('--json');
  if (report !== undefined) {
    if (!/\.html?$/i.test(report))
      throw new Error(`--report ${report}: the report is an HTML page; expected a name ending in .html`);
    await checkOutputFile(report, '--report', inputs);
  }
  if (json !== undefined) {
    if (report !== undefined && path.resolve(json) === path.resolve(report))
      throw new Error(`--json and --report both name ${json}: each output needs its own file`);
    await checkOutputFile(json, '--json', inputs);
  }
  const run = args.value('--run');
  if (run && !report) throw new Error('--run only adds to the report: pass --report FILE.html with it');
  // The run's curves and network first: a wrong --run fails before the images are segmented.
  if (run)
    await readRunRecords(path.join(run, 'metrics.jsonl')).catch((error: unknown) => {
      throw new Error(`--run ${run}: expected a pretraining run folder (${(error as Error).message})`, {
        cause: error,
      });
    });
  const pretrained = run ? await CoverModel.load(run) : undefined;
  const segmenter = await Segmenter.load(args.positional[0]!).catch(async (error: unknown) => {
    await pretrained?.dispose();
    throw error;
  });
  try {
    const classes = segmenter.options.classes;
    if (exclude.some((c) => !Number.isInteger(c) || c < 0 || c >= classes))
      throw new Error(
        `Expected classes between 0 and ${classes - 1} for --exclude-class but received "${args.value('--exclude-class')}"`,
      );
    const preprocessing = recordedPreprocessing(segmenter.encoder);
    const dims = segmenter.encoder.options.dims;
    // Whole images and volumes: a 2D segmenter's slices are put back together.
    const wholes = await readLabelledImages(args.list('--images'), args.list('--labels'), {
      preprocessing,
      normalize: !args.flag('--no-normalize'),
      dims,
      wholeVolumes: true,
    });
    for (const whole of wholes) checkClasses(whole, classes, segmenter.options.ignoreLabel);
    const cases: EvaluatedCase[] = [];
    for (const whole of wholes) {
      const predicted = await predictWhole(segmenter, whole, dims, predictOptions, preprocessing.sliceAxis);
      cases.push({
        whole,
        predicted,
        scores: scoreSegmentation(predicted, whole.labels, whole.shape, {
          classes,
          ignoreLabel: segmenter.options.ignoreLabel,
          spacing: whole.spacing,
          excludeFromMean: exclude,
        }),
      });
    }
    out(formatEvaluation(cases, classes));
    const scores = cases.map(({ whole, scores }) => ({ source: whole.source, scores }));
    if (json)
      await writeFileAtomic(json, [Buffer.from(`${JSON.stringify({ classes, exclude, cases: scores }, null, 2)}\n`)]);
    if (report) {
      const html = await evaluationReport({
        segmenterFile: args.positional[0]!,
        encoder: segmenter.encoder,
        cases,
        classes,
        exclude,
        axis: sliceAxisOf(preprocessing),
        ...(run ? { runFolder: run, pretrained } : {}),
      });
      await writeFileAtomic(report, [Buffer.from(html)]);
      out(`wrote ${report}\n`);
    }
    return 0;
  } finally {
    await segmenter.dispose();
    await pretrained?.dispose();
  }
}

/** Labels predicted for a whole image or volume (slice by slice for a 2D model on a volume). */
async function predictWhole(
  segmenter: Segmenter,
  whole: LabelledImage,
  dims: number,
  options: PredictOptions,
  sliceAxis = 'axial',
): Promise<ArrayLike<number>> {
  if (whole.shape.length === dims)
    return (await segmenter.predict(tensor(whole.image, [1, 1, ...whole.shape]), options)).data;
  const axis = sliceAxisOf({ sliceAxis });
  const shape = whole.shape as [number, number, number];
  const { at } = planesAcross(shape, axis);
  const predicted = new Int32Array(whole.image.length);
  for (const slice of slicesOf(whole.image, whole.labels, shape, axis)) {
    const labels = (await segmenter.predict(tensor(slice.image, [1, 1, ...slice.shape]), options)).data;
    const [rows, columns] = slice.shape as [number, number];
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++) predicted[at(slice.index, i, j)] = labels[i * columns + j]!;
  }
  return predicted;
}

/** The score table `evaluate` prints: one line per image, then the means. */
export function formatEvaluation(cases: EvaluatedCase[], classes: number): string {
  const number = (value: number, digits: number) =>
    (Number.isNaN(value) ? '-' : value === Infinity ? 'inf' : value.toFixed(digits)).padStart(9);
  const header = `${'image'.padEnd(40)}${'mean Dice'.padStart(10)}${'mean HD95'.padStart(10)}  ${Array.from(
    { length: classes },
    (_, c) => `Dice ${c}`.padStart(9),
  ).join('')}`;
  const lines = [header];
  for (const { whole, scores } of cases) {
    const name = shorten(whole.source, 38);
    lines.push(
      `${name.padEnd(40)}${number(scores.meanDice, 3).padStart(10)}${number(scores.meanHausdorff95, 2).padStart(10)}  ${scores.perClass
        .map((c) => number(c.dice, 3))
        .join('')}`,
    );
  }
  const mean = (pick: (s: SegmentationScores) => number) => {
    const values = cases.map((c) => pick(c.scores)).filter(Number.isFinite);
    return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
  };
  lines.push(
    `${`mean of ${cases.length}`.padEnd(40)}${number(
      mean((s) => s.meanDice),
      3,
    ).padStart(10)}${number(
      mean((s) => s.meanHausdorff95),
      2,
    ).padStart(10)}`,
  );
  // Its mean leaves out a class found in only one of the two maps: say so where it happened.
  if (cases.some(({ scores }) => scores.perClass.some((c) => c.hausdorff95 === Infinity)))
    lines.push('(mean HD95 leaves out classes present in only one of prediction and truth: their HD95 is inf)');
  return `${lines.join('\n')}\n`;
}

/** Before any prediction: a label the segmenter has no class for means the wrong labels or segmenter. */
function checkClasses(whole: LabelledImage, classes: number, ignoreLabel: number | undefined): void {
  const at = whole.labels.findIndex((label) => label !== ignoreLabel && (label < 0 || label >= classes));
  if (at >= 0)
    throw new Error(
      `the labels of ${whole.source} hold ${whole.labels[at]} (voxel ${at}), but the segmenter has ${classes} classes (0 to ${classes - 1}${ignoreLabel !== undefined ? `, and ${ignoreLabel} ignored` : ''})`,
    );
}
