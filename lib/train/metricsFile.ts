import fs from 'node:fs/promises';
import { writeFileAtomic } from '../io/writeFileAtomic';

/**
 * Prepares a metrics JSONL file for a run that continues at `step`: keeps the complete
 * lines of steps up to `step` and drops the rest, i.e. the steps an interrupted run did
 * after its last checkpoint (they are trained again) and a line cut short by a crash (the
 * last one, without its newline). Any other line that is not a metrics record means the
 * file is not this run's, and is refused rather than dropped. The file is replaced
 * atomically, so a crash here loses nothing either. Returns how many lines were dropped.
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
  const cutShort = text.endsWith('\n') ? -1 : lines.length - 1;
  const kept = lines.filter((line, i) => {
    const recordStep = stepOf(line);
    if (recordStep === undefined && i !== cutShort)
      throw new Error(
        `${file}, line ${i + 1}, is not a metrics record (${JSON.stringify(line.slice(0, 40))}): it is not this run's metrics file; move it aside to resume`,
      );
    return recordStep !== undefined && recordStep <= step;
  });
  if (kept.length === lines.length && text.endsWith('\n')) return 0;
  await writeFileAtomic(file, [Buffer.from(kept.map((line) => `${line}\n`).join(''))]);
  return lines.length - kept.length;
}

/** The step a metrics line records, or undefined when it is not a complete record. */
function stepOf(line: string): number | undefined {
  try {
    const record = JSON.parse(line) as { step?: unknown } | null;
    return typeof record?.step === 'number' ? record.step : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A run that starts at step 0 must not append to the metrics of another: its steps 1, 2, ...
 * would follow theirs in one file. Refuses a file with records (lines; for CSV, rows after
 * the header) and empties one without (a header or a line cut short by a crash).
 */
export async function startMetricsFile(file: string, format: 'jsonl' | 'csv'): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const complete = text
    .split('\n')
    .slice(0, -1)
    .filter((line) => line !== '');
  const records = format === 'csv' ? complete.length - 1 : complete.length;
  if (records > 0)
    throw new Error(
      `${file} already holds the metrics of ${records} step${records === 1 ? '' : 's'} of another run: a run from step 0 would append to them. ` +
        'Resume that run (resume: true), or move the file aside',
    );
  if (text !== '') await writeFileAtomic(file, [Buffer.alloc(0)]);
}
