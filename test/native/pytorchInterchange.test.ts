import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CoverModel, loadSafetensors, saveSafetensors, tensor, type Tensor } from '../../lib';
import { useTempDir } from '../tempDir';

/**
 * Weights cross to PyTorch and back: the plain-PyTorch module of the method
 * (bench/baseline/cover_step.py, run on the torch the addon was built against) loads
 * cover-torch's file with a strict load_state_dict and computes the same forward; and
 * cover-torch loads the module's own state_dict (with its `mov.grid` buffer) and reproduces
 * the module's forward. Relative error = max |difference| / max |reference|.
 */
const script = path.join(__dirname, '..', '..', 'bench', 'baseline', 'cover_step.py');
const manifest = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'build', 'Release', 'cover_torch.json'), 'utf8'),
) as { libtorch: { folder: string } };
// A pip torch holds the Python package beside its LibTorch; a bare LibTorch cannot run the script.
const pythonTorch = fs.existsSync(path.join(manifest.libtorch.folder, '__init__.py'));
const describeWithTorch = pythonTorch ? describe : describe.skip;
if (!pythonTorch) console.warn(`PyTorch interchange tests skipped: ${manifest.libtorch.folder} is not a Python torch`);

const channels = [8, 16, 16, 16, 16] as [number, number, number, number, number];

function python(...args: string[]): Record<string, number> {
  const result = spawnSync('python3', [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: path.dirname(manifest.libtorch.folder), OMP_NUM_THREADS: '2' },
  });
  if (result.status !== 0) throw new Error(`cover_step.py ${args[0]} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

function maxAbs(t: Tensor): number {
  return (t.data as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function relativeError(actual: Tensor, expected: Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  let worst = 0;
  for (let i = 0; i < actual.data.length; i++)
    worst = Math.max(worst, Math.abs((actual.data[i] as number) - (expected.data[i] as number)));
  return worst / maxAbs(expected);
}

/** Smooth random images (1, 1, *S): a pair with some structure for the pyramid to match. */
function image(shape: number[], phase: number): Tensor<'float32'> {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = 0.5 + 0.4 * Math.sin(i * 0.37 + phase) * Math.cos(i * 0.011 - phase);
  return tensor(values, [1, 1, ...shape]);
}

describeWithTorch('PyTorch interchange', () => {
  const temp = useTempDir('cover-pytorch');

  it.each([2, 3] as const)(
    '%iD: PyTorch loads the saved file strictly and computes the same features and displacement',
    async (dims) => {
      const model = await CoverModel.create({ dims, channels, seed: 21 });
      const shape = Array<number>(dims).fill(32);
      const moving = image(shape, 0);
      const fixed = image(shape, 0.6);
      const out = await model.forward(moving, fixed);
      const weights = path.join(temp(), `cover-${dims}d.safetensors`);
      const caseFile = path.join(temp(), `case-${dims}d.safetensors`);
      await model.save(weights);
      await model.dispose();
      expect((await loadSafetensors(weights)).tensors['mov.grid']!.shape).toEqual([...Array(dims).fill(5), dims]);
      await saveSafetensors(caseFile, { moving, fixed, ...out });

      const diff = python('check', weights, caseFile); // load_state_dict(strict=True) inside
      expect(diff.displacement! / diff.displacementScale!).toBeLessThan(1e-5);
      expect(diff.fixedFeatures! / diff.featureScale!).toBeLessThan(1e-5);
      expect(diff.movingFeatures! / diff.featureScale!).toBeLessThan(1e-5);
      expect(diff.displacementScale).toBeGreaterThan(0.01); // a displacement that says something
    },
    120_000,
  );

  it.each([2, 3] as const)(
    "%iD: cover-torch loads PyTorch's state_dict (with mov.grid) and reproduces its forward",
    async (dims) => {
      const weights = path.join(temp(), `torch-${dims}d.safetensors`);
      const caseFile = path.join(temp(), `torch-case-${dims}d.safetensors`);
      python('export', weights, caseFile, '--dims', String(dims), '--channels', channels.join(','), '--size', '32');
      const { tensors } = await loadSafetensors(weights);
      expect(Object.keys(tensors)).toContain('mov.grid');
      const reference = (await loadSafetensors(caseFile)).tensors;

      await using model = await CoverModel.create({ dims, channels, seed: 0 });
      await model.loadStateDict(tensors);
      const out = await model.forward(reference.moving!, reference.fixed!);
      expect(relativeError(out.displacement, reference.displacement!)).toBeLessThan(1e-5);
      expect(relativeError(out.fixedFeatures, reference.fixedFeatures!)).toBeLessThan(1e-5);
      expect(relativeError(out.movingFeatures, reference.movingFeatures!)).toBeLessThan(1e-5);
      expect(maxAbs(reference.displacement!)).toBeGreaterThan(0.01);

      // Files without the grid load too; a grid of another window is refused by name.
      const withoutGrid = { ...tensors };
      delete withoutGrid['mov.grid'];
      await expect(model.loadStateDict(withoutGrid)).resolves.toBeUndefined();
      await using wider = await CoverModel.create({ dims, channels, radius: 3, seed: 0 });
      await expect(wider.loadStateDict(tensors)).rejects.toThrow(
        `"mov.grid" of shape [${Array(dims).fill(5).concat(dims).join(', ')}] is not the window of this model (radius 3`,
      );
    },
    120_000,
  );
});
