import fs from 'node:fs/promises';
import { writeFileAtomic } from '../io/writeFileAtomic';

/**
 * Step metrics as CSV, one row per step, for spreadsheets and `pandas.read_csv`: the first
 * line names the columns, nested fields are flattened with dots (`timings.stepMs`),
 * booleans are 0/1 and non-finite numbers are written as `NaN`, `inf` and `-inf` (what
 * pandas and numpy read back). The columns are fixed by the file's first record; a resumed
 * run keeps the columns of the file it continues.
 */
export class MetricsCsvFile {
  readonly #file: string;
  #columns: string[] | undefined;

  private constructor(file: string, columns: string[] | undefined) {
    this.#file = file;
    this.#columns = columns;
  }

  /**
   * Opens `file` for appending. A row cut short by a crash is dropped first and, with
   * `keepThroughStep`, the rows of later steps (done after the checkpoint a run resumes
   * from), in one atomic rewrite. Returns the writer and how many rows were dropped.
   */
  static async open(file: string, keepThroughStep?: number): Promise<{ csv: MetricsCsvFile; dropped: number }> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { csv: new MetricsCsvFile(file, undefined), dropped: 0 };
      throw error;
    }
    const lines = text.split('\n');
    // Text after the last newline is a line a crash cut short ('' when the file ends well).
    const cutShort = lines.pop() !== '';
    const [header, ...rows] = lines.filter((line) => line !== '');
    if (header === undefined) {
      if (cutShort) await writeFileAtomic(file, [Buffer.alloc(0)]);
      return { csv: new MetricsCsvFile(file, undefined), dropped: 0 };
    }
    const columns = header.split(',');
    const stepColumn = columns.indexOf('step');
    if (stepColumn < 0) throw new Error(`${file} has no "step" column; expected metrics CSV written by a Trainer`);
    const kept = rows.filter((row) => {
      if (keepThroughStep === undefined) return true;
      const cells = row.split(',');
      const step = Number(cells[stepColumn]);
      return cells.length === columns.length && Number.isInteger(step) && step <= keepThroughStep;
    });
    const dropped = rows.length - kept.length + (cutShort ? 1 : 0);
    if (dropped > 0) {
      await writeFileAtomic(file, [Buffer.from([header, ...kept].map((line) => `${line}\n`).join(''))]);
    }
    return { csv: new MetricsCsvFile(file, columns), dropped };
  }

  /** Appends one record (and the header line, when the file has none yet). */
  async append(record: object): Promise<void> {
    const values = flatten(record);
    let text = '';
    if (!this.#columns) {
      this.#columns = Object.keys(values);
      text = `${this.#columns.join(',')}\n`;
    }
    text += `${this.#columns.map((column) => formatCell(values[column])).join(',')}\n`;
    await fs.appendFile(this.#file, text);
  }
}

/** `{ a: 1, t: { x: 2 } }` -> `{ a: 1, 't.x': 2 }`. */
export function flatten(record: object, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      Object.assign(out, flatten(value as object, `${prefix}${key}.`));
    } else {
      out[`${prefix}${key}`] = value;
    }
  }
  return out;
}

function formatCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    return String(value);
  }
  // Metrics are numbers; anything else is quoted so that a comma cannot shift the columns.
  return `"${String(value).replaceAll('"', '""')}"`;
}
