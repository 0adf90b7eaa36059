#!/usr/bin/env node
'use strict';
// `npm install` entry point: resolve (or provision) LibTorch, build the addon against it,
// then load the new binary once in a child process. A LibTorch clash aborts the process
// that loads it, which no try/catch can intercept, so the first load must not be ours.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { readSettings } = require('./libtorch/settings');
const { resolveLibtorch } = require('./libtorch/resolveLibtorch');
const { buildAddon } = require('./buildAddon');
const { pruneBuildTree } = require('./pruneBuildTree');

const log = (/** @type {string} */ line) => console.log(`cover-torch: ${line}`);

function main() {
  const libtorch = resolveLibtorch(readSettings(process.env), { provision: true, log });
  const binary = buildAddon(libtorch, log);
  testLoad(binary, libtorch.libDir);
  if (pruneBuildTree(path.resolve(__dirname, '..'), process.env))
    log('removed the intermediate build files (set COVER_TORCH_KEEP_BUILD=1 to keep them)');
  log(`ready: ${binary}`);
}

/**
 * @param {string} binary
 * @param {string} libDir
 */
function testLoad(binary, libDir) {
  const probe = `
    const info = require(${JSON.stringify(binary)}).info();
    const stray = info.loadedTorchLibraries.filter((p) => !p.startsWith(${JSON.stringify(libDir + '/')}));
    if (stray.length) { console.error('LibTorch files loaded from outside ' + ${JSON.stringify(libDir)} + ': ' + stray.join(', ')); process.exit(3); }
  `;
  const result = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (result.status !== 0) {
    const detail = (result.stderr || '').trim() || `signal ${result.signal}`;
    throw new Error(`the built addon ${binary} failed to load in a test process:\n  ${detail}`);
  }
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
