import fs from 'node:fs';
import path from 'node:path';
import { CoverModel, normalizeIntensity, readNifti, tensor } from '../../lib';
import { runCli } from '../../lib/cli/runCli';
import { useTempDir } from '../tempDir';
import { niftiBytes } from '../unit/niftiBytes';

describe('cover-torch features', () => {
  const tempDir = useTempDir('cover-features');

  it('writes the features of each coronal slice of a volume on its grid, prepared as the run recorded', async () => {
    const model = await CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 16], seed: 5 });
    const weights = path.join(tempDir(), 'final.safetensors');
    const preprocessing = { dims: 2, normalize: { kind: 'minmax' }, sliceAxis: 'coronal', cropSize: [32, 32] };
    await model.save(weights, { metadata: { 'cover-torch.preprocessing': JSON.stringify(preprocessing) } });
    const [d, h, w] = [6, 5, 20];
    const values = Array.from({ length: d * h * w }, (_, i) => 100 + 50 * Math.sin(i / 3));
    const image = path.join(tempDir(), 'scan.nii');
    fs.writeFileSync(image, niftiBytes({ dims: [3, w, h, d], values }));
    const out = path.join(tempDir(), 'features.nii.gz');
    const printed: string[] = [];
    const code = await runCli(['features', image, '--weights', weights, '--out', out, '--levels', '1,2'], (text) =>
      printed.push(text),
    );
    expect(code).toBe(0);
    expect(printed.join('')).toBe(`wrote ${out}: 24 feature maps of [6, 5, 20] (levels 1, 2)\n`);

    // Reference: min-max normalise, cut coronal slice y = 2 ([D, W]), encode it whole.
    const volume = normalizeIntensity(await readNifti(image), { kind: 'minmax' });
    const slice = new Float32Array(d * w);
    for (let z = 0; z < d; z++) for (let x = 0; x < w; x++) slice[z * w + x] = volume.data[(z * h + 2) * w + x]!;
    const levels = await model.encode(tensor(slice, [1, 1, d, w]), { fullResolution: true });
    for (const [channel, level, k] of [
      [0, 0, 0],
      [9, 1, 1], // F2's second channel follows F1's 8
    ]) {
      const written = await readNifti(out, { volumeIndex: channel });
      expect(written.shape).toEqual([d, h, w]);
      for (let z = 0; z < d; z++)
        for (let x = 0; x < w; x++)
          expect(written.data[(z * h + 2) * w + x]).toBeCloseTo(levels[level!]!.data[(k! * d + z) * w + x]!, 5);
    }
    await model.dispose();
  });

  it('says what is missing', async () => {
    const err: string[] = [];
    expect(
      await runCli(
        ['features', 'scan.nii'],
        () => undefined,
        (text) => err.push(text),
      ),
    ).toBe(2);
    expect(err.join('')).toContain('cover-torch features: expected IMAGE, --weights, --out');
    // Checked before the encoder loads: a NIfTI under another name, or over the input image.
    const run = (...argv: string[]) =>
      runCli(
        ['features', ...argv],
        () => undefined,
        (text) => err.push(text),
      );
    expect(await run('scan.png', '--weights', 'w', '--out', 'f.png')).toBe(2);
    expect(err.pop()).toContain(
      '--out f.png: the features are written as NIfTI; expected a name ending in .nii or .nii.gz',
    );
    expect(await run('scan.nii', '--weights', 'w', '--out', 'scan.nii')).toBe(2);
    expect(err.pop()).toContain('--out scan.nii is also IMAGE: writing it would overwrite that input');
  });
});
