import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

// The core library's C++ tests (native/tests), one jest test each. `npm test` builds the
// executable first (scripts/buildCoreTests.js).
const executable = path.resolve(__dirname, '../../build/cover_torch_core_tests');
const names = execFileSync(executable, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);

describe('core (C++)', () => {
  it('has tests', () => {
    expect(names.length).toBeGreaterThan(10);
  });

  it.each(names)('%s', (name) => {
    const result = spawnSync(executable, ['--run', name], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    if (result.status !== 0) throw new Error(`${result.stdout}\n${result.stderr}`);
    expect(result.stdout).toContain(`ok   ${name}`);
  });
});
