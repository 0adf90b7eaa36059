import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { pretrain } from '../../lib/cli/pretrain';
import {
  CoverModel,
  Trainer,
  phantomBatches,
  resolvePretrainConfig,
  silentLogger,
  type FitResult,
  type StepRecord,
  type TrainingOptions,
} from '../../lib';

const cli = path.resolve(__dirname, '../../dist/lib/cli.js');
const small = { dims: 2 as const, channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

describe('pretraining', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-torch-pretrain-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the CLI demo end to end, leaving checkpoints and metrics', async () => {
    const out = path.join(dir, 'demo');
    const args = ['--demo', '--steps', '4', '--crop', '32', '--batch-size', '2', '--checkpoint-every', '2'];
    const run = spawnSync(process.execPath, [cli, 'pretrain', ...args, '--out', out], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(''); // status goes to stderr; stdout stays clean for pipes
    expect(run.stderr).toMatch(/pretraining a 2D model \(7,881,712 parameters\) on demo phantoms {2}steps=4/);
    expect(run.stderr).toMatch(/step 4\/4 {2}L_vec=\d[\d.]* no_motion=\d/);
    const metrics = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(metrics.every((m) => Number.isFinite(m.vectorLoss) && m.learningRate >= 0)).toBe(true);
    const latest = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'latest.json'), 'utf8'));
    expect(latest).toEqual({ step: 4, path: 'step-000004' });
    // The phantoms were trained on as drawn: encoders of the run must not normalise them,
    // whichever of its weights files they load (checkpoints too).
    const metadataOf = (file: string) => {
      const bytes = fs.readFileSync(file);
      return JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()).__metadata__;
    };
    const final = metadataOf(path.join(out, 'final.safetensors'));
    expect(JSON.parse(final['cover-torch.preprocessing'])).toEqual({
      dims: 2,
      demo: true,
      normalize: { kind: 'none' },
      cropSize: [32, 32],
    });
    expect(final['cover-torch.steps']).toBe('4');
    const checkpoint = metadataOf(path.join(out, 'checkpoints', 'step-000002', 'model.safetensors'));
    expect(checkpoint['cover-torch.preprocessing']).toBe(final['cover-torch.preprocessing']);
    // The network before step 1 is kept: the seed's draw, not the trained weights.
    const initialFile = path.join(out, 'initial.safetensors');
    const initial = metadataOf(initialFile);
    expect(initial['cover-torch.steps']).toBe('0');
    expect(initial['cover-torch.preprocessing']).toBe(final['cover-torch.preprocessing']);
    const [recorded, drawn, trained] = await Promise.all([
      CoverModel.load(initialFile),
      CoverModel.create({ dims: 2, seed: 0 }),
      CoverModel.load(path.join(out, 'final.safetensors')),
    ]);
    try {
      const weight = async (model: CoverModel) => (await model.stateDict())['backbone.inc.double_conv.0.weight']!.data;
      expect(await weight(recorded)).toEqual(await weight(drawn));
      expect(await weight(recorded)).not.toEqual(await weight(trained));
    } finally {
      [recorded, drawn, trained].forEach((model) => model.dispose());
    }
    const kept = fs.readdirSync(path.join(out, 'checkpoints')).sort();
    expect(kept.filter((name) => !name.startsWith('best'))).toEqual(['latest.json', 'step-000002', 'step-000004']);
    // The best checkpoint is one of the two written, and best.json names it.
    const best = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'best.json'), 'utf8'));
    expect(kept).toContain(best.path);
    expect([2, 4]).toContain(best.step);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'step-000004', 'model.safetensors'))).toBe(true);
    // The run ends with whether it learned (L_vec against no motion at both ends) and the best checkpoint.
    const ratio = (m: { vectorLoss: number; zeroBaseline: number }) => m.vectorLoss / m.zeroBaseline;
    const first = (ratio(metrics[0]) + ratio(metrics[1])) / 2;
    const last = (ratio(metrics[2]) + ratio(metrics[3])) / 2;
    const done = /done {2}first_L_vec\/no_motion=([\d.]+) last_L_vec\/no_motion=([\d.]+) final=\S+ best=(\S+)/.exec(
      run.stderr,
    );
    expect(done).not.toBeNull();
    expect(Number(done![1])).toBeCloseTo(first, 2);
    expect(Number(done![2])).toBeCloseTo(last, 2);
    expect(done![3]).toBe(path.join(out, 'checkpoints', best.path));

    // A resume with a setting that shaped the first steps is refused, config.yaml untouched.
    const config = fs.readFileSync(path.join(out, 'config.yaml'), 'utf8');
    const changed = spawnSync(process.execPath, [cli, 'pretrain', ...args, '--seed', '3', '--out', out, '--resume'], {
      encoding: 'utf8',
    });
    expect(changed.status).toBe(2);
    expect(changed.stderr).toContain(
      `--resume continues ${out} as its config.yaml describes, but these differ:\n  seed: 0 -> 3`,
    );
    expect(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8')).toBe(config);
    // More steps by flags move the default warmup (5% of them): the refusal says how to keep it.
    const longer = args.map((arg, i) => (args[i - 1] === '--steps' ? '40' : arg));
    const more = spawnSync(process.execPath, [cli, 'pretrain', ...longer, '--out', out, '--resume'], {
      encoding: 'utf8',
    });
    expect(more.status).toBe(2);
    expect(more.stderr).toContain('warmupSteps: 0 -> 2');
    expect(more.stderr).toContain("keep the run's with --set warmupSteps=0");
    // The way it offers, the run's own config.yaml with more steps, extends the run; what a
    // save killed midway left in the run folder goes (a process id no process has).
    const leftover = path.join(out, '.final.safetensors.4194999.0f8e2a3c-1b2d-4e5f-8a9b-0c1d2e3f4a5b.tmp');
    fs.writeFileSync(leftover, 'partial');
    const extended = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', path.join(out, 'config.yaml'), '--resume', '--steps', '5'],
      { encoding: 'utf8' },
    );
    expect(extended.stderr).not.toMatch(/differ|Error/);
    expect(extended.status).toBe(0);
    const steps = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(steps.map((line) => JSON.parse(line).step)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.existsSync(leftover)).toBe(false);
  });

  const ch2 = '/usr/share/mricron/templates/ch2.nii.gz'; // Debian's mricron-data (.ci/run installs it)

  it('pretrains on a real NIfTI volume from a YAML config file, and names an unreadable file', async () => {
    const config = path.join(dir, 'real.yaml');
    fs.writeFileSync(
      config,
      [
        'data:',
        `  sources: [${ch2}]`,
        '  sliceAxis: any',
        'model: { channels: [8, 16, 16, 16, 16] }',
        'training: { cropSize: [32, 32] }',
        'steps: 3',
        'batchSize: 2',
        'checkpointEvery: 3',
      ].join('\n'),
    );
    const out = path.join(dir, 'real');
    const run = spawnSync(process.execPath, [cli, 'pretrain', '--config', config, '--out', out], { encoding: 'utf8' });
    expect(run.stderr).toMatch(/pretraining a 2D model \(\d[\d,]* parameters\) on 1 image {2}steps=3/);
    expect(run.status).toBe(0);
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(metrics).toHaveLength(3);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'step-000003', 'model.safetensors'))).toBe(true);
    // The finished run's weights under a stable name, recording how its images were prepared.
    expect(run.stderr).toContain(`final=${path.join(out, 'final.safetensors')}`);
    const final = await CoverModel.load(out); // a run folder: its final.safetensors
    expect(JSON.parse(final.metadata['cover-torch.preprocessing']!)).toEqual({
      dims: 2,
      normalize: { kind: 'percentile', lower: 0.5, upper: 99.5 },
      sliceAxis: 'any',
      cropSize: [32, 32],
    });
    expect(final.metadata['cover-torch.steps']).toBe('3');
    await final.dispose();
    // A checkpoint folder loads too; a folder without weights says what it looked for.
    await (await CoverModel.load(path.join(out, 'checkpoints', 'step-000003'))).dispose();
    await expect(CoverModel.load(dir)).rejects.toThrow(`${dir} holds no weights (no final.safetensors`);
    // The run folder records its resolved configuration, valid as a config file again.
    const saved = YAML.parse(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8'));
    expect(resolvePretrainConfig(saved)).toMatchObject({
      steps: 3,
      batchSize: 2,
      data: { sources: [ch2], sliceAxis: 'any', maxVoxels: 2 ** 29 },
    });
    const printed = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', config, '--print-config', '--out', path.join(dir, 'none')],
      {
        encoding: 'utf8',
      },
    );
    expect(printed.status).toBe(0);
    expect(YAML.parse(printed.stdout)).toEqual(saved === undefined ? {} : { ...saved, out: path.join(dir, 'none') });
    expect(fs.existsSync(path.join(dir, 'none'))).toBe(false);

    // A fresh run into the same folder would mix two runs: refused, nothing touched.
    const again = spawnSync(process.execPath, [cli, 'pretrain', '--config', config, '--out', out], {
      encoding: 'utf8',
    });
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`${out} already holds a run`);
    expect(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);

    // The first kilobyte of the same file: the gzip stream ends early.
    const truncated = path.join(dir, 'truncated.nii.gz');
    fs.writeFileSync(truncated, fs.readFileSync(ch2).subarray(0, 1024));
    const brokenOut = path.join(dir, 'broken');
    const broken = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', config, '--data', truncated, '--out', brokenOut],
      {
        encoding: 'utf8',
      },
    );
    expect(broken.status).toBe(2);
    expect(broken.stderr).toContain(`cover-torch pretrain: ${truncated}: `);
    // Nothing was written for it: no folder with a config of a run that never started.
    expect(fs.existsSync(brokenOut)).toBe(false);

    // A volume over data.maxVoxels is refused from its header, naming the limit.
    const limited = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', config, '--set', 'data.maxVoxels=1000', '--out', brokenOut],
      { encoding: 'utf8' },
    );
    expect(limited.status).toBe(2);
    expect(limited.stderr).toContain(
      `${ch2}: image of 181 x 217 x 181 voxels (7,109,137) is larger than the 1,000 voxels accepted`,
    );
    expect(fs.existsSync(brokenOut)).toBe(false);
  });

  it('says how to go on when an image stops a run mid-way, and resumes passing over it', async () => {
    const config = path.join(dir, 'mid-way.yaml');
    const truncated = path.join(dir, 'broken.nii.gz');
    fs.writeFileSync(truncated, fs.readFileSync(ch2).subarray(0, 1024));
    fs.writeFileSync(
      config,
      [
        `data: { sources: [${ch2}, ${truncated}] }`,
        'model: { channels: [8, 16, 16, 16, 16] }',
        'training: { cropSize: [32, 32] }',
        'steps: 8',
        'batchSize: 1',
        'seed: 3', // draws ch2 for the first steps, then the broken file
      ].join('\n'),
    );
    const out = path.join(dir, 'mid-way');
    // --check-data finds the broken file first: listed on stdout, exit 1, no run folder.
    const checked = spawnSync(process.execPath, [cli, 'pretrain', '--config', config, '--out', out, '--check-data'], {
      encoding: 'utf8',
    });
    expect(checked.status).toBe(1);
    expect(checked.stdout).toBe(
      `${truncated}: gzip data is corrupt or truncated (unexpected end of file), expected a complete .gz file; download or copy it again\n`,
    );
    expect(checked.stderr).toMatch(
      /checked {2}images=2 readable=1 failed=1 seconds=[\d.]+ shape=181x217x181 spacing="1 x 1 x 1 mm"/,
    );
    expect(checked.stderr).toContain('a run would stop at the first of the 1 listed that it draws');
    expect(fs.existsSync(out)).toBe(false);
    const skipping = spawnSync(
      process.execPath,
      [cli, 'pretrain', '--config', config, '--check-data', '--set', 'data.onError=skip'],
      {
        encoding: 'utf8',
      },
    );
    expect(skipping.status).toBe(1);
    expect(skipping.stderr).toContain('a run would pass over the 1 listed (data.onError is skip)');
    // Interrupted (Ctrl-C), the check stops with 130 and lists nothing.
    const interrupted = new AbortController();
    interrupted.abort();
    let written = '';
    const output = { isTTY: false, write: (text: string) => (written += text) };
    expect(await pretrain(['--config', config, '--check-data'], output, interrupted.signal)).toBe(130);
    expect(written).toContain('interrupted: the check did not finish');
    const stopped = spawnSync(process.execPath, [cli, 'pretrain', '--config', config, '--out', out], {
      encoding: 'utf8',
    });
    expect(stopped.status).toBe(2);
    const resume = `npx cover-torch pretrain --config ${path.join(out, 'config.yaml')} --resume --set data.onError=skip`;
    expect(stopped.stderr).toContain(`${truncated}: gzip data is corrupt or truncated`);
    expect(stopped.stderr).toContain(resume);
    const steps = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
    expect(steps).toBeGreaterThan(0);
    const resumed = spawnSync(process.execPath, [cli, ...resume.split(' ').slice(2)], { encoding: 'utf8' });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain('skipping an unreadable image');
    expect(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(8);
  });

  it('draws a progress line on a terminal only where the step lines would show', async () => {
    const seen = async (level: string) => {
      let text = '';
      const output = { isTTY: true, columns: 100, write: (chunk: string) => (text += chunk) };
      const args = ['--demo', '--steps', '2', '--crop', '32', '--batch-size', '1', '--log-level', level];
      expect(await pretrain([...args, '--out', path.join(dir, `tty-${level}`)], output)).toBe(0);
      return text;
    };
    expect(await seen('info')).toContain('2/2');
    expect(await seen('warn')).toBe('');
  });

  it('explains bad command-line arguments', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'pretrain', ...args], { encoding: 'utf8' });
    expect(run('--demo', '--dims', '4').stderr).toContain(
      'Invalid command line: Expected 2 or 3 for dims but received 4 of type number (from --dims)',
    );
    expect(run('--demo', '--crop', '30').stderr).toContain(
      'Expected a multiple of 16 for training.cropSize[0] but received 30 of type number (from --crop)',
    );
    expect(run('--demo', '--step', '3').stderr).toContain('unknown option --step; did you mean --steps?');
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: cover-torch pretrain (--demo | --data PATH... | --config FILE)');
    const noData = run('--steps', '3');
    expect(noData.status).toBe(2);
    expect(noData.stderr).toContain('Expected data.sources (your images) or demo: true');
    const missing = run('--data', '/nonexistent/scans', '--steps', '1');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('data.sources[0]: cannot read "/nonexistent/scans"');
    const file = path.join(dir, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const intoFile = run('--demo', '--steps', '1', '--out', file);
    expect(intoFile.status).toBe(2);
    expect(intoFile.stderr).toContain(`--out ${file} is a file; expected a folder for the run`);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    // A folder holding the metrics of a run stopped before its first checkpoint is a run too.
    const unfinished = path.join(dir, 'unfinished');
    fs.mkdirSync(unfinished);
    fs.writeFileSync(path.join(unfinished, 'metrics.jsonl'), '{"step":1}\n');
    const again = run('--demo', '--steps', '1', '--out', unfinished);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(
      `${unfinished} already holds a run (latest checkpoint: none yet, but metrics.jsonl)`,
    );
    expect(fs.readFileSync(path.join(unfinished, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n');
    // So is a finished run whose checkpoints were deleted: its weights would be replaced.
    const finished = path.join(dir, 'finished');
    fs.mkdirSync(finished);
    fs.writeFileSync(path.join(finished, 'final.safetensors'), 'weights');
    const over = run('--demo', '--steps', '1', '--out', finished);
    expect(over.status).toBe(2);
    expect(over.stderr).toContain(`${finished} already holds a finished run (final.safetensors, no checkpoints)`);
    expect(fs.readdirSync(finished)).toEqual(['final.safetensors']);
  });

  it('stops on abort after the running step with a valid checkpoint, and resumes to the same losses', async () => {
    const training: TrainingOptions<2> = { cropSize: [32, 32], seed: 3 };
    const collect = async (trainer: Trainer, model: CoverModel) => {
      const losses: number[] = [];
      for await (const record of trainer.steps(phantomBatches(2, [48, 48], 5))) losses.push(record.totalLoss);
      void model;
      return losses;
    };

    const whole = await CoverModel.create({ ...small, seed: 9 });
    whole.configureTraining(training);
    const full = await collect(new Trainer(whole, { maxSteps: 4, learningRate: 1e-3 }), whole);
    whole.dispose();

    const checkpoints = path.join(dir, 'abort');
    const csvFile = path.join(dir, 'abort-metrics.csv');
    const first = await CoverModel.create({ ...small, seed: 9 });
    first.configureTraining(training);
    const controller = new AbortController();
    const trainer = new Trainer(first, {
      maxSteps: 4,
      learningRate: 1e-3,
      csvFile,
      signal: controller.signal,
      checkpoint: { dirpath: checkpoints, everyNTrainSteps: 100 },
    });
    trainer.on('trainBatchEnd', (record: StepRecord) => {
      if (record.step === 2) controller.abort();
    });
    const head = await collect(trainer, first);
    first.dispose();
    expect(head).toHaveLength(2);
    expect(JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')).step).toBe(2);

    // What a run killed mid-checkpoint leaves is cleared by the next run in the folder.
    const staging = path.join(checkpoints, '.step-000003.4242.tmp');
    fs.mkdirSync(staging);
    // The batches restart from the beginning of the stream, so skip the two used ones.
    const resumed = await CoverModel.create({ ...small, seed: 1 });
    resumed.configureTraining(training);
    const rest: number[] = [];
    const again = new Trainer(resumed, {
      maxSteps: 4,
      learningRate: 1e-3,
      csvFile,
      resume: true,
      checkpoint: { dirpath: checkpoints },
    });
    // A batch source given as a function of the start step continues where the run stopped.
    again.on('trainBatchEnd', (record) => rest.push(record.totalLoss));
    const result = await again.fit((start) => phantomBatches(2, [48, 48], 5, start));
    resumed.dispose();
    expect([...head, ...rest]).toEqual(full);
    expect(result).toMatchObject({ step: 4, stopped: false, last: { step: 4, startStep: 2 } });
    expect(result.checkpoint).toBe(path.join(checkpoints, 'step-000004'));
    expect(fs.existsSync(staging)).toBe(false);
    // The CSV of both parts: one header, one row per step, the losses that were trained.
    const [header, ...rows] = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
    const columns = header!.split(',');
    expect(columns).toEqual(expect.arrayContaining(['step', 'totalLoss', 'learningRate', 'timings.stepMs', 'skipped']));
    const cell = (row: string, name: string) => Number(row.split(',')[columns.indexOf(name)]);
    expect(rows.map((row) => cell(row, 'step'))).toEqual([1, 2, 3, 4]);
    expect(rows.map((row) => cell(row, 'totalLoss'))).toEqual(full);
  });

  it('fit() trains to the end; leaving a steps() loop early keeps a checkpoint and says it stopped', async () => {
    const model = await CoverModel.create({ ...small, seed: 2 });
    model.configureTraining({ cropSize: [32, 32], seed: 1 });
    const ends: FitResult[] = [];
    const whole = new Trainer(model, { maxSteps: 3, learningRate: 1e-3 });
    whole.on('end', (result) => ends.push(result));
    const done = await whole.fit(phantomBatches(2, [48, 48], 5));
    expect(done).toMatchObject({ step: 3, stopped: false, checkpoint: undefined, last: { step: 3, startStep: 0 } });

    const checkpoints = path.join(dir, 'break');
    const early = new Trainer(model, { maxSteps: 10, learningRate: 1e-3, checkpoint: { dirpath: checkpoints } });
    early.on('end', (result) => ends.push(result));
    for await (const record of early.steps(phantomBatches(2, [48, 48], 5))) if (record.step === 2) break;
    expect(ends.map(({ step, stopped }) => ({ step, stopped }))).toEqual([
      { step: 3, stopped: false },
      { step: 2, stopped: true },
    ]);
    expect(ends[1]!.checkpoint).toBe(path.join(checkpoints, 'step-000002'));
    expect(JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')).step).toBe(2);

    // Weights-only checkpoints: a third of the size, and a resume from one still works.
    const light = path.join(dir, 'light');
    await new Trainer(model, { maxSteps: 2, checkpoint: { dirpath: light, weightsOnly: true } }).fit(
      phantomBatches(2, [48, 48], 5),
    );
    expect(fs.readdirSync(path.join(light, 'step-000002')).sort()).toEqual(['meta.json', 'model.safetensors']);
    const warnings: string[] = [];
    const resumed = await new Trainer(model, {
      maxSteps: 3,
      resume: true,
      checkpoint: { dirpath: light, weightsOnly: true },
      logger: { ...silentLogger, warn: (message) => warnings.push(message) },
    }).fit(phantomBatches(2, [48, 48], 5));
    expect(resumed).toMatchObject({ step: 3, stopped: false, last: { startStep: 2 } });
    expect(warnings).toEqual(['the checkpoint holds weights only: optimiser moments and views start afresh']);

    // A throw in the caller's loop does the same and the caller's error comes through.
    const thrown = path.join(dir, 'throw');
    const failing = new Trainer(model, { maxSteps: 10, learningRate: 1e-3, checkpoint: { dirpath: thrown } });
    const run = async () => {
      for await (const record of failing.steps(phantomBatches(2, [48, 48], 5)))
        if (record.step === 1) throw new Error('caller gave up');
    };
    await expect(run()).rejects.toThrow('caller gave up');
    expect(JSON.parse(fs.readFileSync(path.join(thrown, 'latest.json'), 'utf8')).step).toBe(1);
    // @ts-expect-error: events are typed, a misspelt one does not compile
    early.on('chekpoint', () => undefined);
    model.dispose();
  });
});
