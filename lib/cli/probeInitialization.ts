import fs from 'node:fs';
import path from 'node:path';
import { readConfigFile } from '../config/loadConfig';
import { CoverModel } from '../model/CoverModel';
import type { ModelOptions } from '../model/modelOptions';
import { INITIAL_WEIGHTS, weightsFileOf } from '../train/checkpoints';

/** A network to probe: its weights, and the initialisation pretraining is measured against. */
export interface ProbeTarget {
  /** As given on the command line; null for an initialisation alone. */
  target: string | null;
  weights: string | null;
  /** The run's seed (its config.yaml), or --seed. */
  seed: number;
  /** The run's recorded initial weights (initial.safetensors), when it kept them. */
  initial: string | null;
}

/**
 * The weights file a target names, the seed its initialisation had, and the initial weights
 * its run recorded. The run folder (config.yaml, initial.safetensors) is the folder of
 * final.safetensors, or two folders up from a checkpoint's weights
 * (<run>/checkpoints/step-N/model.safetensors).
 */
export async function resolveProbeTarget(target: string, fallbackSeed: number): Promise<ProbeTarget> {
  const weights = await weightsFileOf(target);
  const run = [path.dirname(weights), path.dirname(path.dirname(path.dirname(weights)))].find((folder) =>
    fs.existsSync(path.join(folder, 'config.yaml')),
  );
  if (!run) return { target, weights, seed: fallbackSeed, initial: null };
  const seed = Number((await readConfigFile(path.join(run, 'config.yaml'))).seed ?? fallbackSeed);
  const initial = path.join(run, INITIAL_WEIGHTS);
  return { target, weights, seed, initial: fs.existsSync(initial) ? initial : null };
}

/**
 * The network a target's run started from: its recorded initial weights, or, for runs that
 * did not keep them (and for --seed alone), drawn again from the seed with `options`, which
 * this version of the code may draw otherwise than the run's did. `key` is the same for
 * targets that share one initialisation, so that it is scored once.
 */
export function initialNetwork(
  target: ProbeTarget,
  options: Omit<ModelOptions, 'seed'>,
): { key: string; label: string; create: () => Promise<CoverModel> } {
  if (target.initial)
    return {
      key: path.resolve(target.initial),
      label: `initialisation (seed ${target.seed}, recorded)`,
      create: () => CoverModel.load(target.initial!),
    };
  return {
    key: JSON.stringify({ ...options, device: undefined, seed: target.seed }),
    label: `initialisation (seed ${target.seed})`,
    create: () => CoverModel.create({ ...options, seed: target.seed }),
  };
}
