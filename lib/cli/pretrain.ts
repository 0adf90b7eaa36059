import fs from 'node:fs/promises';
import { PREPROCESSING_METADATA } from '../encoder/preprocessing';
import path from 'node:path';
import YAML from 'yaml';
import { changedOnResume } from './resumeConfig';
import { lockFolder } from '../io/folderLock';
import { pathExists } from '../io/pathExists';
import { removeInterruptedAtomicWrites, writeFileAtomic } from '../io/writeFileAtomic';
import type { ResolvedPretrainConfig } from '../config/pretrainConfig';
import { patchBatches, patchSizeFor } from '../data/dataset/patchBatches';
import { phantomBatches } from '../data/phantom';
import { formatProgress } from '../log/formatProgress';
import { createLogger, formatCommandLine, type Logger } from '../log/logger';
import { CoverModel } from '../model/CoverModel';
import type { Tensor } from '../tensor';
import { bestCheckpoint, FINAL_WEIGHTS, INITIAL_WEIGHTS, latestCheckpoint, STEPS_METADATA } from '../train/checkpoints';
import { Trainer } from '../train/Trainer';
import { refuseToOverwriteRun } from '../train/runFolder';
import { checkRunData, openRunDataset } from './checkData';
import { parsePretrainArgs, type PretrainArgs } from './pretrainArgs';
import { checkRunImages, RUN_IMAGES_FILE } from './runImages';
import { ImageReadError } from '../data/image';

/** Where the pretrain command writes: log lines, and a progress line that a TTY redraws. */
export interface PretrainOutput {
  write: (text: string) => void;
  isTTY: boolean;
  columns?: number;
}

/** Runs `cover-torch pretrain`; returns the exit code. Status goes to `output` (stderr). */
export async function pretrain(argv: string[], output: PretrainOutput, signal?: AbortSignal): Promise<number> {
  const config = await parsePretrainArgs(argv);
  const logger = createLogger({
    level: config.logLevel,
    sink: (record) => output.write(`${output.isTTY ? '\r\x1b[K' : ''}${formatCommandLine(record)}\n`),
  });
  if (config.printConfig) {
    process.stdout.write(YAML.stringify(withoutCliSwitches(config)));
    return 0;
  }
  if (config.checkData) return checkRunData(config, logger, signal);
  const existed = await pathExists(config.out);
  if (existed && !(await fs.stat(config.out)).isDirectory())
    throw new Error(`--out ${config.out} is a file; expected a folder for the run (it is created if missing)`);
  const release = await lockFolder(config.out);
  try {
    const removed = await removeInterruptedAtomicWrites(config.out);
    if (removed.length > 0) logger.info('removed what an interrupted write left', { removed: removed.join(' ') });
    return await train(config, logger, output, signal);
  } catch (error) {
    const started = await pathExists(path.join(config.out, 'metrics.jsonl'));
    // An image that does not read stops a run wherever it is drawn: say how to go on.
    if (started && error instanceof ImageReadError)
      error.message +=
        '\nThe run stopped with a checkpoint of its last step. Replace that file with a readable copy and resume, ' +
        `or resume passing over unreadable images: npx cover-torch pretrain --config ${path.join(config.out, 'config.yaml')} --resume --set data.onError=skip` +
        `\nTo list every unreadable image at once: npx cover-torch pretrain --config ${path.join(config.out, 'config.yaml')} --check-data`;
    // A new run that failed before its first step (unreadable data, a model that cannot be
    // built) leaves no folder behind that would look like a run.
    if (!existed && !started) {
      await fs.rm(path.join(config.out, 'config.yaml'), { force: true });
      await fs.rm(path.join(config.out, RUN_IMAGES_FILE), { force: true });
      await fs.rm(path.join(config.out, INITIAL_WEIGHTS), { force: true });
      await fs.rmdir(path.join(config.out, 'checkpoints')).catch(() => undefined);
    }
    throw error;
  } finally {
    await release();
    if (!existed) await fs.rmdir(config.out).catch(() => undefined); // only when empty
  }
}

