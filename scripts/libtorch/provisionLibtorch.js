'use strict';
// Installs torch with pip into the cache, as a LibTorch for building and loading the addon.
// The install goes to a temporary folder that is renamed into place only when complete, so
// an interrupted install never leaves a half-written copy that looks usable.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

/**
 * The cache folder for one (spec, pip arguments) pair; its LibTorch is `<folder>/torch`.
 * @param {import('./settings').LibtorchSettings} settings
 */
function cacheFolderFor(settings) {
  const readable = settings.torchSpec.replace(/\*/g, 'x').replace(/[^A-Za-z0-9.]+/g, '-');
  const hash = crypto
    .createHash('sha256')
    .update(JSON.stringify([settings.torchSpec, settings.pipArgs, process.platform, process.arch]))
    .digest('hex')
    .slice(0, 10);
  return path.join(settings.cacheDir, `${readable}-${hash}`);
}

/**
 * @param {import('./settings').LibtorchSettings} settings
 * @param {(line: string) => void} log
 * @returns {string} the provisioned LibTorch folder
 * @throws {Error} with pip's last output lines when pip fails
 */
function provisionLibtorch(settings, log) {
  const target = cacheFolderFor(settings);
  fs.mkdirSync(settings.cacheDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(settings.cacheDir, '.staging-'));
  const args = ['-m', 'pip', 'install', '--no-deps', '--target', staging, ...settings.pipArgs, settings.torchSpec];
  log(`running ${settings.python} ${args.join(' ')}`);
  const result = spawnSync(settings.python, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error || result.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim().split('\n').slice(-6).join('\n      ');
    const reason = result.error ? result.error.message : `exit code ${result.status}`;
    throw new Error(`pip install ${settings.torchSpec} failed (${reason}):\n      ${output}`);
  }
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(staging, target);
  return path.join(target, 'torch');
}

module.exports = { provisionLibtorch, cacheFolderFor };
