#!/usr/bin/env node
'use strict';
// Runs the core benchmarks, each scenario in a fresh process, and writes
// bench/results/<timestamp>.json and a markdown table (bench/results/latest.md).
//   node bench/run.js                 all scenarios but the bf16 loss curve
//   node bench/run.js mov-3d          scenarios whose name contains "mov-3d"
//   node bench/run.js --publish       also copy the table to bench/RESULTS.md
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const build = path.join(root, 'build');
const executable = path.join(build, 'cover_torch_bench');
const args = process.argv.slice(2);
const publish = args.includes('--publish');
const filters = args.filter((a) => !a.startsWith('--'));

execFileSync('cmake', ['--build', build, '--target', 'cover_torch_bench'], { stdio: 'inherit' });
const names = execFileSync(executable, ['--list'], { encoding: 'utf8' }).trim().split('\n');
// The bf16 loss curve trains for a minute and feeds no table: only when asked by name.
const selected = names.filter((name) =>
  filters.length === 0 ? !name.startsWith('loss-curve-') : filters.some((f) => name.includes(f)),
);

const results = {};
for (const name of selected) {
  process.stderr.write(`bench: ${name} ... `);
  const run = spawnSync(executable, [name], { encoding: 'utf8' });
  if (run.status !== 0) {
    process.stderr.write(`failed\n${run.stderr}\n`);
    continue;
  }
  results[name] = JSON.parse(run.stdout.trim().split('\n').pop());
  process.stderr.write(`${results[name].ms.toFixed(1)} ms\n`);
}

const manifest = JSON.parse(fs.readFileSync(path.join(build, 'Release', 'cover_torch.json'), 'utf8'));
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.arch();
const device = `${cpu}, ${os.cpus().length} cores; LibTorch ${manifest.libtorch.version} (${manifest.libtorch.flavour})`;

const lines = [`Device: ${device}. Date: ${new Date().toISOString().slice(0, 10)}.`, ''];
const movPairs = selected
  .filter((n) => n.startsWith('mov-') && n.endsWith('-fused'))
  .map((n) => n.replace(/-fused$/, ''));
if (movPairs.some((p) => results[`${p}-fused`] && results[`${p}-reference`])) {
  lines.push('MoV forward + backward (r = 2), fused kernel against the reference built from LibTorch ops:', '');
  lines.push('| case | fused ms | reference ms | speed-up | fused extra MB | reference extra MB | memory ratio |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const pair of movPairs) {
    const f = results[`${pair}-fused`];
    const r = results[`${pair}-reference`];
    if (!f || !r) continue;
    lines.push(
      `| ${pair.slice(4)} | ${f.ms.toFixed(1)} | ${r.ms.toFixed(1)} | ${(r.ms / f.ms).toFixed(2)}x | ` +
        `${f.peakExtraMb.toFixed(0)} | ${r.peakExtraMb.toFixed(0)} | ${(r.peakExtraMb / f.peakExtraMb).toFixed(1)}x |`,
    );
  }
  lines.push('');
}
const steps = selected.filter((n) => n.startsWith('step-') && results[n]);
if (steps.length) {
  lines.push('Training step (default model, Adam), CPU:', '');
  lines.push(
    '| case | ms / step | peak RSS MB | MoV share | GFLOP / step | GFLOP/s | share of matmul peak (GFLOP/s) |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of steps) {
    const s = results[name];
    lines.push(
      `| ${name.slice(5)} | ${s.ms.toFixed(0)} | ${s.peakRssMb.toFixed(0)} | ${(100 * s.movShare).toFixed(1)}% | ` +
        `${s.gflopPerStep.toFixed(1)} | ${s.achievedGflops.toFixed(1)} | ${(100 * s.shareOfMatmulPeak).toFixed(0)}% (${s.matmulGflops.toFixed(0)}) |`,
    );
  }
  lines.push('');
}
lines.push('Rerun: `node bench/run.js` (after `npm install`); each scenario runs in its own process.');

const outDir = path.join(root, 'bench', 'results');
fs.mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
fs.writeFileSync(path.join(outDir, `${stamp}.json`), JSON.stringify({ device, results }, null, 2));
fs.writeFileSync(path.join(outDir, 'latest.md'), `${lines.join('\n')}\n`);
if (publish) fs.writeFileSync(path.join(root, 'bench', 'RESULTS.md'), `# Benchmark results\n\n${lines.join('\n')}\n`);
console.log(lines.join('\n'));