async function train(
  config: ResolvedPretrainConfig,
  logger: Logger,
  output: PretrainOutput,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (!config.resume) await refuseToOverwriteRun(config.out, 'pass --resume to continue it, or choose another --out');
  else await refuseChangedSettings(config);
  const batches = await batchSource(config, logger);
  if (batches.files) await checkRunImages(config.out, batches.files, config.resume, logger);
  // The run folder records what produced it, in the config file format (re-runnable with --config).
  await writeFileAtomic(path.join(config.out, 'config.yaml'), [
    Buffer.from(YAML.stringify(withoutCliSwitches(config))),
  ]);
  const model = await CoverModel.create({ dims: config.dims, seed: config.seed, ...config.model });
  // How the images were prepared goes into every weights file of the run, checkpoints too,
  // so that an encoder loaded from any of them prepares new images the same way.
  model.metadata = runMetadata(config);
  try {
    // The network before its first step: the baseline pretraining is measured against
    // (probe, or fine-tuning from it), kept rather than drawn again from the seed, which
    // another version of the code may draw differently. A resume from a checkpoint has it
    // already (or, for a run from before it was kept, cannot make it).
    const checkpoints = path.join(config.out, 'checkpoints');
    if (!(await latestCheckpoint(checkpoints).catch(() => 'unreadable')))
      await model.save(path.join(config.out, INITIAL_WEIGHTS), { metadata: { [STEPS_METADATA]: '0' } });
    const { cropSize, ...training } = config.training;
    model.configureTraining({ ...training, cropSize, seed: config.seed });
    const trainer = new Trainer(model, {
      maxSteps: config.steps,
      learningRate: config.learningRate,
      warmupSteps: config.warmupSteps,
      prefetch: config.prefetch,
      maxNonFiniteSteps: config.maxNonFiniteSteps,
      ...(config.earlyStopping ? { earlyStopping: config.earlyStopping } : {}),
      checkpoint: {
        dirpath: path.join(config.out, 'checkpoints'),
        everyNTrainSteps: config.checkpointEvery,
        weightsOnly: config.checkpointWeightsOnly,
        saveLast: config.keepLast,
      },
      metricsFile: path.join(config.out, 'metrics.jsonl'),
      csvFile: path.join(config.out, 'metrics.csv'),
      resume: config.resume,
      logger,
      ...(signal ? { signal } : {}),
    });
    logger.info(
      `pretraining a ${config.dims}D model (${model.parameterCount().toLocaleString('en')} parameters) on ${batches.description}`,
      { steps: config.steps, out: config.out },
    );
    // The progress line stands for the per-step info lines: shown where they would be.
    const progressLine = output.isTTY && (config.logLevel === 'debug' || config.logLevel === 'info');
    let lastReport = 0;
    // L_vec against the no-motion baseline, per step: the run's summary compares its ends.
    const ratios: number[] = [];
    let trained = 0;
    trainer.on('end', (result) => (trained = result.step));
    for await (const record of trainer.steps(batches.from)) {
      if (!record.skipped && record.zeroBaseline > 0) ratios.push(record.vectorLoss / record.zeroBaseline);
      const values = { L_vec: record.vectorLoss, 'no-motion': record.zeroBaseline, L_con: record.consistencyLoss };
      if (progressLine) {
        output.write(
          `\r\x1b[K${formatProgress({ step: record.step, startStep: record.startStep, total: config.steps, elapsedMs: record.elapsedMs, values }, output.columns ?? 100)}`,
        );
        continue;
      }
      const now = Date.now();
      if (now - lastReport < 2000 && record.step !== config.steps) continue;
      lastReport = now;
      logger.info(`step ${record.step}/${config.steps}`, {
        L_vec: round(record.vectorLoss),
        no_motion: round(record.zeroBaseline),
        L_con: round(record.consistencyLoss),
        lr: Number(record.learningRate.toExponential(2)),
        reachable: round(record.reachableFraction),
        steps_per_s: round((record.step - record.startStep) / (record.elapsedMs / 1000)),
      });
    }
    if (progressLine) output.write('\n');
    if (signal?.aborted) {
      // Interrupted (Ctrl-C): say where the run stands and how to go on; 130 by convention.
      const checkpoint = await latestCheckpoint(path.join(config.out, 'checkpoints'));
      logger.warn('interrupted', {
        checkpoint: checkpoint ?? 'none yet',
        resume: `npx cover-torch pretrain --config ${path.join(config.out, 'config.yaml')} --resume`,
      });
      return 130;
    }
    // A stable name for what the run produced, with how its images were prepared, so
    // features of new images can be computed the same way.
    const final = path.join(config.out, FINAL_WEIGHTS);
    // The steps trained, fewer than configured when early stopping ended the run.
    await model.save(final, { metadata: { [STEPS_METADATA]: String(trained) } });
    logger.info('done', {
      ...summarise(ratios),
      final,
      best: (await bestCheckpoint(path.join(config.out, 'checkpoints'))) ?? 'none',
      checkpoints: path.join(config.out, 'checkpoints'),
      metrics: path.join(config.out, 'metrics.jsonl'),
    });
    return 0;
  } finally {
    model.dispose();
  }
}

