import { endpointErrors, knownField, KNOWN_SHIFT } from '../../lib/encoder/knownMotion';

describe('knownField and endpointErrors', () => {
  it('puts the known shift at the centre and measures a zero prediction by the true lengths', () => {
    const size = [9, 11];
    const truth = knownField(size);
    const voxels = 99;
    const centre = 4 * 11 + 5; // the turn moves the centre by nothing
    expect(truth[centre]).toBeCloseTo(KNOWN_SHIFT[0], 6);
    expect(truth[voxels + centre]).toBeCloseTo(KNOWN_SHIFT[1], 6);
    const image = new Float32Array(voxels).fill(1);
    expect(endpointErrors(truth, truth, size, image).mean).toBe(0);
    const zero = endpointErrors(new Float32Array(2 * voxels), truth, size, image);
    expect(zero.count).toBeGreaterThan(0);
    expect(zero.mean).toBeCloseTo(zero.meanTrue, 6);
    expect(zero.meanForeground).toBeCloseTo(zero.mean, 6);
  });

  it('refuses grids that are not 2D or 3D and inputs of the wrong length', () => {
    expect(() => knownField([5])).toThrow('Expected a grid size of 2 or 3 positive integers but received [5]');
    expect(() => knownField([4, 0])).toThrow(/positive integers/);
    const truth = knownField([2, 2]);
    expect(() => endpointErrors(truth, truth, [2, 2], new Float32Array(3))).toThrow(
      new RangeError('Expected 4 values for image (2 x 2) but received 3'),
    );
    expect(() => endpointErrors(new Float32Array(4), truth, [2, 2], new Float32Array(4))).toThrow(
      'Expected 8 values for predicted (2 x 2 x 2) but received 4',
    );
  });
});
