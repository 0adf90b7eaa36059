import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePretrainArgs } from '../../lib/cli/pretrainArgs';
import { ConfigError } from '../../lib/config/parseOptions';
import { resolvePretrainConfig } from '../../lib/config/pretrainConfig';
import { resolveModelOptions } from '../../lib/model/modelOptions';
import { resolveTrainingOptions } from '../../lib/model/trainingOptions';

describe('model and training options', () => {
  it('fills in the defaults of the method', () => {
    expect(resolveModelOptions({ dims: 3 })).toEqual({
      dims: 3,
      inChannels: 1,
      channels: [32, 64, 128, 256, 512],
      headDim: 8,
      heads: [4, 4, 4, 1, 1],
      radius: 2,
      device: 'cpu',
    });
  });

  it('names the field, what is allowed and what was received', () => {
    expect(() => resolveModelOptions({ dims: 2, device: 'gpu' })).toThrow(
      `Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for device but received "gpu"`,
    );
    expect(() => resolveModelOptions({ dims: 2, radius: 9 })).toThrow(
      'Expected an integer between 1 and 8 for radius but received 9 of type number',
    );
    expect(() => resolveModelOptions({ dims: 2, headDim: '8' })).toThrow(
      'Expected an integer between 1 and 4096 for headDim but received "8" of type string',
    );
    expect(() => resolveModelOptions({ dims: 2, heads: [1, 1] })).toThrow(
      'Expected an array of 5 integers for heads but received an array of length 2',
    );
    expect(() => resolveModelOptions({ dims: 2, radious: 3 })).toThrow(
      /^Unknown option "radious" in model options; did you mean "radius"\? Allowed: dims, inChannels, channels/,
    );
    expect(() => resolveModelOptions(null)).toThrow('Expected an object for model options but received null');
    expect(() => resolveTrainingOptions({ cropSize: [32, 32, 32] }, 2)).toThrow(
      'Expected an array of 2 integers for cropSize but received an array of length 3',
    );
    expect(() => resolveTrainingOptions({ cropSize: [32, 32], views: { degree: 2.5 } }, 2)).toThrow(
      'Expected a number between 0 and 1.9 for views.degree but received 2.5 of type number',
    );
    expect(() => resolveTrainingOptions({ cropSize: [32, 32], optimizer: { nesterov: 1 } }, 2)).toThrow(
      'Expected true or false for optimizer.nesterov but received 1 of type number',
    );
  });

  it('lists every problem at once, as a TypeError', () => {
    let error: unknown;
    try {
      resolveModelOptions({ dims: 5, radius: 0, seed: -1 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as ConfigError).problems).toEqual([
      'Expected 2 or 3 for dims but received 5 of type number',
      'Expected an integer between 1 and 8 for radius but received 0 of type number',
      'Expected an integer >= 0 for seed but received -1 of type number',
    ]);
    // 1e20 fails two checks (a safe integer, the maximum) with one message: said once.
    expect(() => resolveModelOptions({ dims: 2, seed: 1e20 })).toThrow(
      new ConfigError(['Expected an integer >= 0 for seed but received 100000000000000000000 of type number']),
    );
  });

  it('converts training options into the native form', () => {
    expect(
      resolveTrainingOptions({ cropSize: [32, 48], views: { degree: 1 }, optimizer: { kind: 'sgd' }, gradClip: 0 }, 2),
    ).toMatchObject({
      views: { degree: 1, cropSize: [32, 48], appearance: true, elasticAmplitude: 3 },
      optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
      gradClip: 0,
      consistencyWeight: 1,
    });
  });

  it('checks option pairs and bounds before any training step', () => {
    const views = (v: object) => () => resolveTrainingOptions({ cropSize: [32, 32], views: v }, 2);
    expect(views({ contrastMin: 2, contrastMax: 1 })).toThrow(
      'Expected a number >= contrastMin (2) for views.contrastMax but received 1',
    );
    expect(views({ inpaintMinFraction: 0.5, inpaintMaxFraction: 0.2 })).toThrow(
      'Expected a fraction >= inpaintMinFraction (0.5) for views.inpaintMaxFraction but received 0.2',
    );
    expect(views({ elasticAmplitude: 2, elasticSigma: 0 })).toThrow(
      'Expected a smoothing of at least 0.5 voxels while elasticAmplitude is on for views.elasticSigma but received 0',
    );
    expect(views({ elasticSigma: 1e-300 })).toThrow(/at least 0.5 voxels/);
    expect(views({ elasticSigma: 0.5 })).not.toThrow();
    expect(views({ noiseStdMax: 1e30 })).toThrow('Expected a number between 0 and 1 for views.noiseStdMax');
    expect(views({ elasticAmplitude: 0, elasticSigma: 0 })).not.toThrow(); // no smoothing needed while elastic is off
    expect(views({ elasticSigma: 0 })).toThrow(/elasticSigma/); // elastic is on by default
    const optimizer = (o: object) => () => resolveTrainingOptions({ cropSize: [32, 32], optimizer: o }, 2);
    expect(optimizer({ kind: 'sgd', nesterov: true, momentum: 0 })).toThrow(
      'Expected a number > 0 while nesterov is on for optimizer.momentum but received 0',
    );
    expect(optimizer({ kind: 'sgd', nesterov: true, momentum: 0.5 })).not.toThrow();
    expect(optimizer({ weightDecay: 1e39 })).toThrow(
      'Expected a number between 0 and 3.4e38 (the largest float32) for optimizer.weightDecay but received 1e+39',
    );
    expect(() => resolveModelOptions({ dims: 2, channels: [8, 8, 8, 8, 24576] })).toThrow(
      'Expected an integer between 8 and 2048 for channels[4] but received 24576',
    );
  });

  it('fills in every training default, so a run records the values that produced it', () => {
    const resolved = resolveTrainingOptions({ cropSize: [32, 32] }, 2);
    expect(Object.keys(resolved.views!).sort()).toEqual(
      [
        'appearance',
        'brightnessStd',
        'contrastMax',
        'contrastMin',
        'cropSize',
        'degree',
        'elasticAmplitude',
        'elasticSigma',
        'inpaintMaxBoxes',
        'inpaintMaxFraction',
        'inpaintMinFraction',
        'inpaintProbability',
        'noiseStdMax',
      ].sort(),
    );
    expect(resolved).toMatchObject({ gradClip: 1, consistencyFeatures: 'backbone', seed: 0 });
    expect(resolvePretrainConfig({ demo: true }).training).toMatchObject({
      views: { degree: 0.5, inpaintMaxBoxes: 10 },
      optimizer: { kind: 'adam', beta2: 0.999 },
    });
  });
});

describe('pretraining configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-config-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('decides defaults from dims and demo versus data', () => {
    const demo = resolvePretrainConfig({ demo: true });
    expect(demo).toMatchObject({ dims: 2, steps: 300, batchSize: 4, warmupSteps: 15, out: 'runs/demo-2d' });
    expect(demo.training.cropSize).toEqual([64, 64]);
    const data = resolvePretrainConfig({ dims: 3, data: { sources: ['a.nii.gz'] } });
    expect(data).toMatchObject({ steps: 2000, batchSize: 1, out: 'runs/pretrain-3d' });
    expect(data.training.cropSize).toEqual([64, 64, 64]);
    expect(data.data).toMatchObject({ normalize: { kind: 'percentile', lower: 0.5, upper: 99.5 }, onError: 'error' });
  });

  it('explains wrong configurations', () => {
    expect(() => resolvePretrainConfig({})).toThrow('Expected data.sources (your images) or demo: true');
    // A run's seed also seeds the 32-bit batch sampler: larger ones would repeat smaller ones' batches.
    expect(resolvePretrainConfig({ demo: true, seed: 2 ** 32 - 1 }).seed).toBe(2 ** 32 - 1);
    expect(() => resolvePretrainConfig({ demo: true, seed: 2 ** 32 })).toThrow(
      'Expected an integer between 0 and 4294967295 for seed but received 4294967296',
    );
    expect(() => resolvePretrainConfig({ demo: true, data: { sources: ['x'] } })).toThrow('either demo: true or data');
    expect(() => resolvePretrainConfig({ demo: true, training: { views: { degre: 1 } } })).toThrow(
      'Unknown option "degre" in training.views; did you mean "degree"?',
    );
    expect(() => resolvePretrainConfig({ dims: 3, demo: true, training: { cropSize: [32, 32] } })).toThrow(
      'Expected an array of 3 integers for training.cropSize (dims is 3) but received [32, 32]',
    );
    expect(() => resolvePretrainConfig({ data: { sources: [] } })).toThrow(
      'Expected a list of paths or glob patterns for data.sources but received an array of length 0',
    );
    expect(() => resolvePretrainConfig({ data: { sources: ['x'], normalize: { kind: 'zscore' } } })).toThrow(
      'Expected an object with kind "percentile", "window", "ct", "minmax" or "none" for data.normalize.kind but received "zscore" of type string',
    );
    expect(() =>
      resolvePretrainConfig({ data: { sources: ['x'], normalize: { kind: 'ct', preset: 'lungs' } } }),
    ).toThrow(
      'Expected one of "soft-tissue", "lung", "bone", "brain", "liver", "mediastinum" for data.normalize.preset but received "lungs" of type string',
    );
    expect(() => resolvePretrainConfig({ demo: true, learningRate: 0 })).toThrow(/for learningRate but received 0/);
  });

  it('reads YAML and JSON files, with command-line overrides on top', async () => {
    const yaml = write(
      'run.yaml',
      [
        'dims: 2',
        'data:',
        '  sources: [scans/*.nii.gz]',
        '  normalize: { kind: ct, preset: lung }',
        'steps: 100',
        'training:',
        '  views: { degree: 0.3 }',
      ].join('\n'),
    );
    const config = await parsePretrainArgs([
      '--config',
      yaml,
      '--steps',
      '50',
      '--set',
      'training.views.appearance=false',
      '--crop',
      '96',
    ]);
    expect(config.steps).toBe(50);
    expect(config.training).toMatchObject({ cropSize: [96, 96], views: { degree: 0.3, appearance: false } });
    expect(config.data?.normalize).toEqual({ kind: 'ct', preset: 'lung' });
    // Paths in a config file are relative to the file.
    expect(config.data?.sources).toEqual([path.join(dir, 'scans/*.nii.gz')]);
    const json = write('run.json', JSON.stringify({ demo: true, model: { radius: 1 } }));
    expect((await parsePretrainArgs(['--config', json])).model.radius).toBe(1);
    expect((await parsePretrainArgs(['--config', json, '--device', 'cuda:1'])).model.device).toBe('cuda:1');
    expect((await parsePretrainArgs(['--config', json])).model.device).toBe('cpu');
    await expect(parsePretrainArgs(['--config', json, '--device', 'gpu'])).rejects.toThrow(
      `Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for model.device but received "gpu" of type string (from --device)`,
    );
    // --demo and --data override the file's choice of data instead of clashing with it.
    expect((await parsePretrainArgs(['--config', yaml, '--demo'])).data).toBeUndefined();
    expect((await parsePretrainArgs(['--config', json, '--data', 'x.nii'])).data?.sources).toEqual([
      path.resolve('x.nii'),
    ]);
    // Sources given by --set are the command line's too, however the group is spelt.
    for (const set of ['data.sources=[x.nii]', 'data={sources: [x.nii]}']) {
      expect((await parsePretrainArgs(['--config', yaml, '--set', set])).data?.sources).toEqual([
        path.resolve('x.nii'),
      ]);
    }
    // Other data options from the command line leave the file's sources relative to the file.
    expect((await parsePretrainArgs(['--config', yaml, '--set', 'data.spacing=[1,1,1]'])).data?.sources).toEqual([
      path.join(dir, 'scans/*.nii.gz'),
    ]);
  });

  it('accepts the README example configuration', async () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const example = /```yaml\n(# run\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const config = await parsePretrainArgs(['--config', write('readme.yaml', example!)]);
    expect(config).toMatchObject({ dims: 3, steps: 5000, batchSize: 1 });
    expect(config.data?.normalize).toEqual({ kind: 'ct', preset: 'soft-tissue' });
  });

  it('takes early stopping from the command line, with its defaults filled in', async () => {
    const config = await parsePretrainArgs(['--demo', '--set', 'earlyStopping.patience=3']);
    expect(config.earlyStopping).toEqual({ monitor: 'vectorRatio', mode: 'min', patience: 3, minDelta: 0 });
    await expect(parsePretrainArgs(['--demo', '--set', 'earlyStopping.monitor=gradNorm'])).rejects.toThrow(
      /earlyStopping\.monitor/,
    );
  });

  it('names the flag a bad value came from, and the file a bad file', async () => {
    await expect(parsePretrainArgs(['--demo', '--steps', 'many'])).rejects.toThrow(
      'Invalid command line: Expected an integer >= 1 for steps but received "many" of type string (from --steps)',
    );
    await expect(parsePretrainArgs(['--demo', '--crop', '30'])).rejects.toThrow(
      'Expected a multiple of 16 for training.cropSize[0] but received 30 of type number (from --crop)',
    );
    await expect(parsePretrainArgs(['--demo', '--set', 'training.views.elastic=2'])).rejects.toThrow(
      /Unknown option "elastic" in training.views; did you mean "elasticAmplitude"\?.*\(from --set training.views.elastic\)/,
    );
    await expect(parsePretrainArgs(['--demo', '--step', '3'])).rejects.toThrow('unknown option --step');
    const bad = write('bad.yaml', 'steps: [1,\n');
    await expect(parsePretrainArgs(['--config', bad])).rejects.toThrow(`The config file ${bad} is not valid YAML`);
    const list = write('list.yaml', '- 1\n- 2\n');
    await expect(parsePretrainArgs(['--config', list])).rejects.toThrow('must hold a mapping of options');
    const typo = write('typo.yaml', 'demo: true\nstep: 10\n');
    await expect(parsePretrainArgs(['--config', typo])).rejects.toThrow(
      `Invalid configuration (${typo} and the command line): Unknown option "step" in the configuration; did you mean "steps"?`,
    );
    await expect(parsePretrainArgs(['--config', path.join(dir, 'missing.yaml')])).rejects.toThrow(
      'Cannot read the config file',
    );
  });

  it('refuses a JSON config file that sets an option twice, as YAML does', async () => {
    const twice = write('twice.json', '{ "demo": true, "training": { "learningRate": 1e-3, "learningRate": 1e-4 } }');
    await expect(parsePretrainArgs(['--config', twice])).rejects.toThrow(
      `The config file ${twice} sets an option twice (remove one of them): Map keys must be unique`,
    );
    const yaml = write('twice.yaml', 'demo: true\nsteps: 3\nsteps: 4\n');
    await expect(parsePretrainArgs(['--config', yaml])).rejects.toThrow('Map keys must be unique');
    const once = write('once.json', '{\t"demo": true, "steps": 3 }');
    expect((await parsePretrainArgs(['--config', once])).steps).toBe(3);
  });

  // Each of these used to be accepted and to train on something else than asked.
  it('refuses flags that contradict each other or themselves, and takes the last of a repeated one', async () => {
    await expect(parsePretrainArgs(['--demo', '--resume=false'])).rejects.toThrow(
      '--resume takes no value (it is a switch), got "--resume=false"',
    );
    await expect(parsePretrainArgs(['--data', 'scans', '--demo'])).rejects.toThrow(
      '--demo and --data exclude each other',
    );
    const file = write('twice.yaml', 'demo: true\n');
    await expect(parsePretrainArgs(['--config', file, '--config', file])).rejects.toThrow('--config given twice');
    expect((await parsePretrainArgs(['--demo', '--crop', '32', '--crop', '64'])).training.cropSize).toEqual([64, 64]);
    // A shell-expanded glob after --data: every path up to the next option is a source.
    const sources = (await parsePretrainArgs(['--data', 'a.nii', 'b.nii', '--steps', '5', '--data', 'c'], '/cwd')).data!
      .sources;
    expect(sources).toEqual(['/cwd/a.nii', '/cwd/b.nii', '/cwd/c']);
    await expect(parsePretrainArgs(['--demo', 'stray'])).rejects.toThrow('unexpected argument "stray"');
    await expect(parsePretrainArgs(['--demo', '--steps', '2', '--set', 'warmupSteps=5'])).rejects.toThrow(
      'Invalid command line: Expected warmupSteps between 0 and steps (2) but received 5 (from --set warmupSteps)',
    );
    expect((await parsePretrainArgs(['--demo', '--crop', '32', '--dims', '3'])).training.cropSize).toEqual([
      32, 32, 32,
    ]);
  });
});
