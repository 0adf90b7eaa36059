/**
 * A training run's curves as one SVG, from its metrics.jsonl records: L_vec against the
 * no-motion baseline (what L_vec would be if the network predicted no motion), L_con, and
 * the views' reachable fraction and the features' variation (the collapse indicator).
 * Moving averages over `window` steps, raw values faint behind them.
 */

/** The fields of a metrics.jsonl record the plot reads. */
export interface PlottedRecord {
  step: number;
  vectorLoss: number;
  zeroBaseline: number;
  consistencyLoss: number;
  reachableFraction: number;
  featureVariation: number;
}

interface Series {
  name: string;
  values?: number[];
  smoothed: number[];
  color: string;
}

interface Panel {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  steps: number[];
  series: Series[];
  yMax: number;
  yLabel: string;
}

/** Mean of the finite values among the last `window` (a skipped step's NaN does not poison the line). */
export function movingAverage(values: number[], window: number): number[] {
  let sum = 0;
  let count = 0;
  return values.map((value, i) => {
    if (Number.isFinite(value)) [sum, count] = [sum + value, count + 1];
    const leaving = i >= window ? values[i - window]! : NaN;
    if (Number.isFinite(leaving)) [sum, count] = [sum - leaving, count - 1];
    return count > 0 ? sum / count : NaN;
  });
}

/**
 * The largest finite value, at least `floor`. A loop: spreading a run's values into
 * Math.max overflows the call stack past about 60,000 steps.
 */
function largest(values: readonly number[], floor: number): number {
  let high = floor;
  for (const value of values) if (Number.isFinite(value) && value > high) high = value;
  return high;
}

/** Runs of at most this many records get a dot at each smoothed value. */
const MARKED_RUN_LENGTH = 20;

function escapeXml(text: string): string {
  return (
    text
      // Control characters have no place in XML 1.0, escaped or not.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
      .replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!)
  );
}

function panel({ x, y, width, height, title, steps, series, yMax, yLabel }: Panel): string {
  const maxStep = largest(steps, 1);
  const sx = (step: number) => x + (step / maxStep) * width;
  // Non-finite values (skipped steps) are drawn at the top edge rather than breaking the line.
  const sy = (value: number) => y + height - (Math.min(Number.isFinite(value) ? value : yMax, yMax) / yMax) * height;
  const parts = [`<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="none" stroke="#999"/>`];
  parts.push(`<text x="${x}" y="${y - 8}" font-size="13" font-weight="bold">${title}</text>`);
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4;
    parts.push(`<text x="${x - 6}" y="${sy(value) + 4}" font-size="10" text-anchor="end">${+value.toFixed(2)}</text>`);
    parts.push(`<line x1="${x}" x2="${x + width}" y1="${sy(value)}" y2="${sy(value)}" stroke="#eee"/>`);
  }
  for (let i = 0; i <= 5; i++) {
    const step = Math.round((maxStep * i) / 5);
    parts.push(`<text x="${sx(step)}" y="${y + height + 14}" font-size="10" text-anchor="middle">${step}</text>`);
  }
  parts.push(`<text x="${x + width / 2}" y="${y + height + 30}" font-size="11" text-anchor="middle">step</text>`);
  parts.push(
    `<text x="${x - 40}" y="${y + height / 2}" font-size="11" transform="rotate(-90 ${x - 40} ${y + height / 2})" text-anchor="middle">${yLabel}</text>`,
  );
  series.forEach(({ name, values, smoothed, color }, i) => {
    const line = (points: number[], extra: string) =>
      `<polyline fill="none" stroke="${color}" ${extra} points="${points.map((v, j) => `${sx(steps[j]!).toFixed(1)},${sy(v).toFixed(1)}`).join(' ')}"/>`;
    if (values) parts.push(line(values, 'stroke-opacity="0.18" stroke-width="1"'));
    parts.push(line(smoothed, 'stroke-width="2"'));
    // A line through one point draws nothing, and a few points read better as dots.
    if (steps.length <= MARKED_RUN_LENGTH) {
      smoothed.forEach((v, j) =>
        parts.push(`<circle cx="${sx(steps[j]!).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="3" fill="${color}"/>`),
      );
    }
    parts.push(
      `<line x1="${x + width - 150}" x2="${x + width - 130}" y1="${y + 14 + i * 16}" y2="${y + 14 + i * 16}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${x + width - 125}" y="${y + 18 + i * 16}" font-size="11">${name}</text>`);
  });
  return parts.join('\n');
}

/** The SVG document of a run's records (at least one), titled `title`, smoothed over `window` steps. */
export function plotRun(records: PlottedRecord[], title: string, window = 25): string {
  const steps = records.map((r) => r.step);
  const pick = (key: keyof PlottedRecord) => records.map((r) => r[key]);
  const vec = pick('vectorLoss');
  const base = pick('zeroBaseline');
  const con = pick('consistencyLoss');
  const variation = pick('featureVariation');
  const smooth = (values: number[]) => movingAverage(values, window);
  const high = Math.max(largest(smooth(base), 1e-6), largest(smooth(vec), 1e-6));
  const body = [
    panel({
      ...{ x: 70, y: 40, width: 620, height: 260, title: 'Vector loss', steps, yLabel: 'voxels' },
      yMax: Math.ceil(high * 1.15 * 100) / 100,
      series: [
        { name: 'L_vec', values: vec, smoothed: smooth(vec), color: '#1f77b4' },
        { name: 'no-motion baseline', smoothed: smooth(base), color: '#7f7f7f' },
      ],
    }),
    panel({
      ...{ x: 70, y: 360, width: 280, height: 180, title: 'Consistency loss L_con', steps, yLabel: '1 - cos' },
      yMax: Math.max(0.05, Math.ceil(largest(smooth(con), 0) * 115) / 100),
      series: [{ name: 'L_con', values: con, smoothed: smooth(con), color: '#d62728' }],
    }),
    panel({
      ...{ x: 410, y: 360, width: 280, height: 180, title: 'Reachable fraction, feature variation', steps },
      ...{ yMax: 1, yLabel: 'share' },
      series: [
        { name: 'reachable', smoothed: smooth(pick('reachableFraction')), color: '#2ca02c' },
        { name: 'featureVariation', values: variation, smoothed: smooth(variation), color: '#9467bd' },
      ],
    }),
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="590" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="360" y="18" font-size="14" text-anchor="middle">${escapeXml(title)}</text>
${body}
</svg>
`;
}
