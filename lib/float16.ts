/**
 * IEEE 754 half precision in JS, held as 16-bit patterns in a Uint16Array (Node 20 has no
 * Float16Array): conversion from float32 rounds to nearest, ties to even, as LibTorch and
 * PyTorch do (checked against LibTorch's own conversion in the tests).
 */

const float = new Float32Array(1);
const bits = new Uint32Array(float.buffer);

/** The half-precision bits of `value`: overflow gives infinity, NaN the quiet NaN 0x7e00. */
export function halfBits(value: number): number {
  float[0] = value;
  const x = bits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | (mantissa === 0 ? 0x7c00 : 0x7e00);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal halves (or zero): the implicit 1 joins the mantissa, shifted into 10 bits.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShifted(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | ((halfExponent << 10) + roundShifted(mantissa, 13));
}

/** value >> shift, rounded to nearest with ties to even. */
function roundShifted(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** The value of half-precision bits. */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function toFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i]!);
  return out;
}

export function fromFloat16(halves: Uint16Array): Float32Array {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = halfValue(halves[i]!);
  return out;
}
