import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../../lib/cli/runCli';
import { movingAverage, plotRun } from '../../lib/plot/runPlot';
import { useTempDir } from '../tempDir';

describe('run plot', () => {
  const tempDir = useTempDir('cover-plot');

  const record = (step: number, vectorLoss: number | null) => ({
    step,
    vectorLoss,
    zeroBaseline: 10,
    consistencyLoss: 0.1,
    reachableFraction: 0.9,
    featureVariation: 0.2,
  });

  it('averages over a trailing window', () => {
    expect(movingAverage([2, 4, 6, 8], 2)).toEqual([2, 3, 5, 7]);
    expect(movingAverage([1, 2, 3], 10)).toEqual([1, 1.5, 2]);
    // A skipped step's NaN is left out, not carried into every later mean.
    expect(movingAverage([2, NaN, 4, 6], 2)).toEqual([2, 2, 4, 5]);
  });

  it('plots runs of any length, and titles with control characters as valid XML', () => {
    const long = Array.from({ length: 70_000 }, (_, i) => record(i + 1, 10 / (i + 1)));
    expect(plotRun(long as never, 'long run').startsWith('<svg')).toBe(true);
    expect(plotRun([record(1, 9)] as never, 'bell\u0007 run')).toContain('>bell run</text>');
  });

  it('draws each series as a line under an escaped title', () => {
    const svg = plotRun([record(1, 9), record(2, 7), record(3, 5)] as never, 'run <a&b>', 2);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('>run &lt;a&amp;b&gt;</text>');
    // L_vec (raw + smoothed), baseline; L_con (raw + smoothed); reachable, featureVariation (raw + smoothed).
    expect(svg.match(/<polyline /g)).toHaveLength(8);
    expect(svg).not.toContain('NaN');
  });

  it('marks each value of a short run with a dot, so a one-step run is visible', () => {
    // Five smoothed series (L_vec, baseline, L_con, reachable, featureVariation), one point each.
    expect(plotRun([record(1, 9)] as never, 'one step').match(/<circle /g)).toHaveLength(5);
    expect(plotRun([record(1, 9), record(2, 7)] as never, 'two steps').match(/<circle /g)).toHaveLength(10);
    const long = Array.from({ length: 100 }, (_, i) => record(i + 1, 9));
    expect(plotRun(long as never, 'long run')).not.toContain('<circle ');
  });

  it('cover-torch plot RUN writes RUN/losses.svg, skipped steps (null) included', async () => {
    const run = path.join(tempDir(), 'run');
    fs.mkdirSync(run);
    const lines = [record(1, 9), record(2, null), record(3, 5)].map((r) => JSON.stringify(r));
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), `${lines.join('\n')}\n`);
    const out: string[] = [];
    expect(await runCli(['plot', run], (text) => out.push(text))).toBe(0);
    expect(out.join('')).toBe(`wrote ${path.join(run, 'losses.svg')} (3 steps)\n`);
    const svg = fs.readFileSync(path.join(run, 'losses.svg'), 'utf8');
    expect(svg).toContain('>run</text>');
    expect(svg).not.toContain('NaN');
  });

  it('says what is wrong with a missing or foreign metrics file', async () => {
    const err: string[] = [];
    const fail = async (...args: string[]) => {
      err.length = 0;
      expect(
        await runCli(
          ['plot', ...args],
          () => undefined,
          (text) => err.push(text),
        ),
      ).toBe(2);
      return err.join('');
    };
    expect(await fail(path.join(tempDir(), 'none'))).toContain('cannot read');
    const foreign = path.join(tempDir(), 'foreign.jsonl');
    fs.writeFileSync(foreign, '{"loss": 1}\n');
    expect(await fail(foreign)).toContain(`${foreign}:1 has no number "step"`);
    expect(await fail(foreign, '--window', '0')).toContain('Expected a positive integer for --window');
    expect(await fail(foreign, '--out', foreign)).toContain(
      `--out ${foreign}: the plot is an SVG; expected a name ending in .svg`,
    );
    expect(fs.readFileSync(foreign, 'utf8')).toBe('{"loss": 1}\n');
  });
});
