import fs from 'node:fs';
import path from 'node:path';
import { resolveLibtorch } from '../../scripts/libtorch/resolveLibtorch';
import { readSettings } from '../../scripts/libtorch/settings';
import { cacheFolderFor } from '../../scripts/libtorch/provisionLibtorch';
import { makeFakeLibtorch, makeTempDir } from './fakeLibtorch';

/** A stand-in Python that prints `answer` for any script it is given. */
function fakePython(dir: string, answer: string): string {
  const file = path.join(dir, 'fake-python');
  fs.writeFileSync(file, `#!/bin/sh\necho '${answer}'\n`, { mode: 0o755 });
  return file;
}

describe('resolveLibtorch', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('resolve');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const settingsFor = (env: Record<string, string>) =>
    readSettings({ COVER_TORCH_CACHE: path.join(dir, 'cache'), COVER_TORCH_SKIP_PYTHON: '1', ...env });

  it('takes LIBTORCH first', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.13.0+cpu' });
    const resolved = resolveLibtorch(settingsFor({ LIBTORCH: folder }), { provision: false });
    expect(resolved).toMatchObject({ source: 'LIBTORCH', folder: fs.realpathSync(folder), version: '2.13.0+cpu' });
  });

  it('ends with an error naming the problem and the fix for a wrong LIBTORCH', () => {
    const wrong = path.join(dir, 'not-here');
    expect(() => resolveLibtorch(settingsFor({ LIBTORCH: wrong }), { provision: true })).toThrow(
      new RegExp(`LIBTORCH=${wrong} is not a usable LibTorch[\\s\\S]*does not exist[\\s\\S]*Possible solutions`),
    );
  });

  it('refuses a LIBTORCH of another version unless the check is bypassed', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.9.0+cpu' });
    expect(() => resolveLibtorch(settingsFor({ LIBTORCH: folder }), { provision: false })).toThrow(
      /holds LibTorch 2\.9\.0\+cpu, but torch==2\.13\.\* is required[\s\S]*COVER_TORCH_BYPASS_VERSION_CHECK=1/,
    );
    const bypassed = settingsFor({ LIBTORCH: folder, COVER_TORCH_BYPASS_VERSION_CHECK: '1' });
    expect(resolveLibtorch(bypassed, { provision: false }).version).toBe('2.9.0+cpu');
  });

  it("uses the active Python's torch when its version matches, and skips it when not", () => {
    const matching = makeFakeLibtorch(dir, { version: '2.13.0+cpu', name: 'good' });
    const python = fakePython(dir, matching);
    const found = resolveLibtorch(settingsFor({ COVER_TORCH_SKIP_PYTHON: '', COVER_TORCH_PYTHON: python }), {
      provision: false,
    });
    expect(found).toMatchObject({ source: 'python', folder: fs.realpathSync(matching) });

    const old = makeFakeLibtorch(dir, { version: '2.1.0', name: 'old' });
    const oldPython = fakePython(dir, old);
    expect(() =>
      resolveLibtorch(settingsFor({ COVER_TORCH_SKIP_PYTHON: '', COVER_TORCH_PYTHON: oldPython }), {
        provision: false,
      }),
    ).toThrow(/Python: torch 2\.1\.0 at .* does not satisfy torch==2\.13\.\*/);
  });

  it('finds a copy provisioned earlier in the cache', () => {
    const settings = settingsFor({});
    fs.mkdirSync(cacheFolderFor(settings), { recursive: true });
    makeFakeLibtorch(cacheFolderFor(settings), { version: '2.13.0+cpu' });
    expect(resolveLibtorch(settings, { provision: false }).source).toBe('cache');
  });

  it('lists every attempt when nothing is found and provisioning is off', () => {
    expect(() => resolveLibtorch(settingsFor({}), { provision: false })).toThrow(
      /no LibTorch found\.\nTried:\n- LIBTORCH: not set\n- Python: skipped[\s\S]*- cache: nothing at[\s\S]*Possible solutions:/,
    );
  });

  it('reports a failed pip provisioning with what pip said, and leaves no partial copy', () => {
    const settings = settingsFor({
      COVER_TORCH_TORCH_SPEC: 'torch==0.0.1',
      COVER_TORCH_PIP_ARGS: '--no-index --find-links /nonexistent --retries 0',
    });
    expect(() => resolveLibtorch(settings, { provision: true })).toThrow(
      /could not find or provision LibTorch[\s\S]*provisioning: pip install torch==0\.0\.1 failed \(exit code \d+\)[\s\S]*COVER_TORCH_PIP_ARGS/,
    );
    expect(fs.readdirSync(settings.cacheDir)).toEqual([]);
  });
});
