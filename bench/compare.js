#!/usr/bin/env node
'use strict';
// The COVER training step through cover-torch's public API against the same step in plain
// PyTorch eager (bench/baseline/cover_step.py, on the torch cover-torch was built against)
// and against the C++ benchmark of the step; every figure a ratio from this one run.
// Implementations alternate, each measurement in a fresh process, so drift in the
// machine's load hits all of them alike. Also: the event loop's delay while creating and
// training, and two models training at once against one alone.
//   node bench/compare.js               all scenarios
//   node bench/compare.js 2d            scenarios whose name contains "2d"
//   node bench/compare.js --publish     also write the table to bench/COMPARE.md
// Writes bench/results/compare-<timestamp>.json and prints a markdown table.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const build = path.join(root, 'build');
const THREADS = 2;

// name, dims, crop side, batch, steps per process (first one dropped), rounds.
const SCENARIOS = [
  { name: '2d-128-b4', dims: 2, size: 128, batch: 4, steps: 6, rounds: 2, cpp: 'step-2d-128-b4' },
  { name: '3d-64-b1', dims: 3, size: 64, batch: 1, steps: 4, rounds: 2, cpp: 'step-3d-64-b1' },
  { name: '3d-96-b1', dims: 3, size: 96, batch: 1, steps: 3, rounds: 1, cpp: 'step-3d-96-b1' },
];

const args = process.argv.slice(2);
const publish = args.includes('--publish');
const filters = args.filter((a) => !a.startsWith('--'));
const selected = SCENARIOS.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));

const manifest = JSON.parse(fs.readFileSync(path.join(build, 'Release', 'cover_torch.json'), 'utf8'));
// The pip torch folder holds the `torch` package; its parent goes on PYTHONPATH.
const pythonPath = path.dirname(manifest.libtorch.folder);
const env = { ...process.env, PYTHONPATH: pythonPath, COVER_TORCH_NUM_THREADS: String(THREADS) };

execFileSync('cmake', ['--build', build, '--target', 'cover_torch_bench'], { stdio: 'inherit' });

