import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processRuns } from './processRuns';

/**
 * A lock file that keeps two training runs from writing one folder at once (their
 * checkpoints, latest.json and metrics would interleave). It holds the owner's pid and host;
 * a lock whose process is gone (same host) is stale and taken over.
 */

const LOCK_NAME = '.cover-torch.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** Thrown when another live process holds the folder. */
export class FolderLockedError extends Error {
  constructor(
    readonly folder: string,
    readonly owner: LockOwner,
  ) {
    super(
      `${folder} is in use by another training run (pid ${owner.pid} on ${owner.host}, since ${owner.started}); ` +
        `wait for it to end or choose another folder. If that process is gone, delete ${path.join(folder, LOCK_NAME)}.`,
    );
    this.name = 'FolderLockedError';
  }
}

/** Takes the folder (creating it); resolves with the function that gives it back. */
export async function lockFolder(folder: string): Promise<() => Promise<void>> {
  await fs.mkdir(folder, { recursive: true });
  const file = path.join(folder, LOCK_NAME);
  const mine: LockOwner = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; ++attempt) {
    try {
      await fs.writeFile(file, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
    } catch {
      // Unreadable: being written by a process starting right now, or left half-written
      // by one that crashed. Only an old one is stale.
      const { mtimeMs } = await fs.stat(file);
      if (Date.now() - mtimeMs < 10_000) owner = { pid: NaN, host: 'unknown host', started: 'just now' };
    }
    const ours = owner?.pid === process.pid && owner.host === mine.host;
    if (owner && (ours || owner.host !== mine.host || !Number.isInteger(owner.pid) || processRuns(owner.pid)))
      throw new FolderLockedError(folder, owner);
    await fs.rm(file, { force: true });
  }
  return async () => {
    // Only remove the lock while it is still ours.
    const owner = await fs.readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as LockOwner,
      () => undefined,
    );
    if (owner?.pid === mine.pid && owner.started === mine.started) await fs.rm(file, { force: true });
  };
}
