import path from 'node:path';
import { phantomBatches } from '../data/phantom';
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
  return {
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

/** Runs `cover-torch pretrain`; returns the exit code. */
export async function pretrain(argv: string[], out: (text: string) => void, signal?: AbortSignal): Promise<number> {
  const args = parsePretrainArgs(argv);
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
      ...(signal ? { signal } : {}),
    });
    out(
      `cover-torch: pretraining a ${args.dims}D model (${model.parameterCount().toLocaleString('en')} parameters) on demo phantoms, ${args.steps} steps, output in ${args.out}\n`,
    );
    let lastReport = 0;
    for await (const record of trainer.fit(phantomBatches(args.batchSize, imageSize, args.seed * 1_000_003))) {
      const now = Date.now();
      if (now - lastReport < 2000 && record.step !== args.steps) continue;
      lastReport = now;
      const stepsPerSecond = record.step / (record.elapsedMs / 1000);
      out(
        `step ${record.step}/${args.steps}  L_vec ${record.vectorLoss.toFixed(3)} (no-motion ${record.zeroBaseline.toFixed(3)})  ` +
          `L_con ${record.consistencyLoss.toFixed(3)}  lr ${record.learningRate.toExponential(2)}  ` +
          `reach ${(100 * record.reachableFraction).toFixed(0)}%  ${stepsPerSecond.toFixed(2)} steps/s\n`,
      );
    }
    out(
      `cover-torch: done; checkpoints in ${path.join(args.out, 'checkpoints')}, metrics in ${path.join(args.out, 'metrics.jsonl')}\n`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}
