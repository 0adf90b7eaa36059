import fs from 'node:fs';
import path from 'node:path';
import { readLabelledImages } from '../../lib/cli/labelledImages';
import { niftiBytes } from './niftiBytes';
import { useTempDir } from '../tempDir';

const N = 8;
/** Labels 0..3 in blocks of 2 voxels along x, so that every other voxel starts a block. */
const labelAt = (x: number) => Math.floor(x / 2);

describe('readLabelledImages', () => {
  const tempDir = useTempDir('cover-labelled-images');

  /** Writes an 8^3 image and its label map (given header fields and values) in a case folder. */
  function writeCase(name: string, labelSpec: { pixdim?: number[]; values?: number[] } = {}) {
    const folder = path.join(tempDir(), name);
    fs.mkdirSync(folder);
    const image: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < N ** 3; i++) {
      image.push((i * 37) % 101);
      labels.push(labelAt(i % N));
    }
    const pixdim = [1, 1, 1, 1];
    const files = { image: path.join(folder, 'image.nii'), labels: path.join(folder, 'labels.nii') };
    fs.writeFileSync(files.image, niftiBytes({ dims: [3, N, N, N], pixdim, values: image }));
    fs.writeFileSync(
      files.labels,
      niftiBytes({ dims: [3, N, N, N], pixdim: labelSpec.pixdim ?? pixdim, values: labelSpec.values ?? labels }),
    );
    return files;
  }

  it("resamples label maps to the run's spacing with the image, keeping their classes", async () => {
    const { image, labels } = writeCase('spacing');
    const [pair] = await readLabelledImages([image], [labels], {
      preprocessing: { spacing: [2, 2, 2] },
      normalize: false,
      dims: 3,
    });
    expect(pair!.shape).toEqual([4, 4, 4]);
    expect(pair!.spacing).toEqual([2, 2, 2]);
    // Output x = 0..3 sits at input x = 0, 2, 4, 6: labels 0, 1, 2, 3 on every row.
    expect(Array.from(pair!.labels.subarray(0, 8))).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(new Set(pair!.labels)).toEqual(new Set([0, 1, 2, 3]));
  });

  it('refuses a label map that places its voxels elsewhere than its image', async () => {
    const { image, labels } = writeCase('elsewhere', { pixdim: [1, 1, 1, 2] });
    await expect(
      readLabelledImages([image], [labels], { preprocessing: {}, normalize: false, dims: 3 }),
    ).rejects.toThrow(`${labels} and its image ${image} have the same shape but place their voxels differently`);
  });

  it('refuses values that are not class numbers', async () => {
    const values = Array.from({ length: N ** 3 }, (_, i) => (i === 5 ? 0.5 : 0));
    const { image, labels } = writeCase('fractional', { values });
    await expect(
      readLabelledImages([image], [labels], { preprocessing: {}, normalize: false, dims: 3 }),
    ).rejects.toThrow(`${labels} holds 0.5 at voxel 5, not a class number; expected integer labels 0..K-1`);
  });
});
