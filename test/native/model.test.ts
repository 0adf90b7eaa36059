import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoverModel, DisposedError, saveSafetensors, tensor, type Tensor, type TrainingOptions } from '../../lib';

const fixtures = path.resolve(__dirname, '../fixtures');

/** name -> shape from a reference listing "name (d0, d1, ...)". */
function referenceShapes(file: string): Map<string, number[]> {
  const lines = fs.readFileSync(path.join(fixtures, file), 'utf8').trim().split('\n');
  return new Map(
    lines.map((line) => {
      const [name, shape] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
      return [name, (shape.match(/\d+/g) ?? []).map(Number)];
    }),
  );
}

/** A smooth random image batch in [0, 1]. */
function images(shape: number[], seed: number): Tensor<'float32'> {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    data[i] = 0.5 + 0.5 * Math.sin(i / 7 + (state / 2 ** 31) * 0.3);
  }
  return tensor(data, shape);
}

const small = { channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

describe('CoverModel', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-torch-model-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    [2, 7_881_712, 'cover-2d-state-dict.txt'],
    [3, 23_567_920, 'cover-3d-state-dict.txt'],
  ] as const)('%iD defaults: parameter count and PyTorch state_dict names and shapes', async (dims, count, file) => {
    const model = await CoverModel.create({ dims, seed: 1 });
    try {
      expect(model.parameterCount()).toBe(count);
      const state = await model.stateDict();
      const reference = referenceShapes(file);
      // PyTorch's module also holds the window's offsets as a buffer.
      reference.set('mov.grid', dims === 2 ? [5, 5, 2] : [5, 5, 5, 3]);
      expect(new Set(Object.keys(state))).toEqual(new Set(reference.keys()));
      for (const [name, t] of Object.entries(state)) expect([name, [...t.shape]]).toEqual([name, reference.get(name)]);
    } finally {
      model.dispose();
    }
  });

  it('predicts a full-resolution displacement and returns both views’ features', async () => {
    const model = await CoverModel.create({ dims: 2, ...small, seed: 2 });
    const out = await model.forward(images([2, 1, 32, 48], 1), images([2, 1, 32, 48], 2));
    expect(out.displacement.shape).toEqual([2, 2, 32, 48]);
    expect(out.fixedFeatures.shape).toEqual([2, 8, 32, 48]);
    expect(out.displacement.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.displacement.data).every(Number.isFinite)).toBe(true);
    model.dispose();
  });

  it('explains bad inputs and options', async () => {
    await expect(CoverModel.create({ dims: 4 } as never)).rejects.toThrow('Expected 2 or 3 for dims but received 4');
    await expect(CoverModel.create({ dims: 2, radious: 3 } as never)).rejects.toThrow(
      /Unknown option "radious" in model options; did you mean "radius"\?/,
    );
    await expect(CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 12] })).rejects.toThrow(
      'Expected a multiple of 8 (GroupNorm uses C/8 groups) for channels[4] but received 12 of type number',
    );
    const model = await CoverModel.create({ dims: 2, ...small });
    await expect(model.forward(images([1, 1, 30, 32], 1), images([1, 1, 30, 32], 1))).rejects.toThrow(
      /every spatial size must be a positive multiple of 16, got \[1, 1, 30, 32\]/,
    );
    await expect(model.forward(images([1, 1, 32, 32], 1), images([1, 1, 16, 32], 1))).rejects.toThrow(RangeError);
    await expect(model.forward(images([1, 32, 32], 1), images([1, 32, 32], 1))).rejects.toThrow(
      'Expected moving of shape (B, C, H, W) with C = 1 for this 2D model but received [1, 32, 32]',
    );
    await expect(model.trainStep(images([1, 1, 48, 48], 1), 1e-3)).rejects.toThrow(
      'Call configureTraining() before trainStep()',
    );
    expect(() => model.configureTraining({ cropSize: [32, 30] })).toThrow(
      'Expected a multiple of 16 for cropSize[1] but received 30 of type number',
    );
    expect(() => model.configureTraining({ cropSize: [32, 32], optimizer: { kind: 'lbfgs' as never } })).toThrow(
      /Expected one of "adam", "adamw", "sgd" for optimizer.kind but received "lbfgs"/,
    );
    expect(() => model.configureTraining({ cropSize: [32, 32], mixedPrecision: 'fp16' as never })).toThrow(
      /Expected one of "none", "bf16" for mixedPrecision but received "fp16"/,
    );
    expect(() => model.configureTraining({ cropSize: [32, 32], mixedPrecision: 'bf16', recompute: true })).toThrow(
      'recompute and mixedPrecision "bf16" cannot be combined',
    );
    model.configureTraining({ cropSize: [32, 32] });
    await expect(model.trainStep(images([1, 1, 24, 48], 1), 1e-3)).rejects.toThrow(
      /cropSize\[0\] = 32 is larger than the image \(24\)/,
    );
    await expect(model.trainStep(images([1, 1, 48, 48], 1), -1)).rejects.toThrow(RangeError);
    const doubles = tensor(new Float64Array(32 * 32), [1, 1, 32, 32]);
    await expect(model.forward(images([1, 1, 32, 32], 1), doubles as never)).rejects.toThrow(
      'Expected float32 data for fixed but received float64',
    );
    // The options describe the network built: changing them would save a file of another one.
    expect(() => ((model.options as { radius: number }).radius = 3)).toThrow(TypeError);
    expect(() => (model.options.channels as number[]).push(8)).toThrow(TypeError);
    model.dispose();
    expect(() => model.parameterCount()).toThrow(DisposedError);
  });

  it('lets running work finish when disposed mid-call, then refuses new calls', async () => {
    const model = await CoverModel.create({ dims: 2, ...small, seed: 6 });
    model.configureTraining({ cropSize: [32, 32] });
    const running = model.trainStep(images([2, 1, 48, 48], 4), 1e-3);
    model.dispose();
    expect(Number.isFinite((await running).totalLoss)).toBe(true);
    await expect(model.forward(images([1, 1, 32, 32], 1), images([1, 1, 32, 32], 1))).rejects.toThrow(DisposedError);
    // A job of several native calls (tiles) whose later calls meet the disposed model.
    const tiled = await CoverModel.create({ dims: 2, ...small, seed: 6 });
    const encoding = tiled.encode(images([1, 1, 64, 64], 2), { window: 32 });
    tiled.dispose();
    await expect(encoding).rejects.toThrow(DisposedError);
    const executor = fs.readFileSync(path.join(__dirname, '../../native/addon/model_executor.cpp'), 'utf8');
    expect(executor).toContain(JSON.stringify(new DisposedError().message));
  });

  it('trains a step with finite metrics', async () => {
    const model = await CoverModel.create({ dims: 3, ...small, seed: 3 });
    model.configureTraining({ cropSize: [16, 32, 16], views: { degree: 0.3 } });
    const metrics = await model.trainStep(images([1, 1, 24, 48, 24], 3), 1e-3);
    for (const key of [
      'vectorLoss',
      'consistencyLoss',
      'totalLoss',
      'zeroBaseline',
      'gradNorm',
      'featureVariation',
    ] as const) {
      expect(Number.isFinite(metrics[key])).toBe(true);
    }
    expect(metrics.reachableFraction).toBeGreaterThan(0.8);
    expect(metrics.timings.stepMs).toBeGreaterThan(0);
    model.dispose();
  });

  it('saves weights that load back identically and that an independent reader parses', async () => {
    const model = await CoverModel.create({ dims: 2, ...small, seed: 4 });
    const file = path.join(dir, 'weights.safetensors');
    await model.save(file);
    const loaded = await CoverModel.load(file);
    const [a, b] = [await model.stateDict(), await loaded.stateDict()];
    for (const name of Object.keys(a))
      expect(Buffer.from(b[name]!.data.buffer)).toEqual(Buffer.from(a[name]!.data.buffer));
    const views = [images([1, 1, 32, 32], 5), images([1, 1, 32, 32], 6)] as const;
    expect((await loaded.forward(...views)).displacement.data).toEqual(
      (await model.forward(...views)).displacement.data,
    );

    // Python's standard library as the independent reader of the format.
    const reader = `
import json, struct, sys
with open(sys.argv[1], 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__': continue
        f.seek(base + e['data_offsets'][0])
        out[name] = [e['dtype'], e['shape'], struct.unpack('<f', f.read(4))[0]]
print(json.dumps({'tensors': out, 'metadata': header.get('__metadata__')}))`;
    const parsed = JSON.parse(execFileSync('python3', ['-c', reader, file], { encoding: 'utf8' }));
    expect(Object.keys(parsed.tensors).sort()).toEqual(Object.keys(a).sort());
    const weight = a['backbone.inc.double_conv.0.weight']!;
    expect(parsed.tensors['backbone.inc.double_conv.0.weight']).toEqual(['F32', [8, 1, 3, 3], weight.data[0]]);
    expect(parsed.metadata.format).toBe('pt');

    // Metadata travels with the weights: a loaded model saved again keeps it, options over it.
    model.metadata = { note: 'run a', 'cover-torch.steps': '3' };
    await model.save(file);
    const again = await CoverModel.load(file);
    const copy = path.join(dir, 'copy.safetensors');
    await again.save(copy, { metadata: { 'cover-torch.steps': '5' } });
    const copied = await CoverModel.load(copy);
    expect(copied.metadata).toMatchObject({ note: 'run a', 'cover-torch.steps': '5' });
    copied.dispose();
    again.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('refuses a weights file of another architecture or a corrupt one, naming the file', async () => {
    const model = await CoverModel.create({ dims: 2, ...small });
    const file = path.join(dir, 'small.safetensors');
    await model.save(file);
    // Options given to load() override the recorded ones: here, the default widths.
    await expect(CoverModel.load(file, { dims: 2, channels: [32, 64, 128, 256, 512] })).rejects.toThrow(
      /Cannot load .*small\.safetensors: tensor "backbone\.[^"]+" has shape \[\d+(, \d+)*\] but the model expects \[\d+/,
    );
    const truncated = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 100));
    await expect(CoverModel.load(truncated)).rejects.toThrow(`${truncated} is not a valid safetensors file`);
    await expect(CoverModel.load(path.join(dir, 'missing.safetensors'))).rejects.toThrow(
      /missing\.safetensors does not exist; expected a run folder, a checkpoint folder or a \.safetensors file/,
    );
    const mislabelled = path.join(dir, 'mislabelled.safetensors');
    await saveSafetensors(mislabelled, await model.stateDict(), {
      'cover-torch.model-options': JSON.stringify({ dims: '2', ...small }),
    });
    await expect(CoverModel.load(mislabelled)).rejects.toThrow(
      `${mislabelled}: the model options from its metadata "cover-torch.model-options" are not valid: Expected 2 or 3 for dims but received "2" of type string`,
    );
    // A state_dict of a wrapped module (DataParallel's "module.") says what to remove.
    const state = await model.stateDict();
    const prefixed = Object.fromEntries(Object.entries(state).map(([name, t]) => [`module.${name}`, t]));
    await expect(model.loadStateDict(prefixed)).rejects.toThrow(
      /the names given start with "module\." \(remove that prefix\)/,
    );
    // A window grid in double precision is named for its dtype, not its (right) shape.
    const grid = state['mov.grid']!;
    const doubled = {
      ...state,
      'mov.grid': { dtype: 'float64', shape: grid.shape, data: Float64Array.from(grid.data as Float32Array) },
    };
    await expect(model.loadStateDict(doubled as never)).rejects.toThrow(
      '"mov.grid" is float64; expected float32 weights',
    );
    // What is checked is what loads: inherited tensors are not taken, a getter is read once.
    const firstName = Object.keys(state).find((name) => name !== 'mov.grid')!;
    const nan = { ...state[firstName]!, data: new Float32Array(state[firstName]!.data.length).fill(NaN) };
    await expect(model.loadStateDict(Object.create({ ...state, [firstName]: nan }))).rejects.toThrow(
      /missing \d+ tensor\(s\)/,
    );
    let reads = 0;
    const changing = { ...state };
    Object.defineProperty(changing, firstName, {
      enumerable: true,
      get: () => (reads++ === 0 ? state[firstName] : nan),
    });
    await model.loadStateDict(changing);
    const reloaded = await model.stateDict();
    expect(Array.from(reloaded[firstName]!.data as Float32Array).every(Number.isFinite)).toBe(true);
    model.dispose();
  });

  it('resumes from saved weights and training state with the same losses as an uninterrupted run', async () => {
    const batch = images([2, 1, 48, 48], 7);
    const training: TrainingOptions<2> = { cropSize: [32, 32], seed: 11 };
    const run = async (model: CoverModel, steps: number) => {
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) losses.push((await model.trainStep(batch, 1e-3)).totalLoss);
      return losses;
    };
    const uninterrupted = await CoverModel.create({ dims: 2, ...small, seed: 5 });
    uninterrupted.configureTraining(training);
    const full = await run(uninterrupted, 4);

    const first = await CoverModel.create({ dims: 2, ...small, seed: 5 });
    first.configureTraining(training);
    const head = await run(first, 2);
    await first.save(path.join(dir, 'resume.safetensors'));
    await first.saveTrainingState(path.join(dir, 'resume.training.safetensors'));
    first.dispose();

    const resumed = await CoverModel.load(path.join(dir, 'resume.safetensors'));
    resumed.configureTraining(training);
    await resumed.loadTrainingState(path.join(dir, 'resume.training.safetensors'));
    const tail = await run(resumed, 2);
    expect([...head, ...tail]).toEqual(full);
    uninterrupted.dispose();
    resumed.dispose();

    // The state of an Adam run does not load into SGD training: its moments would be dropped.
    const other = await CoverModel.load(path.join(dir, 'resume.safetensors'));
    other.configureTraining({ ...training, optimizer: { kind: 'sgd' } });
    await expect(other.loadTrainingState(path.join(dir, 'resume.training.safetensors'))).rejects.toThrow(
      /optimizer state has ".*\.exp_avg", which sgd does not keep for these parameters/,
    );
    other.dispose();
  });
});
