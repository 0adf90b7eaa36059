import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMetricsFile, truncateMetricsFile } from '../../lib/train/metricsFile';

describe('metrics file on resume', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-metrics-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the steps up to the checkpoint and drops later and partial lines', async () => {
    const file = path.join(dir, 'metrics.jsonl');
    const lines = [1, 2, 3, 4, 5].map((step) => JSON.stringify({ step, vectorLoss: step / 10 }));
    fs.writeFileSync(file, `${lines.join('\n')}\n{"step": 6, "vecto`);
    expect(await truncateMetricsFile(file, 3)).toBe(3);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${lines.slice(0, 3).join('\n')}\n`);
    expect(await truncateMetricsFile(file, 3)).toBe(0);
    expect(await truncateMetricsFile(path.join(dir, 'absent.jsonl'), 3)).toBe(0);
    expect(await truncateMetricsFile(file, 0)).toBe(3);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
  });

  // Only a crash's cut-off last line may be dropped: anything else means another file
  // (a plot written over it, say), whose lines must not vanish silently.
  it('refuses a file with a line that is not a metrics record, leaving it as it was', async () => {
    const file = path.join(dir, 'overwritten.jsonl');
    const text = `${JSON.stringify({ step: 1 })}\n<svg xmlns="http://www.w3.org/2000/svg">\n${JSON.stringify({ step: 2 })}\n`;
    fs.writeFileSync(file, text);
    await expect(truncateMetricsFile(file, 1)).rejects.toThrow(
      `${file}, line 2, is not a metrics record ("<svg xmlns=\\"http://www.w3.org/2000/svg\\">"): it is not this run's metrics file; move it aside to resume`,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });

  it('lets a run from step 0 start only files without records, emptying what is left of them', async () => {
    const jsonl = path.join(dir, 'fresh.jsonl');
    const record = `${JSON.stringify({ step: 1 })}\n`;
    fs.writeFileSync(jsonl, record);
    await expect(startMetricsFile(jsonl, 'jsonl')).rejects.toThrow(
      `${jsonl} already holds the metrics of 1 step of another run: a run from step 0 would append to them. Resume that run (resume: true), or move the file aside`,
    );
    expect(fs.readFileSync(jsonl, 'utf8')).toBe(record);
    // A crash's cut-off line alone is no record.
    fs.writeFileSync(jsonl, '{"step": 1, "vec');
    await startMetricsFile(jsonl, 'jsonl');
    expect(fs.readFileSync(jsonl, 'utf8')).toBe('');

    const csv = path.join(dir, 'fresh.csv');
    fs.writeFileSync(csv, 'step,loss\n1,0.5\n2,0.4\n');
    await expect(startMetricsFile(csv, 'csv')).rejects.toThrow('holds the metrics of 2 steps');
    // The header of a run that stopped before its first step names columns this run may not have.
    fs.writeFileSync(csv, 'step,loss\n');
    await startMetricsFile(csv, 'csv');
    expect(fs.readFileSync(csv, 'utf8')).toBe('');
    await startMetricsFile(path.join(dir, 'absent.csv'), 'csv');
    expect(fs.existsSync(path.join(dir, 'absent.csv'))).toBe(false);
  });
});
