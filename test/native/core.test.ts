import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

// The core library's C++ tests (native/tests), one jest test each. `npm test` builds the
// executable first (scripts/buildCoreTests.js).
const executable = path.resolve(__dirname, '../../build/cover_torch_core_tests');
const names = execFileSync(executable, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
// "cuda: " tests need a GPU; without one jest lists them as skipped (scripts/gpu-check.sh
// runs them on a GPU machine).
const cuda = execFileSync(executable, ['--cuda-available'], { encoding: 'utf8' }).trim() === 'yes';
const isCudaTest = (name: string) => name.startsWith('cuda: ');

describe('core (C++)', () => {
  it('has tests', () => {
    expect(names.length).toBeGreaterThan(10);
  });

  it.each(names.filter((name) => cuda || !isCudaTest(name)))('%s', (name) => {
    const result = spawnSync(executable, ['--run', name], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    if (result.status !== 0) throw new Error(`${result.stdout}\n${result.stderr}`);
    expect(result.stdout).toContain(`ok   ${name}`);
  });

  if (!cuda) it.skip.each(names.filter(isCudaTest))('%s (no CUDA device here)', () => {});
});
