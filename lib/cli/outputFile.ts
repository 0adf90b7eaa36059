import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Refuses, before a command does its work, an output file it could not write at the end
 * (its folder missing, or the path a folder) or one that names one of its inputs. A
 * fine-tuning or a probe takes minutes; learning then that the output path was wrong loses
 * them. `inputs`: [what, path] pairs.
 */
export async function checkOutputFile(
  file: string,
  flag: string,
  inputs: readonly (readonly [string, string | undefined])[] = [],
): Promise<void> {
  const resolved = path.resolve(file);
  const input = inputs.find(([, other]) => other !== undefined && path.resolve(other) === resolved);
  if (input) throw new Error(`${flag} ${file} is also ${input[0]}: writing it would overwrite that input`);
  const folder = path.dirname(resolved);
  const [target, parent] = await Promise.all([
    fs.stat(resolved).catch(() => undefined),
    fs.stat(folder).catch(() => undefined),
  ]);
  if (target?.isDirectory()) throw new Error(`${flag} ${file} is a folder; expected a file name`);
  if (!parent) throw new Error(`${flag} ${file}: its folder ${folder} does not exist; create it first`);
  if (!parent.isDirectory()) throw new Error(`${flag} ${file}: ${folder} is not a folder`);
}
