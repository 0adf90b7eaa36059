import { createLogger, formatFields, formatText, type LogRecord } from '../../lib/log/logger';
import { formatDuration, formatProgress } from '../../lib/log/formatProgress';

describe('logger', () => {
  it('filters by level and passes structured fields to the sink', () => {
    const records: LogRecord[] = [];
    const logger = createLogger({ level: 'warn', sink: (record) => records.push(record) });
    logger.info('dropped');
    logger.warn('kept', { file: 'a.nii' });
    logger.error('also kept');
    expect(records.map((r) => [r.level, r.message, r.fields])).toEqual([
      ['warn', 'kept', { file: 'a.nii' }],
      ['error', 'also kept', undefined],
    ]);
    expect(formatText(records[0]!)).toBe('warn  kept file=a.nii');
  });

  it('can be silenced and rejects unknown levels', () => {
    const records: LogRecord[] = [];
    const logger = createLogger({ level: 'silent', sink: (record) => records.push(record) });
    logger.error('nothing');
    expect(records).toEqual([]);
    expect(() => createLogger({ level: 'loud' as never })).toThrow(
      'Expected one of debug, info, warn, error, silent for level but received "loud"',
    );
    expect(() => createLogger({ format: 'xml' as never })).toThrow("Expected 'text' or 'json' for format");
  });

  it('keeps every record on one key=value line, and NaN apart from Infinity', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const line = formatFields({
      loss: NaN,
      gradNorm: Infinity,
      file: 'a b.nii',
      why: 'two\nlines',
      plain: 'x.nii',
      nested: { low: -Infinity },
      circular,
      big: 2n ** 70n,
    });
    expect(line).toBe(
      'loss=NaN gradNorm=Infinity file="a b.nii" why="two\\nlines" plain=x.nii nested={"low":"-Infinity"} circular=[object Object] big=1180591620717411303424',
    );
  });
});

describe('progress line', () => {
  it('shows the bar, rate, ETA and values within the width', () => {
    const line = formatProgress({ step: 50, total: 200, elapsedMs: 25_000, values: { L_vec: 3.21 } }, 100);
    expect(line).toMatch(/^\[#+\.+\] 50\/200 {2}2\.00 it\/s {2}ETA 1m15s {2}L_vec 3\.210$/);
    expect(line.length).toBeLessThan(100);
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(NaN)).toBe('--');
  });

  it('counts the rate from the step a resumed run restarted at', () => {
    // 150 of 200 steps done, 100 of them since the restart 50 s ago: 2 it/s, 25 s to go.
    const line = formatProgress({ step: 150, startStep: 50, total: 200, elapsedMs: 50_000, values: {} }, 100);
    expect(line).toContain('150/200  2.00 it/s  ETA 25s');
  });
});
