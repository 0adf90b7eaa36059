import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/writeFileAtomic';
import type { Logger } from '../log/logger';

/**
 * The images a pretraining run draws from, kept in RUN/images.json. A run draws image
 * floor(r * count) at each step, so a resume over another set of files (one added to the
 * folder, a broken one removed) trains on other batches than the uninterrupted run would
 * have. That is the way on after a file stopped a run, so it is allowed, but said.
 */
export const RUN_IMAGES_FILE = 'images.json';

interface RunImages {
  /** Where the paths below are relative to (the images' deepest common folder). */
  folder: string;
  files: string[];
}

function recordOf(files: readonly string[]): RunImages {
  const folder = commonFolder(files);
  return { folder, files: files.map((file) => path.relative(folder, file)) };
}

function commonFolder(files: readonly string[]): string {
  let folder = path.dirname(files[0]!);
  while (!files.every((file) => file.startsWith(folder + path.sep)) && path.dirname(folder) !== folder)
    folder = path.dirname(folder);
  return folder;
}

/**
 * Records `files` for a new run, or, resuming, warns when they differ from the ones the run
 * recorded (the files' folder may have moved; their names may not change) and records the
 * new set. A run from before this record existed gets it now.
 */
export async function checkRunImages(
  out: string,
  files: readonly string[],
  resume: boolean,
  logger: Pick<Logger, 'warn'>,
): Promise<void> {
  const record = path.join(out, RUN_IMAGES_FILE);
  const current = recordOf(files);
  const text = resume ? await fs.readFile(record, 'utf8').catch(() => undefined) : undefined;
  if (text !== undefined) {
    const saved = JSON.parse(text) as RunImages;
    const added = current.files.filter((file) => !saved.files.includes(file));
    const removed = saved.files.filter((file) => !current.files.includes(file));
    if (saved.files.join('\n') === current.files.join('\n')) return;
    const examples = (names: string[]) => names.slice(0, 3).join(', ') + (names.length > 3 ? ', ...' : '');
    logger.warn(
      'the images differ from those the run was trained on: from here on it draws other batches than it would have',
      {
        before: saved.files.length,
        now: files.length,
        ...(added.length > 0 ? { new: examples(added) } : {}),
        ...(removed.length > 0 ? { gone: examples(removed) } : {}),
      },
    );
  }
  await writeFileAtomic(record, [Buffer.from(`${JSON.stringify(current, null, 1)}\n`)]);
}
