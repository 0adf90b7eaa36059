import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { binaryCandidates, defaultThreadCount, manifestProblem } from '../../lib/native/loadBinding';
import { describeLibtorch } from '../../scripts/libtorch/describeLibtorch';
import type { BuildManifest } from '../../scripts/manifest';
import { makeFakeLibtorch, makeTempDir } from './fakeLibtorch';

describe('binary selection', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('load');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const manifestFor = (folder: string): BuildManifest => ({
    packageVersion: '0.0.0',
    napiVersion: 8,
    platform: process.platform,
    arch: process.arch,
    libtorch: { ...describeLibtorch(folder), source: 'LIBTORCH' },
  });

  it('tries COVER_TORCH_BINARY alone when it is set, the local build otherwise', () => {
    expect(binaryCandidates('/pkg', {})).toEqual(['/pkg/build/Release/cover_torch.node']);
    expect(binaryCandidates('/pkg', { COVER_TORCH_BINARY: '/x/a.node' })).toEqual(['/x/a.node']);
  });

  it('accepts a binary whose LibTorch is present and matches LIBTORCH', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.13.0+cpu' });
    expect(manifestProblem(manifestFor(folder), {})).toBeUndefined();
    expect(manifestProblem(manifestFor(folder), { LIBTORCH: folder })).toBeUndefined();
  });

  it('refuses a binary whose LibTorch is gone or differs from LIBTORCH', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.13.0+cpu' });
    const other = makeFakeLibtorch(dir, { version: '2.13.0+cpu', name: 'other' });
    const manifest = manifestFor(folder);
    expect(manifestProblem(manifest, { LIBTORCH: other })).toMatch(/but the binary was built against/);
    expect(manifestProblem(manifest, { LIBTORCH: path.join(dir, 'missing') })).toMatch(/is not a usable LibTorch/);
    fs.rmSync(folder, { recursive: true });
    expect(manifestProblem(manifest, {})).toMatch(/which no longer exists/);
  });

  it('defaults the thread count to the available cores, overridable by COVER_TORCH_NUM_THREADS', () => {
    expect(defaultThreadCount({})).toBe(os.availableParallelism());
    expect(defaultThreadCount({ COVER_TORCH_NUM_THREADS: '3' })).toBe(3);
    expect(() => defaultThreadCount({ COVER_TORCH_NUM_THREADS: 'two' })).toThrow(
      'Expected a positive integer for COVER_TORCH_NUM_THREADS but received "two"',
    );
  });
});
