import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FolderLockedError, lockFolder } from '../../lib/io/folderLock';
import { useTempDir } from '../tempDir';

describe('lockFolder', () => {
  const tempDir = useTempDir('cover-lock');

  it('lets one holder at a time have a folder, and gives it back', async () => {
    const folder = path.join(tempDir(), 'run', 'checkpoints');
    const release = await lockFolder(folder);
    const second = lockFolder(folder);
    await expect(second).rejects.toThrow(FolderLockedError);
    await expect(second).rejects.toThrow(
      new RegExp(`${folder} is in use by another training run \\(pid ${process.pid} on `),
    );
    await release();
    const again = await lockFolder(folder);
    await again();
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it('takes over the lock of a process that is gone', async () => {
    const folder = path.join(tempDir(), 'stale');
    fs.mkdirSync(folder);
    // The pid of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const owner = { pid: Number(gone.stdout.trim()), host: os.hostname(), started: '2026-01-01T00:00:00.000Z' };
    fs.writeFileSync(path.join(folder, '.cover-torch.lock'), JSON.stringify(owner));
    const release = await lockFolder(folder);
    expect(JSON.parse(fs.readFileSync(path.join(folder, '.cover-torch.lock'), 'utf8')).pid).toBe(process.pid);
    await release();
  });

  it('refuses a lock held by a live process, naming it', async () => {
    const folder = path.join(tempDir(), 'live');
    fs.mkdirSync(folder);
    const owner = { pid: process.ppid, host: os.hostname(), started: '2026-01-01T00:00:00.000Z' };
    fs.writeFileSync(path.join(folder, '.cover-torch.lock'), JSON.stringify(owner));
    await expect(lockFolder(folder)).rejects.toThrow(`pid ${process.ppid}`);
  });
});
