import path from 'node:path';
import { refuseChangedFinetuneSettings, resolvedSettings, saveFinetuneSettings } from './finetuneSettings';
import { checkOutputFile } from './outputFile';
import { Segmenter } from '../segment/Segmenter';
import { labelledCropBatches } from '../segment/labelledCrops';
import { createLogger, formatCommandLine } from '../log/logger';
import { latestCheckpoint, weightsFileOf } from '../train/checkpoints';
import { refuseToOverwriteRun } from '../train/runFolder';
import { Trainer } from '../train/Trainer';
import { readLabelledImages, type LabelledImage } from './labelledImages';
import { recordedPreprocessing } from '../encoder/preprocessing';
import { parseCommandArgs } from './commandArgs';

export const FINETUNE_USAGE = `Usage: cover-torch finetune --weights RUN --images SRC --labels SRC --classes K (--out FILE | --run DIR) [options]

Fine-tunes a pretrained encoder for segmentation (a Segmenter: a 1x1 class head on F1,
cross-entropy plus soft Dice) on labelled images, and writes encoder and head to one file
(Segmenter.load, cover-torch evaluate). Images (NIfTI, DICOM series, PNG, JPEG) are
prepared as the run prepared its training images; each label map is on its image's grid,
and they pair up in sorted order. A 2D model trains on the slices (along the run's slice
axis) that hold a label other than 0. With --run, training keeps a run folder as pretrain
does: checkpoints (resumable; Ctrl-C stops at a checkpoint), metrics.jsonl, metrics.csv,
and the settings (finetune.json), which --resume must repeat (--steps, --checkpoint-every
and --out may change).
Options:
  --weights PATH        run folder, checkpoint folder or .safetensors file (required)
  --images SRC          image files, folders or glob patterns (required; may repeat)
  --labels SRC          label maps, as many (required; may repeat)
  --classes K           number of classes: labels 0..K-1 (required)
  --out FILE            the fine-tuned segmenter, .safetensors (default: DIR/final.safetensors)
  --run DIR             keep checkpoints and metrics in DIR (created if missing)
  --resume              continue the run in --run DIR from its latest checkpoint
  --checkpoint-every N  steps between checkpoints with --run (default 100)
  --steps N             training steps in all (default 500)
  --crop N              crop side per axis (default 96), at most the smallest image's side
  --batch-size N        crops per step (default 4 for 2D models, 1 for 3D)
  --lr X                Adam learning rate (default 3e-4)
  --schedule S          constant (default), or cosine: linear warmup over the first 5% of
                        the steps to --lr, then cosine decay to 0 (pretrain's schedule)
  --freeze-encoder      train the head only: a linear probe of the frozen features
  --class-weights LIST  one weight per class, e.g. 0.5,1,2
  --ignore-label N      voxels with this label count for nothing
  --seed N              seed of the crops and of the head (default 0)
  --no-normalize        use the intensities as they are`;

