'use strict';
// How LibTorch is looked for and provisioned, read from the environment.
const os = require('node:os');
const path = require('node:path');

const DEFAULT_TORCH_SPEC = 'torch==2.13.*';
// The CPU wheel index comes first in pip's eyes for "+cpu" versions; --retries 0 keeps an
// unreachable index from stalling the install.
const DEFAULT_PIP_ARGS = '--retries 0 --extra-index-url https://download.pytorch.org/whl/cpu';

/**
 * @typedef {object} LibtorchSettings
 * @property {string | undefined} libtorch  LIBTORCH: an unpacked LibTorch folder.
 * @property {string} python                COVER_TORCH_PYTHON: Python to ask for torch.
 * @property {boolean} skipPython           COVER_TORCH_SKIP_PYTHON=1: do not ask Python.
 * @property {string} cacheDir              COVER_TORCH_CACHE: where provisioned copies live.
 * @property {string} torchSpec             COVER_TORCH_TORCH_SPEC: pip requirement.
 * @property {string[]} pipArgs             COVER_TORCH_PIP_ARGS: extra pip arguments.
 * @property {boolean} bypassVersionCheck   COVER_TORCH_BYPASS_VERSION_CHECK=1.
 */

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {LibtorchSettings}
 */
function readSettings(env) {
  const cacheHome = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const pipArgs = env.COVER_TORCH_PIP_ARGS ?? DEFAULT_PIP_ARGS;
  return {
    libtorch: env.LIBTORCH ? path.resolve(env.LIBTORCH) : undefined,
    python: env.COVER_TORCH_PYTHON || (process.platform === 'win32' ? 'python' : 'python3'),
    skipPython: isTrue(env.COVER_TORCH_SKIP_PYTHON),
    cacheDir: path.resolve(env.COVER_TORCH_CACHE || path.join(cacheHome, 'cover-torch')),
    torchSpec: env.COVER_TORCH_TORCH_SPEC || DEFAULT_TORCH_SPEC,
    pipArgs: pipArgs.split(/\s+/).filter(Boolean),
    bypassVersionCheck: isTrue(env.COVER_TORCH_BYPASS_VERSION_CHECK),
  };
}

/** @param {string | undefined} value */
function isTrue(value) {
  return value !== undefined && ['1', 'true', 'yes'].includes(value.toLowerCase());
}

module.exports = { readSettings, DEFAULT_TORCH_SPEC, DEFAULT_PIP_ARGS };
