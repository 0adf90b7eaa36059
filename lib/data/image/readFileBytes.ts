import { readFile } from 'node:fs/promises';
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

/** The whole file, or an ImageReadError naming it (missing, unreadable, empty). */
export async function readFileBytes(file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ImageReadError(file, fileSystemReason(error), { cause: error });
  }
  if (bytes.length === 0) throw new ImageReadError(file, 'empty file (0 bytes), expected an image');
  return bytes;
}
