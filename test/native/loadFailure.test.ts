import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const entry = path.resolve(__dirname, '../../dist/lib/index.js');

/** Loads the package in a child process with extra environment, returning its outcome. */
function loadWith(env: NodeJS.ProcessEnv, packageEntry = entry) {
  const probe = `try { require(${JSON.stringify(packageEntry)}).info(); console.log('loaded') } catch (e) { console.log(e.message); process.exitCode = 7 }`;
  return spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('loading with a mismatched LibTorch', () => {
  it('refuses, with found / tried / fixes, when LIBTORCH names another LibTorch', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-torch-other-'));
    try {
      const result = loadWith({ LIBTORCH: other });
      expect(result.signal).toBeNull();
      expect(result.status).toBe(7);
      expect(result.stdout).toMatch(
        new RegExp(`Could not load the cover-torch native module for ${process.platform}-${process.arch}`),
      );
      expect(result.stdout).toMatch(/LIBTORCH=.* is not a usable LibTorch/);
      expect(result.stdout).toMatch(/Possible solutions:[\s\S]*npm rebuild cover-torch/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('says how to approve and run the install script when the addon was never built', () => {
    // The package as npm leaves it when it skips the install script: no build/ folder.
    const root = path.resolve(__dirname, '../..');
    const installed = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-torch-unbuilt-'));
    try {
      fs.copyFileSync(path.join(root, 'package.json'), path.join(installed, 'package.json'));
      fs.cpSync(path.join(root, 'dist'), path.join(installed, 'dist'), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(installed, 'node_modules'));
      const result = loadWith({ COVER_TORCH_BINARY: '' }, path.join(installed, 'dist', 'lib', 'index.js'));
      expect(result.status).toBe(7);
      expect(result.stdout).toContain(`${path.join(installed, 'build', 'Release', 'cover_torch.node')}: not found`);
      expect(result.stdout).toContain('npm install-scripts approve cover-torch && npm rebuild cover-torch');
    } finally {
      fs.rmSync(installed, { recursive: true, force: true });
    }
  });

  it('refuses to load another binary than the one COVER_TORCH_BINARY names', () => {
    const result = loadWith({ COVER_TORCH_BINARY: '/nonexistent/cover_torch.node' });
    expect(result.status).toBe(7);
    expect(result.stdout).toContain('/nonexistent/cover_torch.node: not found');
    expect(result.stdout).not.toContain(path.join('build', 'Release'));
  });
});
