import fs from 'node:fs';
import path from 'node:path';
import { CoverModel, NonFiniteTrainingError, Segmenter, Trainer, tensor } from '../../lib';
import { nativeModelOf } from '../../lib/model/CoverModel';
import { saveCheckpoint } from '../../lib/train/checkpoints';
import { useTempDir } from '../tempDir';

const small = { channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

describe('non-finite steps', () => {
  const tempDir = useTempDir('cover-torch-nonfinite');

  it('stops a run after maxNonFiniteSteps skipped steps, naming them, with finite weights saved', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    model.configureTraining({ cropSize: [32, 32] });
    const good = tensor(
      new Float32Array(2 * 48 * 48).map((_, i) => 0.5 + 0.5 * Math.sin(i / 9)),
      [2, 1, 48, 48],
    );
    const bad = tensor(new Float32Array(2 * 48 * 48).fill(NaN), [2, 1, 48, 48]);
    const batches = [good, bad, good, bad, bad, good, good];
    const checkpoints = path.join(tempDir(), 'checkpoints');
    const trainer = new Trainer(model, { maxSteps: 7, maxNonFiniteSteps: 2, checkpoint: { dirpath: checkpoints } });
    const ended: unknown[] = [];
    trainer.on('end', (event) => ended.push(event));
    const seen: number[] = [];
    const run = async () => {
      for await (const record of trainer.steps(batches)) seen.push(record.step);
    };
    await expect(run()).rejects.toThrow(new NonFiniteTrainingError([2, 4, 5]).message);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(ended).toEqual([expect.objectContaining({ step: 5, stopped: true })]);
    const latest = JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')) as { path: string };
    const saved = await CoverModel.load(path.join(checkpoints, latest.path, 'model.safetensors'));
    for (const weights of Object.values(await saved.stateDict())) {
      expect((weights.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    await Promise.all([saved.dispose(), model.dispose()]);
  });

  it('refuses to write a checkpoint of non-finite weights, keeping the previous one as latest', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    model.configureTraining({ cropSize: [32, 32] });
    const checkpoints = path.join(tempDir(), 'refused');
    await saveCheckpoint(checkpoints, model, { step: 1 }, 3);
    // A finite loss and gradient, unclipped SGD at a learning rate near float32's limit: the
    // step is taken (nothing to skip) and weights overflow to Inf.
    model.configureTraining({ cropSize: [32, 32], gradClip: 0, optimizer: { kind: 'sgd', momentum: 0 } });
    const batch = tensor(
      new Float32Array(2 * 48 * 48).map((_, i) => 0.5 + 0.5 * Math.sin(i / 9)),
      [2, 1, 48, 48],
    );
    expect((await model.trainStep(batch, 3e38)).skipped).toBe(false);
    await expect(saveCheckpoint(checkpoints, model, { step: 2 }, 3)).rejects.toThrow(
      /^Refusing to write the checkpoint of step 2: weight "[^"]+" holds (-?Infinity|NaN) at index \d+; the previous checkpoints are kept$/,
    );
    expect(JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8'))).toEqual({
      step: 1,
      path: 'step-000001',
    });
    expect(fs.readdirSync(checkpoints).sort()).toEqual(['latest.json', 'step-000001']);
    await model.dispose();
  });

  it('refuses weights that are not finite float32 in loadStateDict', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    const weights = await model.stateDict();
    const name = 'backbone.inc.double_conv.0.bias';
    const withNaN = {
      ...weights,
      [name]: tensor(
        Float32Array.from(weights[name]!.data as Float32Array, (v, i) => (i === 2 ? NaN : v)),
        weights[name]!.shape,
      ),
    };
    await expect(model.loadStateDict(withNaN)).rejects.toThrow(
      `stateDict["${name}"] holds NaN at index 2; weights must be finite`,
    );
    const asDouble = {
      ...weights,
      [name]: tensor(Float64Array.from(weights[name]!.data as Float32Array), weights[name]!.shape),
    };
    await expect(model.loadStateDict(asDouble)).rejects.toThrow(
      `Expected float32 data for stateDict["${name}"] (the model's dtype) but received float64`,
    );
    await expect(model.loadStateDict(null as never)).rejects.toThrow(
      'Expected a state dict (an object of tensors by parameter name) but received null',
    );
    // Nothing was changed by the refused calls.
    expect((await model.stateDict())[name]!.data).toEqual(weights[name]!.data);
    await model.dispose();
  });

  // Adam applies the rate in float32: 1e300 used to overflow after the first parameter had
  // moved, leaving a half-applied step that a Trainer then checkpointed.
  it('refuses rates and options beyond float32 before a step changes anything', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    model.configureTraining({ cropSize: [32, 32] });
    const images = tensor(
      new Float32Array(48 * 48).map((_, i) => 0.5 + 0.5 * Math.sin(i / 7)),
      [1, 1, 48, 48],
    );
    await model.trainStep(images, 1e-4);
    const native = nativeModelOf(model);
    const before = await native.trainingState();
    const expected = 'a number between 0 and 3.4e38 (the largest float32)';
    await expect(model.trainStep(images, 1e300)).rejects.toThrow(`Expected ${expected} for learningRate`);
    // Past the JS check, the core refuses it too.
    await expect(native.trainStep(images, 1e300)).rejects.toThrow(
      'learning rate must be a number between 0 and 3.4e38 (the largest float32), got 1e+300',
    );
    const after = await native.trainingState();
    expect(after.steps).toBe(before.steps);
    for (const [name, value] of Object.entries(before.optimizer))
      expect(after.optimizer[name]!.data).toEqual(value.data);
    expect(() => model.configureTraining({ cropSize: [32, 32], optimizer: { weightDecay: 1e300 } })).toThrow(
      `Expected ${expected} for optimizer.weightDecay`,
    );
    const segmenter = await Segmenter.create(model, { classes: 2, seed: 1 });
    await expect(segmenter.trainStep(images, tensor(new Uint8Array(48 * 48), [1, 48, 48]), 3.5e38)).rejects.toThrow(
      `Expected ${expected} for learningRate`,
    );
    await segmenter.dispose();
  });
});
