'use strict';
const fs = require('node:fs');
const path = require('node:path');

/**
 * Installed as a dependency, the package needs only build/Release (the binary and its
 * manifest): the CMake tree beside it holds ~690 MB of objects and precompiled header.
 * A checkout keeps it, so rebuilds and the C++ tests stay incremental. Returns whether
 * anything was removed.
 * @param {string} root the package folder
 * @param {NodeJS.ProcessEnv} env
 */
function pruneBuildTree(root, env) {
  const installed = root.split(path.sep).includes('node_modules');
  const build = path.join(root, 'build');
  if (!installed || env.COVER_TORCH_KEEP_BUILD === '1' || !fs.existsSync(build)) return false;
  const extra = fs.readdirSync(build).filter((entry) => entry !== 'Release');
  for (const entry of extra) fs.rmSync(path.join(build, entry), { recursive: true, force: true });
  return extra.length > 0;
}

module.exports = { pruneBuildTree };
