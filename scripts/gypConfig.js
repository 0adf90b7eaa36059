#!/usr/bin/env node
'use strict';
// Answers binding.gyp's questions, so node-gyp builds (prebuildify, @electron/rebuild) use
// the same source list (native/sources.json) and the same LibTorch resolution as CMake.
//   node scripts/gypConfig.js sources|include_dirs|libraries|ldflags|defines
// stdout is what gyp reads; log lines go to stderr.
const fs = require('node:fs');
const path = require('node:path');
const { readSettings } = require('./libtorch/settings');
const { resolveLibtorch } = require('./libtorch/resolveLibtorch');
const { writeJsonAtomic, MANIFEST_NAME } = require('./manifest');

const ROOT = path.resolve(__dirname, '..');
const log = (/** @type {string} */ line) => console.error(`cover-torch: ${line}`);

const QUESTIONS = ['sources', 'include_dirs', 'libraries', 'ldflags', 'defines'];

/** @param {string} question */
function answer(question) {
  if (!QUESTIONS.includes(question)) {
    throw new Error(`unknown question "${question}"; expected one of ${QUESTIONS.join(', ')}`);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  if (question === 'sources') {
    const lists = JSON.parse(fs.readFileSync(path.join(ROOT, 'native', 'sources.json'), 'utf8'));
    return [...lists.core, ...lists.addon];
  }
  if (question === 'defines') return [`COVER_TORCH_VERSION=${pkg.version}`];
  const libtorch = resolveLibtorch(readSettings(process.env), { provision: true, log });
  const lib = libtorch.libDir;
  switch (question) {
    case 'include_dirs':
      return [path.join(libtorch.folder, 'include'), path.join(libtorch.folder, 'include/torch/csrc/api/include')];
    case 'libraries': {
      const cuda = fs.existsSync(path.join(lib, 'libtorch_cuda.so'))
        ? ['-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed']
        : [];
      return [`-L${lib}`, '-ltorch', '-ltorch_cpu', '-lc10', ...cuda];
    }
    case 'ldflags': {
      // gyp asks for ldflags while configuring, before it builds into build/Release:
      // record there which LibTorch the binary is built against, as the CMake build does.
      const releaseDir = path.join(ROOT, 'build', 'Release');
      fs.mkdirSync(releaseDir, { recursive: true });
      writeJsonAtomic(path.join(releaseDir, MANIFEST_NAME), {
        packageVersion: pkg.version,
        napiVersion: 8,
        platform: process.platform,
        arch: process.arch,
        libtorch,
      });
      return ['-Wl,--enable-new-dtags', `-Wl,-rpath,${lib}`];
    }
    default:
      throw new Error(`unhandled question "${question}"`);
  }
}

try {
  console.log(answer(process.argv[2] ?? '').join(' '));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
