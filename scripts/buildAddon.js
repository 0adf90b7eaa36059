'use strict';
// Builds build/Release/cover_torch.node with cmake-js against a resolved LibTorch, then
// records that LibTorch in the manifest next to it. A CUDA LibTorch also builds the CUDA
// kernels (scripts/cudaDefines.js says where CMake finds the toolkit).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { cudaDefines } = require('./cudaDefines');
const { writeJsonAtomic, readManifest, MANIFEST_NAME, BINARY_NAME } = require('./manifest');

const ROOT = path.resolve(__dirname, '..');

/**
 * @param {import('./libtorch/resolveLibtorch').ResolvedLibtorch} libtorch
 * @param {(line: string) => void} log
 * @param {string} buildDir  the CMake build tree; the binary goes to its Release folder
 * @returns {string} path of the built binary
 */
function buildAddon(libtorch, log, buildDir = path.join(ROOT, 'build')) {
  const releaseDir = path.join(buildDir, 'Release');
  const packageVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const defines = [
    `--CDCOVER_TORCH_LIBTORCH=${libtorch.folder}`,
    `--CDCOVER_TORCH_PACKAGE_VERSION=${packageVersion}`,
    ...Object.entries(cudaDefines(libtorch, process.env)).map(([name, value]) => `--CD${name}=${value}`),
  ];
  // Configure again only when the LibTorch changed or nothing was configured yet; CMake
  // itself reconfigures when CMakeLists.txt changes. This keeps a no-op rebuild at seconds.
  if (needsConfigure(buildDir, libtorch.folder)) {
    log(`configuring the build against ${libtorch.folder}`);
    run(process.execPath, [cmakeJs, 'configure', '--out', buildDir, ...defines]);
  }
  log('building the addon');
  run(process.execPath, [cmakeJs, 'build', '--out', buildDir, ...defines]);
  const binary = path.join(releaseDir, BINARY_NAME);
  if (!fs.existsSync(binary)) throw new Error(`the build finished but ${binary} is missing`);
  writeJsonAtomic(path.join(releaseDir, MANIFEST_NAME), {
    packageVersion,
    napiVersion: 8,
    platform: process.platform,
    arch: process.arch,
    libtorch,
  });
  return binary;
}

/**
 * @param {string} buildDir
 * @param {string} folder
 */
function needsConfigure(buildDir, folder) {
  if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) return true;
  try {
    return readManifest(path.join(buildDir, 'Release')).libtorch.folder !== folder;
  } catch {
    return true;
  }
}

/**
 * @param {string} command
 * @param {string[]} args
 */
function run(command, args) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `the native build failed (exit code ${result.status}); the compiler output is above.\n` +
        'Needs: CMake >= 3.25, a C++20 compiler (g++ >= 10) and, for fast rebuilds, ninja and ccache.',
    );
  }
}

module.exports = { buildAddon };
