'use strict';
// The manifest written next to a built addon: which LibTorch it was built against. The
// loader reads it to refuse a binary whose LibTorch is gone or differs from LIBTORCH.
const fs = require('node:fs');
const path = require('node:path');

const MANIFEST_NAME = 'cover_torch.json';
const BINARY_NAME = 'cover_torch.node';

/**
 * @typedef {object} BuildManifest
 * @property {string} packageVersion
 * @property {number} napiVersion
 * @property {string} platform
 * @property {string} arch
 * @property {import('./libtorch/resolveLibtorch').ResolvedLibtorch} libtorch
 */

/**
 * Writes the file atomically: temp file, fsync, rename.
 * @param {string} file
 * @param {unknown} value
 */
function writeJsonAtomic(file, value) {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/**
 * @param {string} binaryDir
 * @returns {BuildManifest}
 * @throws {Error} when the manifest is missing or malformed
 */
function readManifest(binaryDir) {
  const file = path.join(binaryDir, MANIFEST_NAME);
  /** @type {any} */
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (typeof parsed?.libtorch?.folder !== 'string' || typeof parsed?.libtorch?.version !== 'string') {
    throw new Error(`${file} does not record the LibTorch the addon was built against`);
  }
  return parsed;
}

module.exports = { writeJsonAtomic, readManifest, MANIFEST_NAME, BINARY_NAME };
