'use strict';
// What the step benchmarks share: numeric command-line options and random source images.
const { tensor } = require('../dist/lib');

/** `--name VALUE` from the command line as a number, or `fallback` when absent. */
function numberOption(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

/** Uniform noise images 1.5x the crop on each axis (the size views are cut from). */
function randomImages({ dims, size, batch }) {
  const shape = [batch, 1, ...Array(dims).fill(Math.floor((size * 3) / 2))];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  return tensor(data, shape);
}

module.exports = { numberOption, randomImages };
