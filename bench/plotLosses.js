#!/usr/bin/env node
'use strict';
// Draws a training run's curves from its metrics.jsonl as an SVG: L_vec against the
// no-motion baseline (what L_vec would be if the network predicted no motion), L_con, and
// the views' reachable fraction and the features' variation (the collapse indicator). Moving averages over `--window` steps, raw values
// faint behind them.
//   node bench/plotLosses.js runs/mricron-2d/metrics.jsonl [--out docs/images/losses.svg] [--title T]
const fs = require('node:fs');
const path = require('node:path');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : process.argv[index + 1];
}

const movingAverage = (values, window) =>
  values.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    const part = values.slice(from, i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });

/** One panel: series of [step, value] drawn into a box at (x, y) of size (width, height). */
function panel({ x, y, width, height, title, steps, series, yMax, yLabel }) {
  const maxStep = Math.max(...steps);
  const sx = (step) => x + (step / maxStep) * width;
  const sy = (value) => y + height - (Math.min(value, yMax) / yMax) * height;
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
    const line = (vals, extra) =>
      `<polyline fill="none" stroke="${color}" ${extra} points="${vals.map((v, j) => `${sx(steps[j]).toFixed(1)},${sy(v).toFixed(1)}`).join(' ')}"/>`;
    if (values) parts.push(line(values, 'stroke-opacity="0.18" stroke-width="1"'));
    parts.push(line(smoothed, 'stroke-width="2"'));
    parts.push(
      `<line x1="${x + width - 150}" x2="${x + width - 130}" y1="${y + 14 + i * 16}" y2="${y + 14 + i * 16}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${x + width - 125}" y="${y + 18 + i * 16}" font-size="11">${name}</text>`);
  });
  return parts.join('\n');
}

function main() {
  const file = process.argv[2];
  if (!file || file.startsWith('--')) throw new Error('usage: node bench/plotLosses.js METRICS.jsonl [--out FILE.svg]');
  const window = Number(option('window', 25));
  const out = option('out', path.join(path.dirname(file), 'losses.svg'));
  const records = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const steps = records.map((r) => r.step);
  const pick = (key) => records.map((r) => r[key]);
  const vec = pick('vectorLoss');
  const base = pick('zeroBaseline');
  const con = pick('consistencyLoss');
  const reach = pick('reachableFraction');
  const variation = pick('featureVariation');
  const high = Math.max(...movingAverage(base, window), ...movingAverage(vec, window));
  const yMax = Math.ceil(high * 1.15);
  const body = [
    panel({
      x: 70,
      y: 40,
      width: 620,
      height: 260,
      title: 'Vector loss',
      steps,
      yMax,
      yLabel: 'voxels²',
      series: [
        { name: 'L_vec', values: vec, smoothed: movingAverage(vec, window), color: '#1f77b4' },
        { name: 'no-motion baseline', smoothed: movingAverage(base, window), color: '#7f7f7f' },
      ],
    }),
    panel({
      x: 70,
      y: 360,
      width: 280,
      height: 180,
      title: 'Consistency loss L_con',
      steps,
      yMax: Math.max(0.05, Math.ceil(Math.max(...movingAverage(con, window)) * 115) / 100),
      yLabel: '1 - cos',
      series: [{ name: 'L_con', values: con, smoothed: movingAverage(con, window), color: '#d62728' }],
    }),
    panel({
      x: 410,
      y: 360,
      width: 280,
      height: 180,
      title: 'Reachable fraction, feature variation',
      steps,
      yMax: 1,
      yLabel: 'share',
      series: [
        { name: 'reachable', smoothed: movingAverage(reach, window), color: '#2ca02c' },
        { name: 'featureVariation', values: variation, smoothed: movingAverage(variation, window), color: '#9467bd' },
      ],
    }),
  ].join('\n');
  const title = option('title', path.basename(path.dirname(path.resolve(file))));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="590" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="360" y="18" font-size="14" text-anchor="middle">${title}</text>
${body}
</svg>
`;
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, svg);
  console.log(`wrote ${out} (${records.length} steps)`);
}

main();
