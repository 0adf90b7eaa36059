'use strict';
// The folder of the torch package that a Python interpreter would import, found without
// importing torch (which takes seconds).
const { spawnSync } = require('node:child_process');

const FIND_TORCH = [
  'import importlib.util',
  "spec = importlib.util.find_spec('torch')",
  "print(spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else '')",
].join('\n');

/**
 * @param {string} python
 * @returns {{ folder: string | null, problem?: string }}
 */
function findPythonTorch(python) {
  const result = spawnSync(python, ['-c', FIND_TORCH], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) return { folder: null, problem: `could not run ${python}: ${result.error.message}` };
  if (result.status !== 0) {
    return { folder: null, problem: `${python} failed: ${result.stderr.trim().split('\n').pop()}` };
  }
  const folder = result.stdout.trim();
  return folder ? { folder } : { folder: null, problem: `${python} has no torch package` };
}

module.exports = { findPythonTorch };
