'use strict';
// Whether a torch version such as "2.13.0+cpu" satisfies a pip requirement such as
// "torch==2.13.*" or "torch==2.13.0". Other requirement forms cannot be checked here.

/**
 * @param {string} version  e.g. "2.13.0+cpu"
 * @param {string} spec     e.g. "torch==2.13.*"
 * @returns {boolean | undefined} undefined when the spec is not of the form "torch==X[.*]"
 */
function versionMatchesSpec(version, spec) {
  const match = /^\s*torch\s*==\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*$/.exec(spec);
  if (!match) return undefined;
  const base = version.split('+')[0] ?? version;
  const wanted = match[1] ?? '';
  const wildcard = match[2];
  if (wildcard) return base === wanted || base.startsWith(`${wanted}.`);
  // "==2.13" also matches "2.13.0" (PEP 440 pads with zeros).
  const pad = (/** @type {string} */ v) => v.split('.').concat(['0', '0', '0']).slice(0, 3).join('.');
  return pad(base) === pad(wanted);
}

module.exports = { versionMatchesSpec };
