import { readFile, stat } from 'node:fs/promises';
import { ImageReadError } from './ImageVolume';

/**
 * Why a file-system call failed, in words a user can act on (the code stays in the text so
 * that it can be searched for).
 */
export function fileSystemReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or folder (ENOENT); check the path';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code}); check the file's read permission`;
    case 'EISDIR':
      return 'is a folder (EISDIR), expected a file';
    case 'ENOTDIR':
      return 'a part of the path is not a folder (ENOTDIR); check the path';
    default:
      return `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** What a path that is not a regular file is, for the message. */
function kindOf(info: Awaited<ReturnType<typeof stat>>): string | undefined {
  if (info.isFIFO()) return 'a named pipe (FIFO)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return undefined;
}

/** The whole file, or an ImageReadError naming it (missing, unreadable, empty, not a file). */
export async function readFileBytes(file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    // A pipe or a device would block the read until its writer ends, maybe forever.
    const kind = kindOf(await stat(file));
    if (kind) throw new ImageReadError(file, `is ${kind}, expected a regular image file`);
    bytes = await readFile(file);
  } catch (error) {
    if (error instanceof ImageReadError) throw error;
    throw new ImageReadError(file, fileSystemReason(error), { cause: error });
  }
  if (bytes.length === 0) throw new ImageReadError(file, 'empty file (0 bytes), expected an image');
  return bytes;
}