/** Runs a command and parses the last line of its stdout as JSON. */
function run(command, commandArgs, label) {
  process.stderr.write(`compare: ${label} ... `);
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', env, maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${label} failed (${result.status}):\n${result.stderr}`);
  const parsed = JSON.parse(result.stdout.trim().split('\n').pop());
  process.stderr.write('done\n');
  return parsed;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Both implementations must compute the same function before their speeds mean anything.
const caseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-compare-'));
run(
  process.execPath,
  [path.join(__dirname, 'apiStep.js'), 'case', '--dims', '2', '--size', '64', '--batch', '2', '--out', caseDir],
  'forward case',
);
const forwardCheck = run(
  'python3',
  [
    path.join(__dirname, 'baseline', 'cover_step.py'),
    'check',
    path.join(caseDir, 'weights.safetensors'),
    path.join(caseDir, 'case.safetensors'),
  ],
  'PyTorch forward on the same weights',
);
fs.rmSync(caseDir, { recursive: true, force: true });

const shape = (s) => ['--dims', s.dims, '--size', s.size, '--batch', s.batch].map(String);
const results = {};
for (const s of selected) {
  const measured = { baseline: [], api: [], apiRecompute: [], cpp: [] };
  for (let round = 0; round < s.rounds; round++) {
    const steps = ['--steps', String(s.steps), '--threads', String(THREADS)];
    measured.baseline.push(
      run(
        'python3',
        [path.join(__dirname, 'baseline', 'cover_step.py'), 'time', ...shape(s), ...steps],
        `${s.name} PyTorch`,
      ),
    );
    measured.api.push(
      run(process.execPath, [path.join(__dirname, 'apiStep.js'), 'step', ...shape(s), ...steps], `${s.name} API`),
    );
    measured.apiRecompute.push(
      run(
        process.execPath,
        [path.join(__dirname, 'apiStep.js'), 'step', ...shape(s), ...steps, '--recompute', '1'],
        `${s.name} API, recompute`,
      ),
    );
    measured.cpp.push(run(path.join(build, 'cover_torch_bench'), [s.cpp], `${s.name} C++`));
  }
  // Steady state: the first step of each process warms caches and allocators.
  const steadyMs = (list) => median(list.flatMap((m) => m.stepMs.slice(1)));
  const baselineMs = steadyMs(measured.baseline);
  const apiMs = steadyMs(measured.api);
  const recomputeMs = steadyMs(measured.apiRecompute);
  const cppMs = median(measured.cpp.map((m) => m.ms));
  const rss = (list) => Math.max(...list.map((m) => m.peakRssMb));
  results[s.name] = {
    baselineMs,
    apiMs,
    cppMs,
    timeRatio: apiMs / baselineMs,
    apiOverCpp: apiMs / cppMs,
    baselinePeakRssMb: rss(measured.baseline),
    apiPeakRssMb: rss(measured.api),
    rssRatio: rss(measured.api) / rss(measured.baseline),
    recomputeMs,
    recomputeTimeRatio: recomputeMs / baselineMs,
    recomputePeakRssMb: rss(measured.apiRecompute),
    recomputeRssRatio: rss(measured.apiRecompute) / rss(measured.baseline),
    loopDelayP99Ms: Math.max(...measured.api.map((m) => m.loopDelayP99Ms)),
    createLoopDelayP99Ms: Math.max(...measured.api.map((m) => m.createLoopDelayP99Ms)),
    raw: measured,
  };
}

let concurrent;
if (filters.length === 0 || filters.some((f) => 'concurrent'.includes(f))) {
  concurrent = run(
    process.execPath,
    [path.join(__dirname, 'apiStep.js'), 'concurrent', '--dims', '2', '--size', '64', '--batch', '4', '--steps', '6'],
    'two models at once',
  );
}

const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.arch();
const device = `${cpu}, ${os.cpus().length} cores, ${THREADS} threads; LibTorch ${manifest.libtorch.version}`;
const lines = [
  `Device: ${device}. Date: ${new Date().toISOString().slice(0, 10)}.`,
  '',
  'One COVER training step (default model, Adam): public API (`CoverModel.trainStep`) against plain PyTorch eager',
  '(`bench/baseline/cover_step.py`, same torch) and the C++ benchmark; medians, peak RSS of each process.',
  '',
  `Same forward (2D, 2 x 64^2, seed-0 weights loaded into the PyTorch module): max |difference| displacement ${forwardCheck.displacement.toExponential(1)} (of ${forwardCheck.displacementScale.toFixed(2)} voxels), F1 ${forwardCheck.fixedFeatures.toExponential(1)}.`,
  '',
  '| case | PyTorch ms | API ms | C++ ms | time API/PyTorch | API/C++ | PyTorch RSS MB | API RSS MB | RSS API/PyTorch | loop p99 ms (train / create) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
const recomputeLines = [
  '',
  'With `recompute: true` (backbone activations recomputed in backward instead of kept):',
  '',
  '| case | API ms | time API/PyTorch | API RSS MB | RSS API/PyTorch |',
  '| --- | ---: | ---: | ---: | ---: |',
];
for (const [name, r] of Object.entries(results)) {
  lines.push(
    `| ${name} | ${r.baselineMs.toFixed(0)} | ${r.apiMs.toFixed(0)} | ${r.cppMs.toFixed(0)} | ${r.timeRatio.toFixed(2)}x | ` +
      `${r.apiOverCpp.toFixed(2)}x | ${r.baselinePeakRssMb.toFixed(0)} | ${r.apiPeakRssMb.toFixed(0)} | ${r.rssRatio.toFixed(2)}x | ` +
      `${r.loopDelayP99Ms.toFixed(1)} / ${r.createLoopDelayP99Ms.toFixed(1)} |`,
  );
  recomputeLines.push(
    `| ${name} | ${r.recomputeMs.toFixed(0)} | ${r.recomputeTimeRatio.toFixed(2)}x | ${r.recomputePeakRssMb.toFixed(0)} | ${r.recomputeRssRatio.toFixed(2)}x |`,
  );
}
lines.push(...recomputeLines);
if (concurrent) {
  lines.push(
    '',
    `Two 2D models (crop 64, B = 4) training at once: combined throughput ${concurrent.combinedThroughputRatio.toFixed(2)}x that of one alone.`,
  );
}
lines.push('', 'Rerun: `node bench/compare.js` (after `npm install`).');

const outDir = path.join(root, 'bench', 'results');
fs.mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
fs.writeFileSync(
  path.join(outDir, `compare-${stamp}.json`),
  JSON.stringify({ device, forwardCheck, results, concurrent }, null, 2),
);
if (publish)
  fs.writeFileSync(path.join(root, 'bench', 'COMPARE.md'), `# Against plain PyTorch\n\n${lines.join('\n')}\n`);
console.log(lines.join('\n'));
