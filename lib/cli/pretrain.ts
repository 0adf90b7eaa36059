import path from 'node:path';
import { phantomBatches } from '../data/phantom';
import { formatProgress } from '../log/formatProgress';
import { createLogger, formatFields, LOG_LEVELS, type LogLevel, type LogRecord } from '../log/logger';
import { CoverModel } from '../model/CoverModel';
import { Trainer } from '../train/Trainer';

const USAGE = `Usage: cover-torch pretrain --demo [options]

Pretrains a COVER encoder on the built-in procedural phantoms (--demo).
Options:
  --dims 2|3              2D images or 3D volumes (default 2)
  --steps N               training steps (default 300 in 2D, 60 in 3D)
  --out DIR               checkpoints and metrics.jsonl go here (default runs/demo-<dims>d)
  --batch-size N          images per step (default 4 in 2D, 1 in 3D)
  --crop N                crop side, a multiple of 16 (default 64 in 2D, 32 in 3D)
  --lr X                  peak learning rate of warmup + cosine (default 1e-3)
  --checkpoint-every N    steps between checkpoints (default 50)
  --seed N                data and view seed (default 0)
  --resume                continue from the latest checkpoint in --out
  --log-level LEVEL       debug, info, warn, error or silent (default info)
Reading your own NIfTI, DICOM or PNG data is not available yet; use the TypeScript API
(CoverModel.trainStep) with your own batches meanwhile.`;

interface PretrainArgs {
  dims: 2 | 3;
  steps: number;
  out: string;
  batchSize: number;
  crop: number;
  lr: number;
  checkpointEvery: number;
  seed: number;
  resume: boolean;
  logLevel: LogLevel;
}

/** Parses `pretrain` arguments; throws an Error naming the bad flag and what it expects. */
export function parsePretrainArgs(argv: string[]): PretrainArgs {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n\n${USAGE}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (['demo', 'resume', 'help'].includes(name)) {
      flags.set(name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags.set(name, value);
  }
  const known = [
    'demo',
    'resume',
    'help',
    'dims',
    'steps',
    'out',
    'batch-size',
    'crop',
    'lr',
    'checkpoint-every',
    'seed',
    'log-level',
  ];
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new Error(`unknown option --${name}\n\n${USAGE}`);
  }
  if (flags.has('help')) throw new Error(USAGE);
  if (!flags.has('demo')) throw new Error(`pretrain needs --demo for now (built-in phantoms)\n\n${USAGE}`);
  const integer = (name: string, fallback: number, min: number) => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`--${name} expects an integer >= ${min}, got "${String(raw)}"`);
    return value;
  };
  const dims = integer('dims', 2, 2);
  if (dims !== 2 && dims !== 3) throw new Error(`--dims expects 2 or 3, got "${String(flags.get('dims'))}"`);
  const crop = integer('crop', dims === 2 ? 64 : 32, 16);
  if (crop % 16 !== 0) throw new Error(`--crop expects a multiple of 16, got ${crop}`);
  const lrRaw = flags.get('lr');
  const lr = lrRaw === undefined ? 1e-3 : Number(lrRaw);
  if (!Number.isFinite(lr) || lr <= 0) throw new Error(`--lr expects a positive number, got "${String(lrRaw)}"`);
  const logLevel = String(flags.get('log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new Error(`--log-level expects one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  return {
    logLevel,
    dims,
    steps: integer('steps', dims === 2 ? 300 : 60, 1),
    out: path.resolve(String(flags.get('out') ?? `runs/demo-${dims}d`)),
    batchSize: integer('batch-size', dims === 2 ? 4 : 1, 1),
    crop,
    lr,
    checkpointEvery: integer('checkpoint-every', 50, 1),
    seed: integer('seed', 0, 0),
    resume: flags.has('resume'),
  };
}

/** Where the pretrain command writes: log lines, and a progress line that a TTY redraws. */
export interface PretrainOutput {
  write: (text: string) => void;
  isTTY: boolean;
  columns?: number;
}

/** Runs `cover-torch pretrain`; returns the exit code. Status goes to `output` (stderr). */
export async function pretrain(argv: string[], output: PretrainOutput, signal?: AbortSignal): Promise<number> {
  const args = parsePretrainArgs(argv);
  const logger = createLogger({
    level: args.logLevel,
    sink: (record) => output.write(`${output.isTTY ? '\r\x1b[K' : ''}${formatLine(record)}\n`),
  });
  const model = await CoverModel.create({ dims: args.dims, seed: args.seed });
  try {
    const cropSize = new Array<number>(args.dims).fill(args.crop);
    model.configureTraining({ cropSize, seed: args.seed });
    const imageSize = cropSize.map((c) => Math.round(c * 1.5));
    const trainer = new Trainer(model, {
      maxSteps: args.steps,
      learningRate: args.lr,
      checkpoint: { dirpath: path.join(args.out, 'checkpoints'), everyNTrainSteps: args.checkpointEvery },
      metricsFile: path.join(args.out, 'metrics.jsonl'),
      resume: args.resume,
      logger,
      ...(signal ? { signal } : {}),
    });
    logger.info(
      `pretraining a ${args.dims}D model (${model.parameterCount().toLocaleString('en')} parameters) on demo phantoms`,
      {
        steps: args.steps,
        out: args.out,
      },
    );
    let lastReport = 0;
    for await (const record of trainer.fit(phantomBatches(args.batchSize, imageSize, args.seed * 1_000_003))) {
      const values = { L_vec: record.vectorLoss, 'no-motion': record.zeroBaseline, L_con: record.consistencyLoss };
      if (output.isTTY && args.logLevel !== 'silent') {
        output.write(
          `\r\x1b[K${formatProgress({ step: record.step, total: args.steps, elapsedMs: record.elapsedMs, values }, output.columns ?? 100)}`,
        );
        continue;
      }
      const now = Date.now();
      if (now - lastReport < 2000 && record.step !== args.steps) continue;
      lastReport = now;
      logger.info(`step ${record.step}/${args.steps}`, {
        L_vec: round(record.vectorLoss),
        no_motion: round(record.zeroBaseline),
        L_con: round(record.consistencyLoss),
        lr: Number(record.learningRate.toExponential(2)),
        reachable: round(record.reachableFraction),
        steps_per_s: round(record.step / (record.elapsedMs / 1000)),
      });
    }
    if (output.isTTY && args.logLevel !== 'silent') output.write('\n');
    logger.info('done', {
      checkpoints: path.join(args.out, 'checkpoints'),
      metrics: path.join(args.out, 'metrics.jsonl'),
    });
    return 0;
  } finally {
    model.dispose();
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function formatLine(record: LogRecord): string {
  const fields = formatFields(record.fields);
  return `cover-torch ${record.level === 'info' ? '' : `${record.level}: `}${record.message}${fields ? `  ${fields}` : ''}`;
}
