import fs from 'node:fs';
import path from 'node:path';
import { MetricsCsvFile, flatten } from '../../lib/train/metricsCsv';
import { useTempDir } from '../tempDir';

describe('metrics as CSV', () => {
  const tempDir = useTempDir('cover-csv');
  const record = (step: number, loss: number) => ({
    step,
    totalLoss: loss,
    skipped: false,
    timings: { viewsMs: 1.5, stepMs: 10 },
  });

  it('flattens nested fields with dots', () => {
    expect(flatten({ a: 1, t: { x: 2, y: { z: 3 } }, list: [1, 2] })).toEqual({
      a: 1,
      't.x': 2,
      't.y.z': 3,
      list: [1, 2],
    });
  });

  it('writes a header, then one row per record; booleans as 0/1, non-finite numbers as pandas reads them', async () => {
    const file = path.join(tempDir(), 'metrics.csv');
    const { csv } = await MetricsCsvFile.open(file);
    await csv.append(record(1, 0.5));
    await csv.append({ ...record(2, NaN), skipped: true });
    await csv.append(record(3, Infinity));
    await csv.append({ step: 4, totalLoss: -Infinity }); // missing columns stay empty
    expect(fs.readFileSync(file, 'utf8')).toBe(
      'step,totalLoss,skipped,timings.viewsMs,timings.stepMs\n' +
        '1,0.5,0,1.5,10\n' +
        '2,NaN,1,1.5,10\n' +
        '3,inf,0,1.5,10\n' +
        '4,-inf,,,\n',
    );
  });

  it('on resume keeps the rows up to the checkpoint, drops later and cut-off ones, and keeps the columns', async () => {
    const file = path.join(tempDir(), 'resumed.csv');
    fs.writeFileSync(file, 'step,totalLoss\n1,0.5\n2,0.4\n3,0.3\n4,0.');
    const { csv, dropped } = await MetricsCsvFile.open(file, 2);
    expect(dropped).toBe(2);
    // A cut last row is dropped even when its step is kept (its value would be wrong).
    const cut = path.join(tempDir(), 'cut.csv');
    fs.writeFileSync(cut, 'step,totalLoss\n1,0.5\n2,0.4');
    expect((await MetricsCsvFile.open(cut, 2)).dropped).toBe(1);
    expect(fs.readFileSync(cut, 'utf8')).toBe('step,totalLoss\n1,0.5\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('step,totalLoss\n1,0.5\n2,0.4\n');
    // A record with other fields is written in the file's columns.
    await csv.append({ totalLoss: 0.25, extra: 7, step: 3 });
    expect(fs.readFileSync(file, 'utf8')).toBe('step,totalLoss\n1,0.5\n2,0.4\n3,0.25\n');
    // Without a resume step nothing complete is dropped.
    expect((await MetricsCsvFile.open(file)).dropped).toBe(0);
    // A header cut short: the file starts afresh instead of gluing rows to it.
    const headless = path.join(tempDir(), 'headless.csv');
    fs.writeFileSync(headless, 'step,tot');
    await (await MetricsCsvFile.open(headless, 0)).csv.append({ step: 1, totalLoss: 0.5 });
    expect(fs.readFileSync(headless, 'utf8')).toBe('step,totalLoss\n1,0.5\n');
  });

  it('refuses a file that is not metrics CSV instead of appending to it', async () => {
    const file = path.join(tempDir(), 'other.csv');
    fs.writeFileSync(file, 'name,value\na,1\n');
    await expect(MetricsCsvFile.open(file, 3)).rejects.toThrow(`${file} has no "step" column`);
    expect(fs.readFileSync(file, 'utf8')).toBe('name,value\na,1\n');
  });
});