/** Runs `cover-torch finetune`; returns the exit code (130 when stopped by `signal`). */
export async function finetune(
  argv: string[],
  out: (text: string) => void,
  progress: (text: string) => void = () => undefined,
  signal?: AbortSignal,
): Promise<number> {
  const args = parseCommandArgs(argv, FINETUNE_USAGE, {
    values: ['--weights', '--out', '--run', '--checkpoint-every', '--classes', '--steps', '--crop'].concat([
      '--batch-size',
      '--lr',
      '--schedule',
      '--class-weights',
      '--ignore-label',
      '--seed',
    ]),
    lists: ['--images', '--labels'],
    flags: ['--freeze-encoder', '--no-normalize', '--resume'],
    required: ['--weights', '--images', '--labels', '--classes'],
    positional: 0,
  });
  const run = args.value('--run');
  if (!run && !args.value('--out')) throw new Error(`expected --out FILE or --run DIR\n\n${FINETUNE_USAGE}`);
  if (args.flag('--resume') && !run) throw new Error('--resume continues the run in --run DIR: pass --run');
  const file = args.value('--out') ?? path.join(run!, 'final.safetensors');
  const classes = args.integer('--classes', 2, 1024);
  const steps = args.integer('--steps', 1, Number.MAX_SAFE_INTEGER, 500);
  const seed = args.integer('--seed', 0, Number.MAX_SAFE_INTEGER, 0);
  const baseLr = args.number('--lr', 3e-4);
  const schedule = args.value('--schedule') ?? 'constant';
  const learningRate = fineTuningSchedule(schedule, baseLr);
  const checkpointEvery = args.integer('--checkpoint-every', 1, Number.MAX_SAFE_INTEGER, 100);
  const classWeights = args.value('--class-weights')?.split(',').map(Number);
  const ignoreLabel =
    args.value('--ignore-label') !== undefined ? args.integer('--ignore-label', 0, 2 ** 31 - 1) : undefined;
  if (run && !args.flag('--resume'))
    await refuseToOverwriteRun(run, 'pass --resume to continue it, or choose another --run');
  // The run folder is made when training starts; a file of its own must be writable now.
  if (args.value('--out')) {
    const weights = args.value('--weights')!;
    if (run) refuseRunFile(file, run);
    await checkOutputFile(file, '--out', [
      ['--weights', weights],
      // A run folder's weights (RUN/final.safetensors) are an input too; a missing one is
      // reported when the encoder loads.
      ['the weights file of --weights', await weightsFileOf(weights).catch(() => undefined)],
      ...args.list('--images').map((image) => ['--images', image] as const),
      ...args.list('--labels').map((labels) => ['--labels', labels] as const),
    ]);
  }
  const segmenter = await Segmenter.create(args.value('--weights')!, {
    classes,
    seed,
    freezeEncoder: args.flag('--freeze-encoder'),
    ...(classWeights ? { classWeights } : {}),
    ...(ignoreLabel !== undefined ? { ignoreLabel } : {}),
  });
  try {
    const dims = segmenter.encoder.options.dims;
    const batchSize = args.integer('--batch-size', 1, 4096, dims === 2 ? 4 : 1);
    const requestedCrop = args.integer('--crop', 16, 4096, 96);
    const settings = resolvedSettings({
      weights: args.value('--weights')!,
      images: args.list('--images'),
      labels: args.list('--labels'),
      classes,
      crop: requestedCrop,
      batchSize,
      learningRate: baseLr,
      schedule,
      freezeEncoder: args.flag('--freeze-encoder'),
      classWeights: classWeights ?? null,
      ignoreLabel: ignoreLabel ?? null,
      seed,
      normalize: !args.flag('--no-normalize'),
    });
    // Checked before the images are read and before the Trainer cuts the metrics back.
    let settingsKept =
      run !== undefined && args.flag('--resume') && (await refuseChangedFinetuneSettings(run, settings));
    const pairs = await readLabelledImages(args.list('--images'), args.list('--labels'), {
      preprocessing: recordedPreprocessing(segmenter.encoder),
      normalize: !args.flag('--no-normalize'),
      dims,
    });
    const crop = cropSize(pairs, requestedCrop);
    progress(
      `fine-tuning on ${pairs.length} labelled ${dims === 2 ? 'images' : 'volumes'}, crops [${crop.join(', ')}]`,
    );
    const logger = createLogger({ sink: (record) => progress(formatCommandLine(record)) });
    const trainer = new Trainer(segmenter, {
      maxSteps: steps,
      learningRate,
      logger,
      ...(signal ? { signal } : {}),
      ...(run
        ? {
            checkpoint: { dirpath: path.join(run, 'checkpoints'), everyNTrainSteps: checkpointEvery },
            metricsFile: path.join(run, 'metrics.jsonl'),
            csvFile: path.join(run, 'metrics.csv'),
            resume: args.flag('--resume'),
          }
        : {}),
    });
    let loss = NaN;
    for await (const record of trainer.steps(labelledCropBatches(pairs, { crop, batchSize, seed }))) {
      loss = record.loss;
      // Kept once the run exists (its first step done), for a resume to compare.
      if (run && !settingsKept) {
        await saveFinetuneSettings(run, settings);
        settingsKept = true;
      }
      if (record.step % 50 === 0 || record.step === steps)
        progress(`step ${record.step}/${steps}, loss ${loss.toFixed(4)}`);
    }
    if (signal?.aborted) {
      const checkpoint = run ? await latestCheckpoint(path.join(run, 'checkpoints')) : undefined;
      progress(
        run
          ? `interrupted; latest checkpoint ${checkpoint ?? 'none yet'}: rerun the same command with --resume to continue`
          : 'interrupted; nothing written (pass --run DIR to keep checkpoints)',
      );
      return 130;
    }
    await segmenter.save(file);
    out(
      `wrote ${file}: ${classes} classes, ${steps} steps on ${pairs.length} labelled images, last loss ${loss.toFixed(4)}\n`,
    );
    return 0;
  } finally {
    await segmenter.dispose();
  }
}

/**
 * The Trainer's `learningRate` for `--schedule NAME`: a number gets the Trainer's own
 * warmup and cosine decay (pretrain's schedule), a function is used as it is.
 */
function fineTuningSchedule(name: string, baseLr: number): number | ((step: number) => number) {
  if (name === 'constant') return () => baseLr;
  if (name === 'cosine') return baseLr;
  throw new Error(`--schedule must be constant or cosine, got ${JSON.stringify(name)}`);
}

/** The crop per axis: `side`, at most the smallest image's extent along that axis. */
function cropSize(pairs: LabelledImage[], side: number): number[] {
  return pairs[0]!.shape.map((_, axis) => Math.min(side, ...pairs.map((pair) => pair.shape[axis]!)));
}

/** `--out` must not be a file the run folder keeps: its metrics, settings or anything under checkpoints/. */
function refuseRunFile(file: string, run: string): void {
  const resolved = path.resolve(file);
  const within = path.relative(path.resolve(run, 'checkpoints'), resolved);
  const isCheckpointFile = !(within === '..' || within.startsWith(`..${path.sep}`) || path.isAbsolute(within));
  const isMetrics = ['metrics.jsonl', 'metrics.csv', 'finetune.json'].some(
    (name) => path.resolve(run, name) === resolved,
  );
  if (isCheckpointFile || isMetrics)
    throw new Error(
      `--out ${file} is among the files --run ${run} keeps (its checkpoints, metrics and settings); choose a name outside them`,
    );
}
