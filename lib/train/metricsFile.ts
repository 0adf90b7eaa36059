import fs from 'node:fs/promises';
import { writeFileAtomic } from '../io/writeFileAtomic';

/**
 * Prepares a metrics JSONL file for a run that continues at `step`: keeps the complete
 * lines of steps up to `step` and drops the rest, i.e. the steps an interrupted run did
 * after its last checkpoint (they are trained again) and a line cut short by a crash. The
 * file is replaced atomically, so a crash here loses nothing either. Returns how many lines
 * were dropped.
 */
export async function truncateMetricsFile(file: string, step: number): Promise<number> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const lines = text.split('\n').filter((line) => line !== '');
  const kept = lines.filter((line) => {
    try {
      const record = JSON.parse(line) as { step?: unknown };
      return typeof record.step === 'number' && record.step <= step;
    } catch {
      return false; // a partial last line
    }
  });
  if (kept.length === lines.length && text.endsWith('\n')) return 0;
  await writeFileAtomic(file, [Buffer.from(kept.map((line) => `${line}\n`).join(''))]);
  return lines.length - kept.length;
}
