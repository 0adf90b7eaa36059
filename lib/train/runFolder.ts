import path from 'node:path';
import { pathExists } from '../io/pathExists';
import { latestCheckpoint } from './checkpoints';

/**
 * Refuses to start a fresh run in a folder that holds one (a checkpoint, or the metrics of a
 * run stopped before its first checkpoint): the two would mix their checkpoints and metrics.
 * `resumeHint` says how to continue the run instead.
 */
export async function refuseToOverwriteRun(folder: string, resumeHint: string): Promise<void> {
  let latest = await latestCheckpoint(path.join(folder, 'checkpoints')).catch(() => 'unreadable');
  if (latest === undefined && (await pathExists(path.join(folder, 'metrics.jsonl'))))
    latest = 'none yet, but metrics.jsonl';
  if (latest !== undefined)
    throw new Error(`${folder} already holds a run (latest checkpoint: ${latest}); ${resumeHint}`);
}
