import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pruneBuildTree } from '../../scripts/pruneBuildTree';

describe('pruneBuildTree', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-prune-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const tree = (root: string) => {
    const files = [
      'build/Release/cover_torch.node',
      'build/Release/cover_torch.json',
      'build/CMakeFiles/pch.gch',
      'build/build.ninja',
    ];
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), 'x');
    }
    return root;
  };

  it('keeps only build/Release in an installed package', () => {
    const root = tree(path.join(dir, 'app', 'node_modules', 'cover-torch'));
    expect(pruneBuildTree(root, {})).toBe(true);
    expect(fs.readdirSync(path.join(root, 'build'))).toEqual(['Release']);
    expect(fs.readdirSync(path.join(root, 'build', 'Release')).sort()).toEqual([
      'cover_torch.json',
      'cover_torch.node',
    ]);
  });

  it('leaves a checkout, or an install asked to keep its build, untouched', () => {
    const checkout = tree(path.join(dir, 'cover-torch'));
    expect(pruneBuildTree(checkout, {})).toBe(false);
    const kept = tree(path.join(dir, 'app', 'node_modules', 'kept'));
    expect(pruneBuildTree(kept, { COVER_TORCH_KEEP_BUILD: '1' })).toBe(false);
    for (const root of [checkout, kept])
      expect(fs.readdirSync(path.join(root, 'build')).sort()).toEqual(['CMakeFiles', 'Release', 'build.ninja']);
  });
});
