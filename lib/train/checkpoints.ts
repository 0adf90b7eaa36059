import fs from 'node:fs/promises';
import path from 'node:path';
import type { PlateauState } from './plateau';
import type { Trainable } from './trainable';
import { loadSafetensors, readSafetensorsMetadata } from '../io/safetensors';
import { pathExists } from '../io/pathExists';
import { writeFileAtomic } from '../io/writeFileAtomic';
import { firstNonFinite } from '../validate';

/**
 * Checkpoints in a folder: step-000120/ holding model.safetensors (weights, PyTorch names),
 * training.safetensors (optimiser, view RNG, step) and meta.json. Each is written into a
 * temporary folder that is renamed into place when complete; latest.json, replaced
 * atomically afterwards, names the newest. A crash mid-write leaves at worst a stray
 * temporary folder, never a half-written checkpoint named as the latest.
 */

export interface CheckpointMeta {
  step: number;
  metrics?: object;
  /** The trained model's score since the previous checkpoint (lower is better; see TrainingScore). */
  score?: number;
  /** Early stopping's progress, when the run uses it. */
  earlyStopping?: PlateauState;
}

/** What a checkpoint holds the files of: a CoverModel or a Segmenter. */
type Checkpointable = Pick<
  Trainable<never, never>,
  'save' | 'saveTrainingState' | 'loadTrainingState' | 'stateDict' | 'loadStateDict'
>;

const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** A checkpoint must never hold a dead model: NaN or Inf in any weight refuses the write. */
async function refuseNonFiniteWeights(model: Checkpointable, step: number): Promise<void> {
  for (const [name, tensor] of Object.entries(await model.stateDict())) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64') continue;
    const values = tensor.data as Float32Array | Float64Array;
    const i = firstNonFinite(values);
    if (i >= 0)
      throw new Error(
        `Refusing to write the checkpoint of step ${step}: weight "${name}" holds ${values[i]} at index ${i}; the previous checkpoints are kept`,
      );
  }
}

/** Writes a checkpoint for `step`, points latest.json at it and keeps the newest `keepLast`. */
export async function saveCheckpoint(
  dirpath: string,
  model: Checkpointable,
  meta: CheckpointMeta,
  keepLast: number,
  weightsOnly = false,
): Promise<string> {
  await refuseNonFiniteWeights(model, meta.step);
  await fs.mkdir(dirpath, { recursive: true });
  const final = path.join(dirpath, stepName(meta.step));
  const staging = path.join(dirpath, `.${stepName(meta.step)}.${process.pid}.tmp`);
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging);
  await model.save(path.join(staging, 'model.safetensors'));
  // The optimiser moments are two thirds of a checkpoint; without them a resume restarts them.
  if (!weightsOnly) await model.saveTrainingState(path.join(staging, 'training.safetensors'));
  await writeFileAtomic(path.join(staging, 'meta.json'), [Buffer.from(`${JSON.stringify(meta, null, 2)}\n`)]);
  await fs.rm(final, { recursive: true, force: true });
  await fs.rename(staging, final);
  await writeFileAtomic(path.join(dirpath, 'latest.json'), [
    Buffer.from(`${JSON.stringify({ step: meta.step, path: stepName(meta.step) })}\n`),
  ]);
  // Oldest first by step number (names sort as text only up to 999,999 steps); the one just
  // written, which latest.json names, always stays.
  const others = (await stepFolders(dirpath)).filter((name) => name !== stepName(meta.step));
  for (const old of others.slice(0, Math.max(0, others.length + 1 - keepLast))) {
    await fs.rm(path.join(dirpath, old), { recursive: true, force: true });
  }
  return final;
}

/**
 * Removes what interrupted writes left in a checkpoint folder: staging folders
 * (.step-N.PID.tmp, .best-step-N.PID.tmp) and temporary pointer files (.latest.json.*.tmp).
 * Only for a folder this process holds the lock of: no other writer can be mid-write there.
 * Returns the names removed.
 */
export async function removeInterruptedWrites(dirpath: string): Promise<string[]> {
  const names = await fs.readdir(dirpath).catch(() => [] as string[]);
  const stale = names.filter((name) => /^\.(best-)?step-\d+\.\d+\.tmp$|^\.(latest|best)\.json\..+\.tmp$/.test(name));
  for (const name of stale) await fs.rm(path.join(dirpath, name), { recursive: true, force: true });
  return stale;
}

/** The checkpoint folders (step-N) in `dirpath`, oldest step first. */
async function stepFolders(dirpath: string): Promise<string[]> {
  const names = (await fs.readdir(dirpath).catch(() => [] as string[])).filter((name) => /^step-\d+$/.test(name));
  return names.sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
}

/** Where a run's final.safetensors records the steps it trained. */
export const STEPS_METADATA = 'cover-torch.steps';

/** The weights a finished pretraining run leaves in its folder. */
export const FINAL_WEIGHTS = 'final.safetensors';
/** The weights a new pretraining run starts from, saved before its first step. */
export const INITIAL_WEIGHTS = 'initial.safetensors';

/**
 * The weights file a path names: a .safetensors file itself, a checkpoint folder's
 * model.safetensors, or for a run folder its final.safetensors (a finished run) or else its
 * latest checkpoint's weights; the checkpoint too when it is newer than final.safetensors
 * (a finished run resumed for more steps and stopped before its new end).
 */
