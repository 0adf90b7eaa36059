import fs from 'node:fs';
import path from 'node:path';
import { removeInterruptedAtomicWrites, writeFileAtomic } from '../../lib/io/writeFileAtomic';
import { useTempDir } from '../tempDir';

describe('writeFileAtomic', () => {
  const tempDir = useTempDir('cover-atomic');

  it('lets many writes of one file run at once: each succeeds, one complete version stays, no temp files', async () => {
    const file = path.join(tempDir(), 'latest.json');
    const versions = Array.from(
      { length: 32 },
      (_, i) => `${JSON.stringify({ version: i, pad: 'x'.repeat(i * 997) })}\n`,
    );
    await Promise.all(versions.map((text) => writeFileAtomic(file, [Buffer.from(text)])));
    expect(versions).toContain(fs.readFileSync(file, 'utf8'));
    expect(fs.readdirSync(tempDir())).toEqual(['latest.json']);
  });

  it('names the file asked for, not its temporary name, when the folder is missing', async () => {
    const file = path.join(tempDir(), 'missing', 'model.safetensors');
    await expect(writeFileAtomic(file, [Buffer.from('x')])).rejects.toThrow(
      `Cannot write ${file}: its folder ${path.dirname(file)} does not exist`,
    );
    const inFile = path.join(tempDir(), 'plain.txt', 'model.safetensors');
    fs.writeFileSync(path.join(tempDir(), 'plain.txt'), 'x');
    await expect(writeFileAtomic(inFile, [Buffer.from('x')])).rejects.toThrow(
      `Cannot write ${inFile}: ${path.dirname(inFile)} is not a folder`,
    );
    const folder = path.join(tempDir(), 'a-folder');
    fs.mkdirSync(folder);
    await expect(writeFileAtomic(folder, [Buffer.from('x')])).rejects.toThrow(
      `Cannot write ${folder}: it is a folder; expected the path of a file`,
    );
    expect(fs.readdirSync(tempDir()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('leaves the old file whole when the write fails', async () => {
    const file = path.join(tempDir(), 'kept.txt');
    await writeFileAtomic(file, [Buffer.from('old')]);
    const bad = { length: 3 } as unknown as Uint8Array; // not a buffer: the write throws
    await expect(writeFileAtomic(file, [Buffer.from('new'), bad])).rejects.toThrow();
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(tempDir()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
  it('removes the temporary files of writes killed midway, and nothing else', async () => {
    const folder = path.join(tempDir(), 'run');
    fs.mkdirSync(folder);
    const uuid = '0f8e2a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
    // Process ids above Linux's largest (2^22): no process of theirs runs.
    const stale = [`.final.safetensors.4194999.${uuid}.tmp`, `.metrics.jsonl.4195000.${uuid}.tmp`];
    // What is not a temporary of writeFileAtomic stays: the files themselves, a user's own
    // hidden .tmp files, a checkpoint's staging folder (checkpoints.ts handles those).
    // A write of a process that still runs (this one) is under way and stays too.
    const kept = [
      'final.safetensors',
      '.notes.tmp',
      `.x.${uuid}.tmp`,
      '.final.safetensors.12.abc.tmp',
      `.losses.svg.${process.pid}.${uuid}.tmp`,
    ];
    for (const name of [...stale, ...kept]) fs.writeFileSync(path.join(folder, name), 'partial');
    fs.mkdirSync(path.join(folder, `.step-3.99.${uuid}.tmp`));
    expect(await removeInterruptedAtomicWrites(folder)).toEqual([...stale].sort());
    expect(fs.readdirSync(folder).sort()).toEqual([...kept, `.step-3.99.${uuid}.tmp`].sort());
    // A complete write leaves none behind to remove.
    await writeFileAtomic(path.join(folder, 'final.safetensors'), [Buffer.from('whole')]);
    expect(await removeInterruptedAtomicWrites(folder)).toEqual([]);
    expect(await removeInterruptedAtomicWrites(path.join(folder, 'missing'))).toEqual([]);
  });
});
