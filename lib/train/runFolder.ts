import path from 'node:path';
import { pathExists } from '../io/pathExists';
import { FINAL_WEIGHTS, latestCheckpoint } from './checkpoints';

/**
 * Refuses to start a fresh run in a folder that holds one (a checkpoint, or the metrics of a
 * run stopped before its first checkpoint, or a run whose checkpoints were deleted): the two
 * would mix their checkpoints and metrics, and the new final.safetensors would replace the
 * old. `resumeHint` says how to continue the run instead.
 */
export async function refuseToOverwriteRun(folder: string, resumeHint: string): Promise<void> {
  const latest = await latestCheckpoint(path.join(folder, 'checkpoints')).catch(() => 'unreadable');
  if (latest !== undefined)
    throw new Error(`${folder} already holds a run (latest checkpoint: ${latest}); ${resumeHint}`);
  for (const file of ['metrics.jsonl', 'metrics.csv']) {
    if (await pathExists(path.join(folder, file)))
      throw new Error(`${folder} already holds a run (latest checkpoint: none yet, but ${file}); ${resumeHint}`);
  }
  // Its checkpoints deleted, a finished run cannot be continued; a resume would start over.
  if (await pathExists(path.join(folder, FINAL_WEIGHTS)))
    throw new Error(
      `${folder} already holds a finished run (final.safetensors, no checkpoints); choose another folder, or move it aside`,
    );
}
