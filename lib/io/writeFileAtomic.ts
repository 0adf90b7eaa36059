import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { processRuns } from './processRuns';

/**
 * Writes a file so that readers see either the old content or the complete new one: the
 * data goes to a temporary file in the same folder, is fsynced, then renamed over the
 * target, and the folder is fsynced so the rename survives a crash.
 */
export async function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): Promise<void> {
  // Unique per call: two writes of one file at once (same process, same millisecond) must
  // not share a temporary file; the last rename wins with a complete file either way.
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomUUID()}.tmp`);
  const handle = await openTemporary(temp, file);
  try {
    for (const chunk of chunks) await handle.write(chunk);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    // The rename's error names the temporary file, which the caller never chose.
    if ((error as NodeJS.ErrnoException).code === 'EISDIR')
      throw new Error(`Cannot write ${file}: it is a folder; expected the path of a file`, { cause: error });
    throw error;
  }
  const folder = await fs.open(path.dirname(file), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * Opens the temporary file; a failure names the file the caller asked for, not the
 * temporary name it never chose.
 */
async function openTemporary(temp: string, file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(temp, 'w');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const folder = path.dirname(file);
    const why =
      code === 'ENOENT'
        ? `its folder ${folder} does not exist`
        : code === 'EACCES' || code === 'EPERM'
          ? `no permission to write in ${folder}`
          : code === 'ENOTDIR'
            ? `${folder} is not a folder`
            : message;
    throw new Error(`Cannot write ${file}: ${why}`, { cause: error });
  }
}

/** How writeFileAtomic names its temporary files: ".NAME.PID.UUID.tmp". */
const TEMPORARY_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temporary files that writeFileAtomic left in `folder` when its process was
 * killed mid-write: partial copies, as large as a model's weights, that nothing would ever
 * read or remove. A temporary whose process still runs is another write under way (`plot`
 * writes into a run folder without its lock) and stays; so does one that cannot be removed.
 * Returns the names removed.
 */
export async function removeInterruptedAtomicWrites(folder: string): Promise<string[]> {
  const entries = await fs.readdir(folder, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = entry.isFile() ? TEMPORARY_NAME.exec(entry.name)?.[1] : undefined;
    if (pid === undefined || processRuns(Number(pid))) continue;
    const gone = await fs.rm(path.join(folder, entry.name), { force: true }).then(
      () => true,
      () => false,
    );
    if (gone) removed.push(entry.name);
  }
  return removed.sort();
}
