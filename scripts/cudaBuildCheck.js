#!/usr/bin/env node
'use strict';
// The CUDA build, checked on a machine without a GPU (CI runs this):
//   1. every native/cuda/*.cu file compiles with nvcc for sm_80 and sm_90 (seconds);
//   2. with --addon, the whole addon builds and links against a CUDA LibTorch (torch 2.14 and
//      its NVIDIA wheels, provisioned into .cuda-torch by provisionCudaTorch.sh) into
//      build-cuda/, and loads here without the loader's cache: its LibTorch is a CUDA build,
//      CUDA is unavailable, a CPU model trains a step, a CUDA model and CUDA memory counts
//      are refused; then the
//      C++ tests' and benchmarks' CUDA-only sources compile there too.
// The kernels' arithmetic is tested on the CPU by the C++ tests; scripts/gpu-check.sh runs
// them on a GPU.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { buildAddon } = require('./buildAddon');
const { describeLibtorch } = require('./libtorch/describeLibtorch');
const { BINARY_NAME } = require('./manifest');

const ROOT = path.resolve(__dirname, '..');
/** @param {string} line */
const log = (line) => console.log(`cuda-check: ${line}`);

/**
 * @param {string} command
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} options
 */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit code ${result.status})`);
}

function compileKernels() {
  const nvcc = process.env.CUDACXX ?? (fs.existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : 'nvcc');
  const folder = path.join(ROOT, 'native', 'cuda');
  const sources = fs.readdirSync(folder).filter((name) => name.endsWith('.cu'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-cuda-'));
  try {
    for (const source of sources) {
      const started = Date.now();
      run(nvcc, [
        '-std=c++17',
        `-I${path.join(ROOT, 'native')}`,
        '-gencode=arch=compute_80,code=sm_80',
        '-gencode=arch=compute_90,code=sm_90',
        '-gencode=arch=compute_90,code=compute_90',
        '-c',
        path.join(folder, source),
        '-o',
        path.join(scratch, `${source}.o`),
      ]);
      log(`compiled native/cuda/${source} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// Runs in a child process with the CUDA build's binary, so that nothing else is loaded.
const LOAD_CHECK = `
const assert = require('node:assert');
const { info, CoverModel, cudaTensorMemory, tensor } = require('./dist/lib');
(async () => {
  const about = info();
  assert.match(about.libtorch.flavour, /^cu/, 'the binary should be built against a CUDA LibTorch');
  assert.ok(about.libtorch.loadedLibraries.some((file) => file.endsWith('libtorch_cuda.so')), 'libtorch_cuda.so should be loaded');
  assert.strictEqual(about.cuda.available, false);
  const model = await CoverModel.create({ dims: 2, channels: [8, 8, 16, 16, 16], seed: 0 });
  model.configureTraining({ cropSize: [32, 32] });
  const metrics = await model.trainStep(tensor(new Float32Array(2 * 48 * 48).fill(0.5), [2, 1, 48, 48]), 1e-3);
  assert.ok(Number.isFinite(metrics.totalLoss));
  model.dispose();
  await assert.rejects(CoverModel.create({ dims: 2, device: 'cuda' }), /CUDA/);
  assert.throws(() => cudaTensorMemory(), /no CUDA device: this LibTorch sees no GPU/);
  console.log('cuda-check: the CUDA build loads without a GPU: ' + about.libtorch.version + ', CUDA unavailable, a CPU step ran, a CUDA model and its memory counts were refused');
})().catch((error) => { console.error(error); process.exit(1); });
`;

function buildAndLoadAddon() {
  const target = path.join(ROOT, '.cuda-torch');
  run('bash', [path.join(__dirname, 'provisionCudaTorch.sh'), target]);
  /** @type {import('./libtorch/resolveLibtorch').ResolvedLibtorch} */
  const libtorch = { ...describeLibtorch(path.join(target, 'torch')), source: 'LIBTORCH' };
  const buildDir = path.join(ROOT, 'build-cuda');
  const started = Date.now();
  const binary = buildAddon(libtorch, log, buildDir);
  log(`built ${path.relative(ROOT, binary)} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (path.basename(binary) !== BINARY_NAME) throw new Error(`unexpected binary ${binary}`);
  // Through the dynamic loader with its cache ignored: a user with a pip CUDA torch has no
  // CUDA toolkit in that cache, so the binary must find the CUDA runtime by its RUNPATH
  // alone (this machine's cache lists /usr/local/cuda, which would hide a missing entry).
  const loader = '/lib64/ld-linux-x86-64.so.2';
  const [command, args] = fs.existsSync(loader)
    ? [loader, ['--inhibit-cache', process.execPath, '-e', LOAD_CHECK]]
    : [process.execPath, ['-e', LOAD_CHECK]];
  run(command, args, { env: { ...process.env, COVER_TORCH_BINARY: binary, LIBTORCH: libtorch.folder } });
}

/**
 * Compiles the C++ test and benchmark sources that hold CUDA-only code (behind
 * COVER_TORCH_CUDA): nothing else compiles them before scripts/gpu-check.sh does, on a GPU
 * machine whose time is short. Their objects only, not the whole programs (those take
 * minutes more on two cores and compile the same code as the CPU build's tests).
 * @param {string} buildDir
 */
function compileCudaOnlySources(buildDir) {
  const programs = { tests: 'cover_torch_core_tests', bench: 'cover_torch_bench' };
  const objects = [];
  for (const [folder, target] of Object.entries(programs)) {
    const sources = fs.readdirSync(path.join(ROOT, 'native', folder)).filter((name) => name.endsWith('.cpp'));
    for (const source of sources.sort()) {
      if (fs.readFileSync(path.join(ROOT, 'native', folder, source), 'utf8').includes('COVER_TORCH_CUDA'))
        objects.push(`CMakeFiles/${target}.dir/native/${folder}/${source}.o`);
    }
  }
  if (objects.length === 0) return;
  // Objects are targets of their own only for Ninja; with another generator, the programs.
  const ninja = /^CMAKE_GENERATOR:INTERNAL=Ninja$/m.test(
    fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8'),
  );
  const started = Date.now();
  run('cmake', ['--build', buildDir, '--target', ...(ninja ? objects : Object.values(programs))]);
  log(
    `compiled ${objects.length} CUDA-only test/benchmark source(s) in ${Math.round((Date.now() - started) / 1000)} s`,
  );
}

try {
  compileKernels();
  if (process.argv.includes('--addon')) {
    buildAndLoadAddon();
    compileCudaOnlySources(path.join(ROOT, 'build-cuda'));
  }
} catch (error) {
  console.error(`cuda-check: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
