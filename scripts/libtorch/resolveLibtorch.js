'use strict';
// Finds the LibTorch to build and load against, in a fixed order:
//   1. LIBTORCH (an explicit folder; if it is wrong, that is an error, not a fallback)
//   2. the active Python's torch package, when its version matches the pin
//   3. a copy provisioned earlier into the cache
//   4. a new copy provisioned with pip (only when `provision` is true)
const fs = require('node:fs');
const path = require('node:path');
const { describeLibtorch } = require('./describeLibtorch');
const { findPythonTorch } = require('./findPythonTorch');
const { provisionLibtorch, cacheFolderFor } = require('./provisionLibtorch');
const { versionMatchesSpec } = require('./versionMatchesSpec');

/**
 * @typedef {import('./describeLibtorch').LibtorchDescription & { source: 'LIBTORCH' | 'python' | 'cache' | 'provisioned' }} ResolvedLibtorch
 */

class LibtorchResolutionError extends Error {
  /**
   * @param {string} headline
   * @param {string[]} attempts
   * @param {string[]} solutions
   */
  constructor(headline, attempts, solutions) {
    super(
      [
        `cover-torch: ${headline}`,
        'Tried:',
        ...attempts.map((a) => `- ${a}`),
        'Possible solutions:',
        ...solutions,
      ].join('\n'),
    );
    this.name = 'LibtorchResolutionError';
    this.attempts = attempts;
  }
}

/**
 * @param {import('./settings').LibtorchSettings} settings
 * @param {{ provision: boolean, log?: (line: string) => void }} options
 * @returns {ResolvedLibtorch}
 */
function resolveLibtorch(settings, { provision, log = () => {} }) {
  /** @type {string[]} */
  const attempts = [];
  const spec = settings.torchSpec;
  const bypassHint = '- Or accept this version anyway: COVER_TORCH_BYPASS_VERSION_CHECK=1';

  if (settings.libtorch) {
    let described;
    try {
      described = describeLibtorch(settings.libtorch);
    } catch (error) {
      throw new LibtorchResolutionError(
        `LIBTORCH=${settings.libtorch} is not a usable LibTorch.`,
        [`LIBTORCH: ${messageOf(error)}`],
        [
          '- Point LIBTORCH at an unpacked LibTorch (the folder holding share/cmake/Torch), or at',
          "  a pip torch package: LIBTORCH=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')",
          '- Or unset LIBTORCH to let cover-torch find or provision one.',
        ],
      );
    }
    if (versionMatchesSpec(described.version, spec) === false && !settings.bypassVersionCheck) {
      throw new LibtorchResolutionError(
        `LIBTORCH=${settings.libtorch} holds LibTorch ${described.version}, but ${spec} is required.`,
        [`LIBTORCH: ${described.folder} (${described.version})`],
        [
          `- Point LIBTORCH at a LibTorch that satisfies ${spec}`,
          `- Or set COVER_TORCH_TORCH_SPEC to match it`,
          bypassHint,
        ],
      );
    }
    log(`using LIBTORCH=${described.folder} (${described.version}, ${described.flavour})`);
    return { ...described, source: 'LIBTORCH' };
  }
  attempts.push('LIBTORCH: not set');

  if (settings.skipPython) {
    attempts.push('Python: skipped (COVER_TORCH_SKIP_PYTHON)');
  } else {
    const found = findPythonTorch(settings.python);
    if (!found.folder) {
      attempts.push(`Python: ${found.problem}`);
    } else {
      try {
        const described = describeLibtorch(found.folder);
        const matches = versionMatchesSpec(described.version, spec);
        if (matches === false && !settings.bypassVersionCheck) {
          attempts.push(`Python: torch ${described.version} at ${described.folder} does not satisfy ${spec}`);
        } else {
          log(`using ${settings.python}'s torch at ${described.folder} (${described.version}, ${described.flavour})`);
          return { ...described, source: 'python' };
        }
      } catch (error) {
        attempts.push(`Python: torch at ${found.folder} is unusable: ${messageOf(error)}`);
      }
    }
  }

  const cached = path.join(cacheFolderFor(settings), 'torch');
  if (fs.existsSync(cached)) {
    try {
      const described = describeLibtorch(cached);
      log(`using the cached LibTorch at ${described.folder} (${described.version}, ${described.flavour})`);
      return { ...described, source: 'cache' };
    } catch (error) {
      attempts.push(`cache: ${messageOf(error)}`);
    }
  } else {
    attempts.push(`cache: nothing at ${cached}`);
  }

  const solutions = [
    '- Point LIBTORCH at an unpacked LibTorch (the folder holding share/cmake/Torch):',
    '    LIBTORCH=/path/to/libtorch npm rebuild cover-torch',
    `- Or install torch into the active Python: ${settings.python} -m pip install "${spec}"`,
    '- Or change what is provisioned: COVER_TORCH_TORCH_SPEC (pip requirement) and',
    '  COVER_TORCH_PIP_ARGS (e.g. "--index-url https://download.pytorch.org/whl/cpu")',
  ];
  if (!provision) {
    throw new LibtorchResolutionError('no LibTorch found.', attempts, solutions);
  }
  log(`provisioning ${spec} with pip into ${settings.cacheDir}`);
  let provisioned;
  try {
    provisioned = describeLibtorch(provisionLibtorch(settings, log));
  } catch (error) {
    attempts.push(`provisioning: ${messageOf(error)}`);
    throw new LibtorchResolutionError('could not find or provision LibTorch.', attempts, solutions);
  }
  if (versionMatchesSpec(provisioned.version, spec) === false && !settings.bypassVersionCheck) {
    attempts.push(`provisioning: pip installed torch ${provisioned.version}, which does not satisfy ${spec}`);
    throw new LibtorchResolutionError('provisioned LibTorch has the wrong version.', attempts, [
      ...solutions,
      bypassHint,
    ]);
  }
  log(`provisioned ${provisioned.folder} (${provisioned.version}, ${provisioned.flavour})`);
  return { ...provisioned, source: 'provisioned' };
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

module.exports = { resolveLibtorch, LibtorchResolutionError };
