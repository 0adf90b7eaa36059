import fs from 'node:fs/promises';

/** Whether something (file or folder) exists at `file`; unreadable counts as absent. */
export async function pathExists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
