import { ops, tensor } from '../../lib';
import { fromFloat16, halfValue, toFloat16 } from '../../lib/float16';

/** Values that test every path of the conversion: ties, subnormals, overflow, specials. */
function awkwardValues(): Float32Array {
  const values: number[] = [0, -0, 1, -1, 65504, 65519, 65520, -65520, 1e6, Infinity, -Infinity, NaN];
  for (let k = 0; k < 1024; k += 7) {
    values.push(1 + (2 * k + 1) * 2 ** -11); // exactly halfway between two halves near 1
    values.push((2 * k + 1) * 2 ** -25); // halfway between two subnormal halves
  }
  // Random magnitudes from far below the smallest subnormal half to beyond the largest.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) values.push((random() < 0.5 ? -1 : 1) * 2 ** (random() * 52 - 30) * (1 + random()));
  return Float32Array.from(values);
}

describe('float16', () => {
  it('converts float32 to half bits exactly as LibTorch does (round to nearest, ties to even)', async () => {
    const values = awkwardValues();
    const reference = await ops.cast(tensor(values, [values.length]), 'float16');
    expect(reference.dtype).toBe('float16');
    const ours = toFloat16(values);
    const differing = Array.from(ours.keys()).filter((i) => ours[i] !== reference.data[i]);
    expect(differing.map((i) => [values[i], ours[i], reference.data[i]])).toEqual([]);
  });

  it('reads every half pattern back as LibTorch does', async () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const reference = await ops.cast(tensor(all, [65536]), 'float32');
    const ours = fromFloat16(all);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(reference.data[i])) expect(ours[i]).toBeNaN();
      else expect(Object.is(ours[i], reference.data[i])).toBe(true);
    }
    expect(halfValue(0x3c00)).toBe(1);
    expect(halfValue(0x0001)).toBe(2 ** -24);
  });

  it('crosses the boundary as its 16 bits', async () => {
    const halves = tensor(Uint16Array.from([0x3c00, 0x8000, 0x7c00, 0x0001, 0x7bff]), [5]);
    expect((await ops.roundTrip(halves)).data).toEqual(halves.data);
    expect(Array.from((await ops.cast(halves, 'float32')).data)).toEqual([1, -0, Infinity, 2 ** -24, 65504]);
  });
});
