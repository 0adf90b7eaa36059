#!/usr/bin/env node
'use strict';
// Checks (--check) or applies (--fix) clang-format on native/. The formatter comes from
// CLANG_FORMAT, the pinned copy that .ci/run installs into .tools/, or PATH.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const PINNED = path.join(ROOT, '.tools', 'clang-format', 'clang_format', 'data', 'bin', 'clang-format');

function findClangFormat() {
  if (process.env.CLANG_FORMAT) return process.env.CLANG_FORMAT;
  if (fs.existsSync(PINNED)) return PINNED;
  const which = spawnSync('clang-format', ['--version']);
  return which.error ? null : 'clang-format';
}

/** @param {string} dir @returns {string[]} */
function nativeSources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return nativeSources(full);
    return /\.(h|hpp|cpp|cu|cuh)$/.test(entry.name) ? [full] : [];
  });
}

function main() {
  const fix = process.argv.includes('--fix');
  const binary = findClangFormat();
  if (!binary) {
    console.error(
      'cover-torch: clang-format not found. Install the pinned copy with\n' +
        '  python3 -m pip install --no-deps --target .tools/clang-format "clang-format==23.1.1"\n' +
        'or set CLANG_FORMAT to a clang-format binary.',
    );
    return 1;
  }
  const files = nativeSources(path.join(ROOT, 'native'));
  const args = fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
  const result = spawnSync(binary, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    if (!fix) console.error('cover-torch: C++ formatting differs; run `npm run format` to fix it.');
    return result.status ?? 1;
  }
  return 0;
}

process.exitCode = main();
