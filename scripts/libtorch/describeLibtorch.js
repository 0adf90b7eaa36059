'use strict';
// What a LibTorch folder is: version and flavour, read from its files without running it.
// Both an unpacked libtorch archive and a pip "torch" package folder qualify: each holds
// share/cmake/Torch, include and lib.
const fs = require('node:fs');
const path = require('node:path');

/**
 * @typedef {object} LibtorchDescription
 * @property {string} folder        real path of the LibTorch folder
 * @property {string} libDir        its lib folder (the addon's only RUNPATH entry)
 * @property {string} version       e.g. "2.13.0+cpu"
 * @property {string} flavour       "cpu", or "cuXYZ" for a CUDA build
 * @property {string | null} cudaVersion  e.g. "13.0", null for CPU builds
 */

/**
 * @param {string} folder
 * @returns {LibtorchDescription}
 * @throws {Error} saying what is missing when the folder is not a usable LibTorch
 */
function describeLibtorch(folder) {
  if (!fs.existsSync(folder)) throw new Error(`${folder} does not exist`);
  const real = fs.realpathSync(folder);
  const cmakeConfig = path.join(real, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (!fs.existsSync(cmakeConfig)) {
    throw new Error(`${real} is not a LibTorch folder: share/cmake/Torch/TorchConfig.cmake is missing`);
  }
  const libDir = path.join(real, 'lib');
  const hasCudaLibrary = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  const version = readVersion(real);
  if (!version) throw new Error(`${real} has no build-version, version.py or torch/version.h`);
  const suffix = version.split('+')[1] ?? '';
  const cudaVersion = readCudaVersion(real) ?? cudaVersionFromSuffix(suffix);
  let flavour = suffix && /^(cpu|cu\d+)$/.test(suffix) ? suffix : '';
  if (!flavour) flavour = hasCudaLibrary ? (cudaVersion ? `cu${cudaVersion.replace('.', '')}` : 'cuda') : 'cpu';
  return { folder: real, libDir, version, flavour, cudaVersion: flavour === 'cpu' ? null : cudaVersion };
}

/** @param {string} folder */
function readVersion(folder) {
  const buildVersion = readIfExists(path.join(folder, 'build-version'));
  if (buildVersion?.trim()) return buildVersion.trim();
  const versionPy = readIfExists(path.join(folder, 'version.py'));
  const fromPy = versionPy && /__version__\s*=\s*['"]([^'"]+)['"]/.exec(versionPy);
  if (fromPy) return fromPy[1];
  const header = readIfExists(path.join(folder, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'));
  const fromHeader = header && /#define TORCH_VERSION "([^"]+)"/.exec(header);
  return fromHeader ? fromHeader[1] : null;
}

/** @param {string} folder */
function readCudaVersion(folder) {
  const versionPy = readIfExists(path.join(folder, 'version.py'));
  const match = versionPy && /^cuda\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]/m.exec(versionPy);
  return match ? match[1] : null;
}

/** @param {string} suffix e.g. "cu130" */
function cudaVersionFromSuffix(suffix) {
  const match = /^cu(\d+)(\d)$/.exec(suffix);
  return match ? `${match[1]}.${match[2]}` : null;
}

/** @param {string} file */
function readIfExists(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

module.exports = { describeLibtorch };
