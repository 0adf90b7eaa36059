import { tensor, type Tensor } from '../tensor';
import { checkInteger } from '../validate';

/**
 * Procedural phantoms for the built-in demo: a body outline holding several organ-like
 * ellipses (2D) or ellipsoids (3D) of different intensities, with smooth texture and a
 * little noise, in [0, 1]. Deterministic for a seed.
 */

/** A small deterministic generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sizes are whole voxels; the seed an integer (taken modulo 2^32: the generator is 32-bit). */
function checkPhantomArguments(size: readonly number[], seed: number): void {
  if (!Array.isArray(size) || (size.length !== 2 && size.length !== 3))
    throw new TypeError(`Expected a phantom size of 2 or 3 axes, e.g. [64, 64], but received ${JSON.stringify(size)}`);
  size.forEach((side, axis) => checkInteger(side, `size[${axis}]`, 1));
  checkInteger(seed, 'seed', Number.MIN_SAFE_INTEGER);
}

interface Blob {
  centre: number[];
  radii: number[];
  intensity: number;
}

/** One phantom of `size` (2 or 3 axes), row-major. */
export function phantom(size: readonly number[], seed: number): Float32Array {
  checkPhantomArguments(size, seed);
  const random = seededRandom(seed);
  const n = size.length;
  const body: Blob = {
    centre: size.map((s) => s / 2 + (random() - 0.5) * 0.1 * s),
    radii: size.map((s) => s * (0.36 + 0.08 * random())),
    intensity: 0.25,
  };
  const organs: Blob[] = Array.from({ length: 4 + Math.floor(random() * 4) }, () => ({
    centre: size.map((s, i) => body.centre[i]! + (random() - 0.5) * 0.9 * body.radii[i]!),
    radii: size.map((s) => s * (0.05 + 0.12 * random())),
    intensity: 0.35 + 0.6 * random(),
  }));
  // Texture: a few random plane waves, different per phantom.
  const waves = Array.from({ length: 6 }, () => ({
    k: size.map((s) => ((random() - 0.5) * 2 * Math.PI * (2 + 10 * random())) / s),
    phase: random() * 2 * Math.PI,
    amplitude: 0.02 + 0.04 * random(),
  }));
  const total = size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(total);
  const position = new Array<number>(n).fill(0);
  const inside = (blob: Blob) => {
    let r = 0;
    for (let i = 0; i < n; i++) r += ((position[i]! - blob.centre[i]!) / blob.radii[i]!) ** 2;
    return r;
  };
  for (let index = 0; index < total; index++) {
    let rest = index;
    for (let i = n - 1; i >= 0; i--) {
      position[i] = rest % size[i]!;
      rest = Math.floor(rest / size[i]!);
    }
    let value = 0;
    if (inside(body) <= 1) {
      value = body.intensity;
      for (const organ of organs) {
        const r = inside(organ);
        if (r <= 1) value = organ.intensity * (1 - 0.2 * r);
      }
      for (const wave of waves) {
        let phase = wave.phase;
        for (let i = 0; i < n; i++) phase += wave.k[i]! * position[i]!;
        value += wave.amplitude * Math.sin(phase);
      }
    }
    out[index] = Math.min(1, Math.max(0, value + 0.01 * (random() - 0.5)));
  }
  return out;
}

/** A batch (B, 1, *size) of phantoms with seeds seed, seed + 1, ... */
export function phantomBatch(batchSize: number, size: readonly number[], seed: number): Tensor<'float32'> {
  checkInteger(batchSize, 'batchSize', 1);
  checkPhantomArguments(size, seed + batchSize - 1);
  const per = size.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batchSize * per);
  for (let b = 0; b < batchSize; b++) data.set(phantom(size, seed + b), b * per);
  return tensor(data, [batchSize, 1, ...size]);
}

/** An endless stream of phantom batches, each from new seeds, from step `startStep` on. */
export async function* phantomBatches(
  batchSize: number,
  size: readonly number[],
  seed = 0,
  startStep = 0,
): AsyncGenerator<Tensor<'float32'>> {
  for (let step = startStep; ; step++) yield phantomBatch(batchSize, size, seed + step * batchSize);
}