export async function weightsFileOf(target: string): Promise<string> {
  const info = await fs.stat(target).catch(() => undefined);
  if (!info)
    throw new Error(`${target} does not exist; expected a run folder, a checkpoint folder or a .safetensors file`);
  if (info.isFile()) return target;
  const isFile = (file: string) =>
    fs.stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
  const checkpoint = path.join(target, 'model.safetensors');
  if (await isFile(checkpoint)) return checkpoint;
  const final = path.join(target, FINAL_WEIGHTS);
  const hasFinal = await isFile(final);
  const latest = await latestCheckpoint(path.join(target, 'checkpoints')).catch((error: unknown) => {
    if (hasFinal) return undefined; // the checkpoints only matter when newer than final.safetensors
    throw error;
  });
  if (hasFinal) {
    const finalSteps = Number((await readSafetensorsMetadata(final))[STEPS_METADATA]);
    const latestStep = latest ? Number(/step-(\d+)$/.exec(latest)?.[1]) : NaN;
    return latestStep > finalSteps ? path.join(latest!, 'model.safetensors') : final;
  }
  if (!latest)
    throw new Error(`${target} holds no weights (no final.safetensors, model.safetensors or checkpoints/latest.json)`);
  return path.join(latest, 'model.safetensors');
}

/**
 * The newest complete checkpoint folder in `dirpath`, or undefined when there is none: the
 * one latest.json names, or without latest.json the highest step-N folder (a folder gets
 * its step-N name only once complete), so that a lost pointer does not restart a run.
 */
export async function latestCheckpoint(dirpath: string): Promise<string | undefined> {
  const file = path.join(dirpath, 'latest.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      const newest = (await stepFolders(dirpath)).at(-1);
      return newest && path.join(dirpath, newest);
    }
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const latest = parseJson(text) as { path?: unknown } | null;
  if (typeof latest?.path !== 'string' || !/^step-\d+$/.test(latest.path))
    throw new Error(
      `${file} does not name a checkpoint (expected {"step": N, "path": "step-00000N"}); it holds: ${text.trim().slice(0, 80)}`,
    );
  return path.join(dirpath, latest.path);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The folder best.json names, or undefined when there is none (or it cannot be read). */
export async function bestCheckpoint(dirpath: string): Promise<string | undefined> {
  try {
    const best = JSON.parse(await fs.readFile(path.join(dirpath, 'best.json'), 'utf8')) as { path: string };
    return path.join(dirpath, best.path);
  } catch {
    return undefined;
  }
}

/** Loads weights and training state of a checkpoint folder into a model configured for training. */
export async function restoreCheckpoint(
  folder: string,
  model: Checkpointable,
): Promise<CheckpointMeta & { weightsOnly: boolean }> {
  // Checked first: the step decides which metrics lines are kept, and nothing of the model
  // should change for a checkpoint that cannot be resumed.
  const metaFile = path.join(folder, 'meta.json');
  const meta = parseJson(await fs.readFile(metaFile, 'utf8')) as CheckpointMeta | undefined;
  if (!Number.isSafeInteger(meta?.step) || meta!.step < 0)
    throw new Error(
      `${metaFile} has no valid "step" (expected a non-negative integer); the checkpoint cannot be resumed`,
    );
  const { tensors } = await loadSafetensors(path.join(folder, 'model.safetensors'));
  await model.loadStateDict(tensors);
  const state = path.join(folder, 'training.safetensors');
  const weightsOnly = !(await pathExists(state));
  if (!weightsOnly) await model.loadTrainingState(state);
  return { ...meta!, weightsOnly };
}

/**
 * Keeps the checkpoint `folder` as the best one when its `score` (lower is better) beats the
 * one in best.json: its files are linked (or copied) into a staged best-step-N folder that
 * is renamed into place, then best.json is replaced atomically and older best folders go.
 * Returns whether it became the best.
 */
export async function updateBestCheckpoint(
  dirpath: string,
  folder: string,
  step: number,
  score: number,
): Promise<boolean> {
  if (!Number.isFinite(score)) return false;
  const pointer = path.join(dirpath, 'best.json');
  const text = await fs.readFile(pointer, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  // best.json only summarises checkpoints already on disk: one that does not hold a score
  // (edited, or from another tool) is replaced rather than allowed to stop the run.
  const bestScore = text === undefined ? undefined : (parseJson(text) as { score?: unknown } | null)?.score;
  if (typeof bestScore === 'number' && Number.isFinite(bestScore) && bestScore <= score) return false;
  const name = `best-${stepName(step)}`;
  const staging = path.join(dirpath, `.${name}.${process.pid}.tmp`);
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging);
  for (const file of await fs.readdir(folder)) {
    // A hard link shares the bytes already written and synced; copy where links are not allowed.
    await fs
      .link(path.join(folder, file), path.join(staging, file))
      .catch(() => fs.copyFile(path.join(folder, file), path.join(staging, file)));
  }
  await fs.rm(path.join(dirpath, name), { recursive: true, force: true });
  await fs.rename(staging, path.join(dirpath, name));
  await writeFileAtomic(pointer, [Buffer.from(`${JSON.stringify({ step, score, path: name })}\n`)]);
  for (const old of await fs.readdir(dirpath)) {
    if (/^best-step-\d+$/.test(old) && old !== name)
      await fs.rm(path.join(dirpath, old), { recursive: true, force: true });
  }
  return true;
}
