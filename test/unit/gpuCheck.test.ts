import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeStandIn } from '../standIn';
import { useTempDir } from '../tempDir';

// scripts/gpu-check.sh runs once, on a GPU machine whose time is short and which sends back
// at most eight files: its flow is checked here with stand-ins for the tools and programs
// it drives (CMake, nvcc, a Python with torch, the C++ tests and benchmarks).
const SCRIPT = path.join(__dirname, '../../scripts/gpu-check.sh');

describe('scripts/gpu-check.sh', () => {
  const tempDir = useTempDir('cover-gpu-check');

  /** Runs the script with stand-ins; `tests` and `bench` are the C++ programs' bodies. */
  function runGpuCheck(env: Record<string, string> = {}) {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'run-'));
    const bin = path.join(dir, 'bin');
    const build = path.join(dir, 'build');
    const out = path.join(dir, 'out');
    fs.mkdirSync(bin);
    fs.mkdirSync(build);
    writeStandIn(path.join(bin, 'cmake'), '[ "$1" = --version ] && echo "cmake version 3.99"; exit 0');
    const nvcc = writeStandIn(path.join(bin, 'nvcc'), 'echo "Build cuda_13.0"');
    // A Python with a CUDA torch: where torch is, the version line, CUDA available, the baseline.
    const python = writeStandIn(
      path.join(bin, 'python'),
      `case "$*" in
  *dirname*) echo "${dir}/site/torch" ;;
  *is_available*) echo True ;;
  -) cat >/dev/null; echo "gpu-check: torch 9.9, CUDA 13.0, GPU Stand-in" ;;
  *cover_step.py*) echo "$*" >>"${dir}/baseline-calls"; echo '{"stepMs":[1]}' ;;
esac`,
    );
    writeStandIn(
      path.join(build, 'cover_torch_core_tests'),
      `case "$1" in
  --list) printf 'cuda: kernels\\ncuda: broken\\nviews\\n' ;;
  --run) echo "$2 CUDA_LAUNCH_BLOCKING=\${CUDA_LAUNCH_BLOCKING:-}"; [ "$2" != "cuda: broken" ] ;;
  --skip-cuda) echo "ok views" ;;
esac`,
    );
    writeStandIn(
      path.join(build, 'cover_torch_bench'),
      `case "$1" in
  --list) printf 'cuda-mov-2d-384-c32-j4-r2-reference\\ncuda-mov-3d-96-c8-j1-r2-kernel\\ncuda-step-3d-128-b2\\ncuda-step-crashes\\ncuda-step-silent\\ncpu-step\\n' ;;
  cuda-step-crashes) echo '{"ms":2}'; exit 139 ;;
  cuda-step-silent) exit 1 ;;
  *) echo '{"ms":1}' ;;
esac`,
    );
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        HOME: dir,
        OUT: out,
        PYTHON: python,
        CUDACXX: nvcc,
        GPU_CHECK_BUILD: build,
        ...env,
      },
    });
    const read = (name: string) => fs.readFileSync(path.join(out, name), 'utf8');
    const baselineCalls = fs.existsSync(path.join(dir, 'baseline-calls'))
      ? fs.readFileSync(path.join(dir, 'baseline-calls'), 'utf8')
      : '';
    return { status: result.status, output: result.stdout + result.stderr, out, read, baselineCalls };
  }

  it('runs tests and benchmarks to the end, in at most seven files, headline scenarios first', () => {
    const { status, out, read, baselineCalls } = runGpuCheck();
    expect(status).toBe(1); // one CUDA test failed
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual([
      'baseline.jsonl',
      'bench-errors.txt',
      'bench.jsonl',
      'build.log',
      'summary.txt',
      'tests-cpu.txt',
      'tests-cuda.txt',
    ]);
    const summary = read('summary.txt');
    expect(summary).toContain('ok   cuda: kernels');
    expect(summary).toContain('FAIL cuda: broken');
    expect(summary).toContain('ok   all 1 CPU tests');
    // Only the "cuda: " tests, each with synchronous kernel launches.
    expect(read('tests-cuda.txt')).toBe('cuda: kernels CUDA_LAUNCH_BLOCKING=1\ncuda: broken CUDA_LAUNCH_BLOCKING=1\n');
    expect(read('build.log')).toContain('cmake version 3.99');
    // The step and the headline reference MoV before the others; a result printed before a
    // crash is kept and marked, a benchmark that printed nothing leaves no line.
    const bench = read('bench.jsonl')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { scenario: string; exitStatus: number });
    expect(bench.map((entry) => entry.scenario)).toEqual([
      'cuda-step-3d-128-b2',
      'cuda-mov-2d-384-c32-j4-r2-reference',
      'cuda-mov-3d-96-c8-j1-r2-kernel',
      'cuda-step-crashes',
    ]);
    expect(bench.map((entry) => entry.exitStatus)).toEqual([0, 0, 0, 139]);
    expect(summary).toContain('benchmark cuda-step-crashes failed (status 139');
    expect(summary).toContain('benchmark cuda-step-silent failed (status 1');
    // The baseline: two shapes, fp32 and bf16, on all cores.
    expect(read('baseline.jsonl').trim().split('\n')).toHaveLength(4);
    expect(baselineCalls.split('\n').filter((line) => line.includes('--threads'))).toHaveLength(4);
  });

  it('keeps to a deadline and to a chosen set of scenarios', () => {
    const { status, read } = runGpuCheck({
      GPU_CHECK_SKIP_TESTS: '1',
      GPU_CHECK_SCENARIOS: '^cuda-mov',
      GPU_CHECK_DEADLINE: '0',
    });
    expect(status).toBe(0);
    expect(read('bench.jsonl')).toBe('');
    expect(read('summary.txt')).toContain(
      'deadline (GPU_CHECK_DEADLINE=0 s) passed: cuda-mov-2d-384-c32-j4-r2-reference not run',
    );
    expect(read('summary.txt')).not.toContain('cuda-step');
  });

  it('refuses time limits that are not whole seconds', () => {
    const { status, read } = runGpuCheck({ GPU_CHECK_TEST_TIMEOUT: '3m' });
    expect(status).toBe(1);
    expect(read('summary.txt')).toContain('GPU_CHECK_TEST_TIMEOUT is whole seconds, got "3m"');
  });
});
