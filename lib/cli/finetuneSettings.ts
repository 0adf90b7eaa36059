import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/writeFileAtomic';
import { changedOnResume } from './resumeConfig';

/**
 * What shaped a fine-tuning run's steps, kept in RUN/finetune.json so that `--resume` can
 * refuse to continue it with other data, classes or optimiser settings (a run whose first
 * steps saw one thing and the rest another). Steps, checkpointing and --out may change.
 */
export interface FinetuneSettings {
  weights: string;
  images: string[];
  labels: string[];
  classes: number;
  crop: number;
  batchSize: number;
  learningRate: number;
  schedule: string;
  freezeEncoder: boolean;
  classWeights: number[] | null;
  ignoreLabel: number | null;
  seed: number;
  normalize: boolean;
}

const FILE = 'finetune.json';

/** Paths resolved, so that a resume from another working folder compares the same files. */
export function resolvedSettings(settings: FinetuneSettings): FinetuneSettings {
  const resolve = (files: string[]) => files.map((file) => path.resolve(file));
  return {
    ...settings,
    weights: path.resolve(settings.weights),
    images: resolve(settings.images),
    labels: resolve(settings.labels),
  };
}

export async function saveFinetuneSettings(run: string, settings: FinetuneSettings): Promise<void> {
  await writeFileAtomic(path.join(run, FILE), [Buffer.from(`${JSON.stringify(settings, null, 2)}\n`)]);
}

/**
 * Refuses a resume whose settings differ from those the run was started with. Returns false
 * when the run kept none (it stopped before its first step), true when they match.
 */
export async function refuseChangedFinetuneSettings(run: string, settings: FinetuneSettings): Promise<boolean> {
  const file = path.join(run, FILE);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON; it should hold the settings the run was started with`);
  }
  const changes = changedOnResume(saved, settings, []);
  if (changes.length > 0)
    throw new Error(
      `--resume continues ${run} as it was started (${file}), but these differ:\n  ${changes.join('\n  ')}\n` +
        'Resume with the same options (--steps, --checkpoint-every and --out may change), or start a new run with another --run.',
    );
  return true;
}
