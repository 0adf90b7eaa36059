import fs from 'node:fs';
import path from 'node:path';
import { readNifti } from '../../lib';
import { encodeNifti, writeNifti } from '../../lib/io/writeNifti';
import { useTempDir } from '../tempDir';

describe('writeNifti', () => {
  const tempDir = useTempDir('cover-write-nifti');

  it('round-trips maps through the reader: values per channel, shape, spacing, affine', async () => {
    const shape = [4, 5, 6];
    const channels = 3;
    const data = Float32Array.from({ length: channels * 4 * 5 * 6 }, (_, i) => Math.sin(i) * 100);
    const affine = [1.5, 0, 0, -40, 0, 2, 0, 12.5, 0, 0, 3, 7, 0, 0, 0, 1];
    for (const name of ['maps.nii', 'maps.nii.gz']) {
      const file = path.join(tempDir(), name);
      await writeNifti(file, { data, shape, channels, spacing: [3, 2, 1.5], affine });
      for (let c = 0; c < channels; ++c) {
        const volume = await readNifti(file, { volumeIndex: c });
        expect(volume.shape).toEqual(shape);
        expect(volume.spacing).toEqual([3, 2, 1.5]);
        expect(volume.affine).toEqual(affine);
        expect(Array.from(volume.data)).toEqual(Array.from(data.subarray(c * 120, (c + 1) * 120)));
      }
    }
    expect(fs.readdirSync(tempDir()).sort()).toEqual(['maps.nii', 'maps.nii.gz']);
  });

  it('writes a 2D map as one slice and refuses data that does not fill the shape', () => {
    const bytes = encodeNifti({ data: new Float32Array(6), shape: [2, 3] });
    expect(bytes.length).toBe(352 + 24);
    expect(() => encodeNifti({ data: new Float32Array(5), shape: [2, 3] })).toThrow(
      'Expected 6 float32 values (1 x [2, 3]) but received 5',
    );
  });
});
