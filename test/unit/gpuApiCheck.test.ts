import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeStandIn } from '../standIn';
import { useTempDir } from '../tempDir';

// scripts/gpu-api-check.sh runs on GPU machines only (there is none in CI): its flow is
// checked here with stand-ins for what it drives (the addon's build, the JS tests, the API
// and PyTorch step benchmarks, the CLI), behind a `node` that passes everything else (the
// script's own summaries) to the real one.
const SCRIPT = path.join(__dirname, '../../scripts/gpu-api-check.sh');

describe('scripts/gpu-api-check.sh', () => {
  const tempDir = useTempDir('cover-gpu-api-check');

  function runCheck(env: Record<string, string> = {}) {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'run-'));
    const bin = path.join(dir, 'bin');
    const out = path.join(dir, 'out');
    fs.mkdirSync(bin);
    writeStandIn(
      path.join(bin, 'node'),
      `case "$1" in
  scripts/install.js) echo "LIBTORCH=$LIBTORCH $COVER_TORCH_TORCH_SPEC"; exit \${INSTALL_STATUS:-0} ;;
  -e) if [[ "$2" == *'info().cuda'* ]]; then echo "{\\"available\\":\${CUDA_AVAILABLE:-true}}"; exit 0; fi ;;
  node_modules/.bin/jest) echo "jest $*"; exit \${JEST_STATUS:-0} ;;
  bench/apiStep.js)
    echo "$*" >>"${dir}/api-calls"
    # 2D steps take 100 ms after a slow first one, 3D steps 300 ms; a line before the JSON.
    echo 'a warning printed on stdout'
    [[ "$*" == *'--dims 2'* ]] && echo '{"stepMs":[900,100,120,80],"peakGpuMb":1000}' || echo '{"stepMs":[900,300,300,300],"peakGpuMb":3000}'
    exit 0 ;;
  dist/lib/cli.js)
    echo "$*" >>"${dir}/cli-calls"
    [ -n "\${CLI_FAILS:-}" ] && [[ "$*" == *"$CLI_FAILS"* ]] && exit 1
    args=("$@"); for ((i = 0; i < \${#args[@]}; i++)); do [ "\${args[i]}" = --out ] && run=\${args[i + 1]}; [ "\${args[i]}" = --config ] && run=$(dirname "\${args[i + 1]}"); done
    mkdir -p "$run"; touch "$run/final.safetensors"
    printf '{"vectorLoss":2,"timings":{"stepMs":50}}\\n{"vectorLoss":1.5,"timings":{"stepMs":10}}\\n{"vectorLoss":1.25,"timings":{"stepMs":12}}\\n' >>"$run/metrics.jsonl"
    exit 0 ;;
esac
exec "${process.execPath}" "$@"`,
    );
    const python = writeStandIn(
      path.join(bin, 'python'),
      `case "$*" in
  *dirname*) echo "${dir}/site/torch" ;;
  *__version__*) echo 2.11.0 ;;
  *cover_step.py*) [[ "$*" == *'--dims 2'* ]] && echo '{"stepMs":[900,200,200,200],"peakGpuMb":2000}' || echo '{"stepMs":[900,600,600,600],"peakGpuMb":4000}' ;;
esac`,
    );
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, OUT: out, PYTHON: python, ...env },
    });
    const read = (name: string) => fs.readFileSync(path.join(out, name), 'utf8');
    const calls = (name: string) =>
      fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'utf8').trim().split('\n') : [];
    return { status: result.status, out, read, calls, torch: `${dir}/site/torch` };
  }

  it('builds against the torch, runs the GPU tests, the API steps against PyTorch and the CLI', () => {
    const { status, out, read, calls, torch } = runCheck();
    expect(status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual([
      'build.log',
      'cli.log',
      'steps.jsonl',
      'steps.log',
      'summary.txt',
      'tests.txt',
    ]);
    // The torch's own version is the one asked for, not the CPU pin.
    expect(read('build.log')).toContain(`LIBTORCH=${torch} torch==2.11.0`);
    const summary = read('summary.txt');
    expect(summary).toContain('info().cuda: {"available":true}');
    expect(summary).toContain('ok   JS tests on the GPU');
    // Medians of the steps after the first and peak GPU memory, and their ratios to PyTorch's.
    expect(summary).toContain(
      "step 2D 384 B24: 100 ms through the API (0.50x PyTorch's 200 ms), peak 1000 MB of GPU memory (0.50x PyTorch's 2000 MB)",
    );
    expect(summary).toContain(
      "step 3D 128 B2 bf16: 300 ms through the API (0.50x PyTorch's 600 ms), peak 3000 MB of GPU memory (0.75x PyTorch's 4000 MB)",
    );
    expect(read('steps.jsonl').trim().split('\n')).toHaveLength(8);
    // Every API step on the GPU, fp32 and bf16.
    expect(calls('api-calls')).toHaveLength(4);
    expect(calls('api-calls').every((call) => call.includes('--device cuda'))).toBe(true);
    expect(calls('api-calls').filter((call) => call.includes('--bf16 1'))).toHaveLength(2);
    // Train, resume into the same run, 3D.
    const cli = calls('cli-calls');
    expect(cli).toHaveLength(3);
    expect(cli[1]).toContain('--resume');
    expect(cli[1]).toMatch(/--config \S+\/2d\/config\.yaml/); // more steps than the run was started with
    expect(cli.every((call) => call.includes('--device cuda'))).toBe(true);
    expect(summary).toContain('demo 2d: 6 steps in metrics.jsonl, median 12.0 ms a step, last L_vec 1.250');
    expect(summary).toContain('demo 3d: 3 steps in metrics.jsonl');
    expect(summary).toContain('0 failed check(s)');
  });

  it('goes on past a failed check and says which failed', () => {
    const { status, read } = runCheck({ JEST_STATUS: '1', CLI_FAILS: '--dims 3' });
    expect(status).toBe(1);
    const summary = read('summary.txt');
    expect(summary).toContain('FAIL JS tests on the GPU (tests.txt)');
    expect(summary).toContain('FAIL pretrain --demo --dims 3 on cuda (20 steps) (cli.log)');
    // The 3D stand-in failed before writing its run.
    expect(summary).toContain('FAIL demo 3d left no final.safetensors');
    expect(summary).toContain('ok   pretrain --demo on cuda, resumed to 60 steps');
    expect(summary).toContain('3 failed check(s)');
  });

  it('refuses fewer than two timed steps (the first is warm-up)', () => {
    const { status, read } = runCheck({ GPU_API_CHECK_STEPS: '1' });
    expect(status).toBe(1);
    expect(read('summary.txt')).toContain('GPU_API_CHECK_STEPS a whole number of at least 2, got "300" and "1"');
  });

  it('stops early, saying why, when the build fails or the addon sees no GPU', () => {
    const broken = runCheck({ INSTALL_STATUS: '1' });
    expect(broken.status).toBe(1);
    expect(broken.read('summary.txt')).toContain('building the addon failed (build.log)');
    const noGpu = runCheck({ CUDA_AVAILABLE: 'false' });
    expect(noGpu.status).toBe(1);
    expect(noGpu.read('summary.txt')).toContain('the addon sees no CUDA device');
    expect(fs.existsSync(path.join(noGpu.out, 'steps.jsonl'))).toBe(false);
  });
});