/** The batches of a run, as a function of the start step so that resumed runs see the same data. */
async function batchSource(
  config: ResolvedPretrainConfig,
  logger: Logger,
): Promise<{ description: string; files?: readonly string[]; from: (startStep: number) => AsyncIterable<Tensor> }> {
  const cropSize = config.training.cropSize;
  if (!config.data) {
    const imageSize = patchSizeFor(cropSize);
    return {
      description: 'demo phantoms',
      from: (startStep) => phantomBatches(config.batchSize, imageSize, config.seed * 1_000_003, startStep),
    };
  }
  const data = config.data;
  const dataset = await openRunDataset(config, logger);
  return {
    description: `${dataset.size} image${dataset.size === 1 ? '' : 's'}`,
    files: dataset.files,
    from: (startStep) =>
      patchBatches(dataset, {
        dims: config.dims,
        cropSize,
        batchSize: config.batchSize,
        context: data.context,
        sliceAxis: data.sliceAxis,
        minForeground: data.minForeground,
        seed: config.seed,
        startStep,
      }),
  };
}

/** Metadata of a run's weights: how the training images were prepared. */
function runMetadata(config: ResolvedPretrainConfig): Record<string, string> {
  const data = config.data;
  const preprocessing = data
    ? {
        dims: config.dims,
        normalize: data.normalize,
        ...(data.spacing ? { spacing: data.spacing } : {}),
        ...(config.dims === 2 ? { sliceAxis: data.sliceAxis } : {}),
        cropSize: config.training.cropSize,
      }
    : // Phantoms go in as drawn (within [0, 1]): encoding a demo run's images must not normalise them.
      { dims: config.dims, demo: true, normalize: { kind: 'none' }, cropSize: config.training.cropSize };
  return { [PREPROCESSING_METADATA]: JSON.stringify(preprocessing) };
}

/**
 * A resume continues the run as configured: settings that shaped its steps so far must not
 * differ, and its config.yaml stays as it is until they are known not to.
 */
async function refuseChangedSettings(config: ResolvedPretrainConfig): Promise<void> {
  const file = path.join(config.out, 'config.yaml');
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const saved = YAML.parse(text) as { warmupSteps?: unknown };
  const changes = changedOnResume(saved, JSON.parse(JSON.stringify(withoutCliSwitches(config))));
  // Without its own value, warmupSteps follows --steps (5%): the most likely difference.
  const warmup = changes.some((change) => change.startsWith('warmupSteps:'))
    ? ` (warmupSteps is 5% of the steps unless set: keep the run's with --set warmupSteps=${String(saved.warmupSteps)})`
    : '';
  if (changes.length > 0)
    throw new Error(
      `--resume continues ${config.out} as its config.yaml describes, but these differ:\n  ${changes.join('\n  ')}\n` +
        `Resume with --config ${file} --resume (steps, checkpoints and logging may change)${warmup}, or start a new run with another --out.`,
    );
}

/** The resolved configuration as a config file would hold it. */
function withoutCliSwitches(config: ResolvedPretrainConfig & Partial<PretrainArgs>): object {
  const rest: Record<string, unknown> = { ...config };
  delete rest.printConfig;
  delete rest.checkData;
  delete rest.resume;
  return rest;
}

/**
 * Whether the run learned: mean L_vec / no-motion baseline over its first and last 50 steps
 * (below 1 means it predicts motion better than predicting none).
 */
function summarise(ratios: number[]): Record<string, number> {
  if (ratios.length === 0) return {};
  const window = Math.min(50, Math.ceil(ratios.length / 2));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    'first_L_vec/no_motion': round(mean(ratios.slice(0, window))),
    'last_L_vec/no_motion': round(mean(ratios.slice(-window))),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
