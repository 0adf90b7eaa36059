import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/writeFileAtomic';
import { plotRun, type PlottedRecord } from '../plot/runPlot';

export const PLOT_USAGE = `Usage: cover-torch plot RUN [--out FILE.svg] [--window N] [--title TEXT]

Draws a run's curves from RUN/metrics.jsonl (RUN may also be the metrics file itself) as an
SVG: L_vec against the no-motion baseline, L_con, the reachable fraction and the feature
variation (the collapse indicator), as moving averages over --window steps (default 25)
with the raw values faint behind. Writes RUN/losses.svg unless --out says otherwise.`;

const FIELDS: (keyof PlottedRecord)[] = [
  'step',
  'vectorLoss',
  'zeroBaseline',
  'consistencyLoss',
  'reachableFraction',
  'featureVariation',
];

/** Runs `cover-torch plot`; returns the exit code. */
export async function plot(argv: string[], out: (text: string) => void): Promise<number> {
  const targets: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (['--out', '--window', '--title'].includes(arg)) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value\n\n${PLOT_USAGE}`);
      options[arg.slice(2)] = value;
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}\n\n${PLOT_USAGE}`);
    } else {
      targets.push(arg);
    }
  }
  if (targets.length !== 1) throw new Error(`expected one run folder or metrics file\n\n${PLOT_USAGE}`);
  const window = Number(options.window ?? 25);
  if (!Number.isInteger(window) || window < 1)
    throw new Error(`Expected a positive integer for --window but received "${options.window}"`);
  // An SVG under another name (metrics.jsonl, say) would replace what it names.
  if (options.out !== undefined && !/\.svg$/i.test(options.out))
    throw new Error(`--out ${options.out}: the plot is an SVG; expected a name ending in .svg`);
  const target = targets[0]!;
  const isFolder = (await fs.stat(target).catch(() => undefined))?.isDirectory() ?? false;
  const file = isFolder ? path.join(target, 'metrics.jsonl') : target;
  const records = await readRunRecords(file);
  const title = options.title ?? path.basename(path.resolve(isFolder ? target : path.dirname(file)));
  const svg = path.resolve(options.out ?? path.join(path.dirname(file), 'losses.svg'));
  await fs.mkdir(path.dirname(svg), { recursive: true });
  await writeFileAtomic(svg, [Buffer.from(plotRun(records, title, window))]);
  out(`wrote ${svg} (${records.length} step${records.length === 1 ? '' : 's'})\n`);
  return 0;
}

/** The records of a run's metrics.jsonl that the plot draws, with errors naming the line. */
export async function readRunRecords(file: string): Promise<PlottedRecord[]> {
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(
      `cannot read ${file} (${error.code ?? error.message}); expected a run folder holding metrics.jsonl`,
    );
  });
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new Error(`${file} holds no steps yet`);
  return lines.map((line, i) => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${file}:${i + 1} is not a JSON line`);
    }
    // JSON writes NaN and Infinity (skipped steps) as null.
    for (const field of FIELDS) {
      const value = record[field];
      if (value === null) record[field] = NaN;
      else if (typeof value !== 'number')
        throw new Error(`${file}:${i + 1} has no number "${field}"; expected metrics.jsonl of a cover-torch run`);
    }
    return record as unknown as PlottedRecord;
  });
}
