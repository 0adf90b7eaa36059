#!/usr/bin/env node
'use strict';
// Builds the C++ test executable of the core library (build/cover_torch_core_tests) in the
// build tree that `npm install` configured. test/native/core.test.ts runs it.
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const buildDir = path.resolve(__dirname, '..', 'build');
if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) {
  console.error('cover-torch: no configured build in build/; run `npm install` (or `npm run build:native`) first.');
  process.exit(1);
}
const result = spawnSync('cmake', ['--build', buildDir, '--target', 'cover_torch_core_tests'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
