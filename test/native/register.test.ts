import fs from 'node:fs';
import path from 'node:path';
import { CoverModel, normalizeIntensity, readImage, readNifti, tensor, warp, type Tensor } from '../../lib';
import { runCli } from '../../lib/cli/runCli';
import { writeNifti } from '../../lib/io/writeNifti';
import { useTempDir } from '../tempDir';
import { niftiBytes } from '../unit/niftiBytes';

const ITK_DATA = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
const MOVING = `${ITK_DATA}/BrainProtonDensitySliceShifted13x17y.png`;
const FIXED = `${ITK_DATA}/BrainProtonDensitySliceBorder20.png`;
const haveData = fs.existsSync(MOVING) && fs.existsSync(FIXED);

describe('cover-torch register', () => {
  const tempDir = useTempDir('cover-register');

  (haveData ? it : it.skip)(
    'writes the field correspond() predicts, the warped image and the carried labels on the fixed grid',
    async () => {
      const model = await CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 16], seed: 3 });
      const weights = path.join(tempDir(), 'final.safetensors');
      await model.save(weights, {
        metadata: { 'cover-torch.preprocessing': JSON.stringify({ dims: 2, normalize: { kind: 'minmax' } }) },
      });
      const [moving, fixed] = await Promise.all(
        [MOVING, FIXED].map(async (file) => normalizeIntensity(await readImage(file), { kind: 'minmax' })),
      );
      const [h, w] = fixed!.shape as [number, number];
      // Labels on the moving grid: 1 in the upper half, 2 in the lower.
      const labelsFile = path.join(tempDir(), 'labels.nii');
      const labelValues = Array.from({ length: h * w }, (_, i) => (i < (h * w) / 2 ? 1 : 2));
      fs.writeFileSync(labelsFile, niftiBytes({ dims: [2, w, h], values: labelValues }));
      const files = ['field.nii.gz', 'warped.nii', 'carried.nii'].map((name) => path.join(tempDir(), name));
      const printed: string[] = [];
      const code = await runCli(
        ['register', MOVING, FIXED, '--weights', weights, '--out', files[0]!, '--warped', files[1]!].concat([
          '--labels',
          labelsFile,
          '--labels-out',
          files[2]!,
        ]),
        (text) => printed.push(text),
      );
      expect(code).toBe(0);
      expect(printed.join('')).toMatch(new RegExp(`^wrote ${files[0]}: displacement of \\[${h}, ${w}\\], mean length`));

      const field = await model.correspond(tensor(moving!.data, [1, 1, h, w]), tensor(fixed!.data, [1, 1, h, w]));
      const written = await Promise.all([0, 1].map((axis) => readNifti(files[0]!, { volumeIndex: axis })));
      for (const axis of [0, 1]) {
        expect(written[axis]!.shape).toEqual([1, h, w]); // a 2D NIfTI reads as one slice
        const expected = field.data.subarray(axis * h * w, (axis + 1) * h * w);
        expect(Math.max(...written[axis]!.data.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThan(1e-5);
      }
      // The warped image keeps MOVING's own intensities (0..255 here), not the normalised ones.
      const raw = await readImage(MOVING);
      const warped = warp(tensor(raw.data, [1, 1, h, w]) as Tensor<'float32'>, field);
      const writtenWarped = await readNifti(files[1]!);
      expect(Math.max(...writtenWarped.data)).toBeGreaterThan(100);
      expect(Math.max(...writtenWarped.data.map((v, i) => Math.abs(v - warped.data[i]!)))).toBeLessThan(1e-4);
      const carried = warp(tensor(Int32Array.from(labelValues), [1, 1, h, w]) as Tensor<'int32'>, field, {
        mode: 'nearest',
      });
      expect(Array.from((await readNifti(files[2]!)).data)).toEqual(Array.from(carried.data));

      // The same images as 2D NIfTI files (read as one slice, [1, H, W]) register the same.
      const asNifti = await Promise.all(
        [MOVING, FIXED].map(async (file, i) => {
          const out = path.join(tempDir(), `${i === 0 ? 'moving' : 'fixed'}.nii`);
          const image = await readImage(file);
          await writeNifti(out, { data: image.data, shape: image.shape, spacing: image.spacing });
          return out;
        }),
      );
      const fromNifti = path.join(tempDir(), 'field-from-nifti.nii');
      expect(await runCli(['register', ...asNifti, '--weights', weights, '--out', fromNifti], () => undefined)).toBe(0);
      for (const axis of [0, 1]) {
        const again = await readNifti(fromNifti, { volumeIndex: axis });
        expect(Math.max(...again.data.map((v, i) => Math.abs(v - written[axis]!.data[i]!)))).toBeLessThan(1e-5);
      }
      await model.dispose();
    },
  );

  it('says what is wrong with its arguments', async () => {
    const err: string[] = [];
    const run = (...argv: string[]) =>
      runCli(
        ['register', ...argv],
        () => undefined,
        (text) => err.push(text),
      );
    expect(await run('a.png')).toBe(2);
    expect(err.pop()).toContain('cover-torch register: expected MOVING, FIXED, --weights, --out');
    expect(await run('a.png', 'b.png', '--weights', 'w', '--out', 'o.nii', '--labels', 'l.nii')).toBe(2);
    expect(err.pop()).toContain('--labels and --labels-out go together');
    expect(await run('a.png', 'b.png', '--weights', 'w', '--out', 'f.nii.gz', '--warped', './f.nii.gz')).toBe(2);
    expect(err.pop()).toContain('--warped and --out both name ./f.nii.gz: each output needs its own file');
    expect(
      await run('a.png', 'b.png', '--weights', 'w', '--out', 'f.nii', '--labels', 'l.png', '--labels-out', 'a.png'),
    ).toBe(2);
    expect(err.pop()).toContain('--labels-out a.png: outputs are NIfTI files');
    expect(await run('a.nii', 'b.png', '--weights', 'w', '--out', 'a.nii')).toBe(2);
    expect(err.pop()).toContain('--out a.nii is also MOVING: writing it would overwrite that input');
    // Checked before the weights load (here they do not exist): a missing output folder.
    expect(await run('a.nii', 'b.png', '--weights', 'w', '--out', '/nonexistent/f.nii')).toBe(2);
    expect(err.pop()).toContain('--out /nonexistent/f.nii: its folder /nonexistent does not exist; create it first');
  });
});
