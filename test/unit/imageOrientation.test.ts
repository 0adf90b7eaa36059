import { ImageReadError, axisCodes, closestAxes, toClosestCanonical } from '../../lib/data/image';

describe('closest canonical orientation', () => {
  it('names axes like nibabel aff2axcodes', () => {
    expect(axisCodes([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])).toBe('RAS');
    expect(axisCodes([-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])).toBe('LPS');
    expect(axisCodes([0, 0, -2, 0, 3, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 1])).toBe('AIL');
  });

  it('assigns an oblique (30 degree) acquisition by its dominant directions', () => {
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    // i mostly towards Anterior, j mostly towards Left, k Superior.
    const affine = [s, -c, 0, 0, c, s, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    expect(closestAxes(affine)).toEqual({ axis: [1, 0, 2], flip: [true, false, false] });
    const volume = toClosestCanonical(
      { data: Float32Array.from([0, 1, 2, 3, 4, 5]), size: [3, 2, 1], spacing: [1, 1, 1], affine },
      'oblique',
    );
    // W <- j flipped, H <- i: [z][y][x] = old (i = y, j = 1 - x).
    expect(volume.shape).toEqual([1, 3, 2]);
    expect(Array.from(volume.data)).toEqual([3, 0, 4, 1, 5, 2]);
    expect(axisCodes(volume.affine)).toBe('RAS');
  });

  it('reuses the data of an RAS+ grid and names the source of a singular matrix', () => {
    const data = new Float32Array(8);
    const ras = [2, 0, 0, 1, 0, 2, 0, 2, 0, 0, 2, 3, 0, 0, 0, 1];
    expect(toClosestCanonical({ data, size: [2, 2, 2], spacing: [2, 2, 2], affine: ras }, 'ras').data).toBe(data);
    const flat = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const error = (() => {
      try {
        return toClosestCanonical({ data, size: [2, 2, 2], spacing: [1, 1, 1], affine: flat }, '/x/flat.nii');
      } catch (e) {
        return e;
      }
    })() as ImageReadError;
    expect(error).toBeInstanceOf(ImageReadError);
    expect(error.message).toBe(
      '/x/flat.nii: the voxel-to-world matrix [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] is singular, expected three independent axes',
    );
  });

  it('completes a missing direction of a single-slice axis (2D files often leave it zero)', () => {
    // i -> Posterior, j -> Superior, k (one slice) all zero.
    const affine = [0, 0, 0, 5, -1, 0, 0, 6, 0, 1, 0, 0, 0, 0, 0, 1];
    const volume = toClosestCanonical(
      { data: Float32Array.from([1, 2, 3, 4]), size: [2, 2, 1], spacing: [1, 1, 2], affine },
      'slice',
    );
    expect(axisCodes(volume.affine)).toBe('RAS');
    expect(volume.shape).toEqual([2, 2, 1]);
  });
});
