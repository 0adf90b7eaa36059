import fs from 'node:fs';
import path from 'node:path';
import { CoverModel, Segmenter, normalizeIntensity, readNifti, scoreSegmentation, tensor } from '../../lib';
import { runCli } from '../../lib/cli/runCli';
import { finetune } from '../../lib/cli/finetune';
import { PNG } from 'pngjs';
import { useTempDir } from '../tempDir';
import { niftiBytes } from '../unit/niftiBytes';

const [D, H, W] = [3, 24, 28];

/** A volume with smooth intensities and its labels: 1 where bright, 0 elsewhere. */
function writeCase(folder: string, name: string, phase: number): { image: string; labels: string } {
  const values: number[] = [];
  const labels: number[] = [];
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const v = 100 + 80 * Math.sin(x / 4 + phase + z) * Math.cos(y / 5 - phase);
        values.push(v);
        labels.push(v > 120 ? 1 : 0);
      }
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'labels'), { recursive: true });
  const image = path.join(folder, 'images', `${name}.nii`);
  const labelFile = path.join(folder, 'labels', `${name}.nii`);
  fs.writeFileSync(image, niftiBytes({ dims: [3, W, H, D], values, pixdim: [1, 0.8, 0.9, 2] }));
  fs.writeFileSync(
    labelFile,
    niftiBytes({ dims: [3, W, H, D], values: labels, datatype: 2, pixdim: [1, 0.8, 0.9, 2] }),
  );
  return { image, labels: labelFile };
}

describe('cover-torch finetune and evaluate', () => {
  const tempDir = useTempDir('cover-finetune-cli');

  it('fine-tune a 2D encoder on the slices of labelled volumes, then score whole volumes', async () => {
    const model = await CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 16], seed: 11 });
    const weights = path.join(tempDir(), 'final.safetensors');
    const preprocessing = { dims: 2, normalize: { kind: 'minmax' }, sliceAxis: 'axial' };
    await model.save(weights, { metadata: { 'cover-torch.preprocessing': JSON.stringify(preprocessing) } });
    await model.dispose();
    const cases = [writeCase(tempDir(), 'a', 0), writeCase(tempDir(), 'b', 1.3)];
    const out = path.join(tempDir(), 'segmenter.safetensors');
    const printed: string[] = [];
    const progress: string[] = [];
    const tuned = await runCli(
      ['finetune', '--weights', weights, '--images', path.join(tempDir(), 'images'), '--labels']
        .concat([path.join(tempDir(), 'labels'), '--classes', '2', '--out', out, '--steps', '50'])
        .concat(['--crop', '16', '--lr', '3e-3']),
      (text) => printed.push(text),
      (text) => progress.push(text),
    );
    expect(tuned).toBe(0);
    expect(printed.join('')).toMatch(new RegExp(`^wrote ${out}: 2 classes, 50 steps on 6 labelled images`));
    expect(progress.join('')).toContain('crops [16, 16]');

    const json = path.join(tempDir(), 'scores.json');
    const reportFile = path.join(tempDir(), 'report.html');
    const run = path.join(tempDir(), 'run');
    fs.mkdirSync(run);
    const record = (step: number) =>
      JSON.stringify({
        step,
        vectorLoss: 2 / step,
        zeroBaseline: 3,
        consistencyLoss: 0.5,
        reachableFraction: 1,
        featureVariation: 0.1,
      });
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), [1, 2, 3].map(record).join('\n') + '\n');
    fs.copyFileSync(weights, path.join(run, 'final.safetensors')); // the run's network, for the correspondence check
    const evaluated = await runCli(
      ['evaluate', out, '--images', cases[0]!.image, '--labels', cases[0]!.labels, '--json', json].concat([
        '--report',
        reportFile,
        '--run',
        run,
      ]),
      (text) => printed.push(text),
      (text) => progress.push(text),
    );
    expect(evaluated).toBe(0);
    // Labels the segmenter has no class for are named with their file, before any prediction.
    const foreign = path.join(tempDir(), 'foreign-labels.nii');
    const threes = new Array(D * H * W).fill(0).fill(3, 100, 101);
    fs.writeFileSync(
      foreign,
      niftiBytes({ dims: [3, W, H, D], values: threes, datatype: 2, pixdim: [1, 0.8, 0.9, 2] }),
    );
    const refused: string[] = [];
    expect(
      await runCli(
        ['evaluate', out, '--images', cases[0]!.image, '--labels', foreign],
        () => undefined,
        (text) => refused.push(text),
      ),
    ).toBe(2);
    expect(refused.join('')).toContain(
      `the labels of ${cases[0]!.image} hold 3 (voxel 100), but the segmenter has 2 classes (0 to 1)`,
    );
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.cases).toHaveLength(1);
    const written = report.cases[0].scores;

    // The same scores by hand: normalise as the run recorded, segment each axial slice, score
    // the volume with its spacing.
    const segmenter = await Segmenter.load(out);
    const volume = normalizeIntensity(await readNifti(cases[0]!.image), { kind: 'minmax' });
    const truth = (await readNifti(cases[0]!.labels)).data;
    const predicted = new Int32Array(D * H * W);
    for (let z = 0; z < D; z++) {
      const slice = volume.data.slice(z * H * W, (z + 1) * H * W);
      predicted.set((await segmenter.predict(tensor(slice, [1, 1, H, W]))).data, z * H * W);
    }
    await segmenter.dispose();
    const expected = scoreSegmentation(predicted, truth, [D, H, W], { classes: 2, spacing: volume.spacing });
    expect(written.perClass[1].dice).toBeCloseTo(expected.perClass[1]!.dice, 10);
    expect(written.perClass[1].hausdorff95).toBeCloseTo(expected.perClass[1]!.hausdorff95, 10);
    expect(expected.perClass[1]!.dice).toBeGreaterThan(0.7); // it learned the task

    // The report: self-contained (nothing fetched), the same scores, every picture a PNG of
    // the plane's size (the busiest axial plane, H x W), the run's curves.
    const html = fs.readFileSync(reportFile, 'utf8');
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html).toContain(`<td>${written.meanDice.toFixed(3)}</td>`);
    for (const title of ['Scores', 'Segmentations', 'Features', 'Correspondence', 'Pretraining'])
      expect(html).toContain(`<h2>${title}</h2>`);
    const pictures = [...html.matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) =>
      PNG.sync.read(Buffer.from(m[1]!, 'base64')),
    );
    expect(pictures).toHaveLength(3 + 2 + 3);
    for (const picture of pictures) expect([picture.height, picture.width]).toEqual([H, W]);
    expect(html).toMatch(/matched by the pretrained network of the run\. Mean endpoint error \d+\.\d\d voxels/);
    expect(html).toContain('<svg');
  });

  it('keeps a run folder with --run: checkpoints, metrics, a stop on Ctrl-C, resume', async () => {
    const model = await CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 16], seed: 12 });
    const weights = path.join(tempDir(), 'pretrained.safetensors');
    await model.save(weights);
    await model.dispose();
    writeCase(tempDir(), 'c', 0.4);
    const run = path.join(tempDir(), 'finetune-run');
    const progress: string[] = [];
    const argv = (...extra: string[]) =>
      ['--weights', weights, '--images', path.join(tempDir(), 'images'), '--labels']
        .concat([path.join(tempDir(), 'labels'), '--classes', '2', '--run', run, '--steps', '5'])
        .concat(['--crop', '16', '--checkpoint-every', '2', '--schedule', 'cosine', ...extra]);
    // Interrupted (as by Ctrl-C) once the first checkpoint is written: exit 130, and a hint.
    const interrupt = new AbortController();
    const interrupted = await finetune(
      argv(),
      () => undefined,
      (line) => {
        progress.push(line);
        if (line.includes('checkpoint written')) interrupt.abort();
      },
      interrupt.signal,
    );
    expect(interrupted).toBe(130);
    expect(progress.at(-1)).toMatch(
      /^interrupted; latest checkpoint .*step-000002: rerun the same command with --resume/,
    );
    expect(fs.existsSync(path.join(run, 'final.safetensors'))).toBe(false);
    // A fresh run into the same folder is refused; --resume continues it.
    const err: string[] = [];
    expect(
      await runCli(
        ['finetune', ...argv()],
        () => undefined,
        (text) => err.push(text),
      ),
    ).toBe(2);
    expect(err.pop()).toContain(`${run} already holds a run (latest checkpoint: `);
    // A resume with other settings than the run's first steps had is refused, metrics untouched.
    const metricsBefore = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
    expect(
      await runCli(
        ['finetune', ...argv('--resume', '--lr', '1e-3', '--seed', '2')],
        () => undefined,
        (text) => err.push(text),
      ),
    ).toBe(2);
    expect(err.pop()).toContain(
      `--resume continues ${run} as it was started (${path.join(run, 'finetune.json')}), but these differ:\n` +
        '  learningRate: 0.0003 -> 0.001\n  seed: 0 -> 2\n',
    );
    expect(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(metricsBefore);
    expect(
      await finetune(
        argv('--resume'),
        () => undefined,
        (line) => progress.push(line),
      ),
    ).toBe(0);
    expect(progress.join('\n')).toMatch(/resumed .*step=2/);
    const records = fs
      .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((record) => record.step)).toEqual([1, 2, 3, 4, 5]);
    // --schedule cosine over 5 steps (no warmup step at 5%), continued across the resume:
    // 3e-4 * (1 + cos(pi * s / 5)) / 2 for steps s = 0..4.
    const cosine = [0, 1, 2, 3, 4].map((s) => (3e-4 * (1 + Math.cos((Math.PI * s) / 5))) / 2);
    records.forEach((record, s) => expect(record.learningRate).toBeCloseTo(cosine[s]!, 12));
    // The run folder is what evaluate and Segmenter.load take: its final.safetensors.
    expect(fs.existsSync(path.join(run, 'final.safetensors'))).toBe(true);
    await using segmenter = await Segmenter.load(run);
    expect(segmenter.options.classes).toBe(2);
  });

  it('says what is wrong with its arguments', async () => {
    const err: string[] = [];
    const run = (...argv: string[]) =>
      runCli(
        argv,
        () => undefined,
        (text) => err.push(text),
      );
    expect(await run('finetune', '--weights', 'w')).toBe(2);
    expect(err.pop()).toContain('cover-torch finetune: expected --weights, --images, --labels, --classes');
    expect(await run('finetune', '--weights', 'w', '--images', 'i', '--labels', 'l', '--classes', '2')).toBe(2);
    expect(err.pop()).toContain('expected --out FILE or --run DIR');
    expect(
      await run(
        'finetune',
        '--weights',
        'w',
        '--images',
        'i',
        '--labels',
        'l',
        '--classes',
        '2',
        '--out',
        'o',
        '--resume',
      ),
    ).toBe(2);
    expect(err.pop()).toContain('--resume continues the run in --run DIR: pass --run');
    expect(
      await run('finetune', '--weights', 'w', '--images', 'i', '--labels', 'l', '--classes', '1', '--out', 'o'),
    ).toBe(2);
    expect(err.pop()).toContain('Expected an integer between 2 and 1024 for --classes but received "1"');
    expect(
      await run(
        ...['finetune', '--weights', 'w', '--images', 'i', '--labels', 'l', '--classes', '2'],
        ...['--out', 'o', '--schedule', 'linear'],
      ),
    ).toBe(2);
    expect(err.pop()).toContain('--schedule must be constant or cosine, got "linear"');
    expect(await run('evaluate', 'seg', '--images', 'i', '--labels', 'l', '--run', 'r')).toBe(2);
    expect(err.pop()).toContain('--run only adds to the report: pass --report FILE.html with it');
    expect(await run('evaluate', '--images', 'i', '--labels', 'l')).toBe(2);
    expect(err.pop()).toContain('cover-torch evaluate: expected SEGMENTER, --images, --labels');
    // Outputs are checked before any work: learning after minutes of training that the
    // output cannot be written would lose them.
    const finetune = ['finetune', '--weights', 'w', '--images', 'i', '--labels', 'l', '--classes', '2'];
    expect(await run(...finetune, '--out', '/nonexistent/folder/seg.safetensors')).toBe(2);
    expect(err.pop()).toContain(
      '--out /nonexistent/folder/seg.safetensors: its folder /nonexistent/folder does not exist; create it first',
    );
    expect(await run(...finetune, '--out', 'w')).toBe(2);
    expect(err.pop()).toContain('--out w is also --weights: writing it would overwrite that input');
    // A run folder given as --weights is read through its final.safetensors.
    const pretrained = path.join(tempDir(), 'pretrained');
    fs.mkdirSync(pretrained);
    fs.writeFileSync(path.join(pretrained, 'final.safetensors'), 'weights');
    const final = path.join(pretrained, 'final.safetensors');
    expect(await run(...finetune.slice(0, 1), '--weights', pretrained, ...finetune.slice(3), '--out', final)).toBe(2);
    expect(err.pop()).toContain(`--out ${final} is also the weights file of --weights`);
    const runDir = path.join(tempDir(), 'fresh-run');
    for (const inside of ['metrics.csv', 'checkpoints/step-000100/model.safetensors']) {
      expect(await run(...finetune, '--run', runDir, '--out', path.join(runDir, inside))).toBe(2);
      expect(err.pop()).toContain(`is among the files --run ${runDir} keeps (its checkpoints, metrics and settings)`);
    }
    expect(await run('evaluate', 'seg', '--images', 'i', '--labels', 'l', '--json', '/')).toBe(2);
    expect(err.pop()).toContain('--json / is a folder; expected a file name');
    expect(await run(...finetune, '--out', '--freeze-encoder')).toBe(2);
    expect(err.pop()).toContain('--out needs a value, but the next argument is the option --freeze-encoder');
    const evaluate = ['evaluate', 'seg', '--images', 'i', '--labels', 'l'];
    expect(await run(...evaluate, '--json', 'same.html', '--report', 'same.html')).toBe(2);
    expect(err.pop()).toContain('--json and --report both name same.html: each output needs its own file');
    expect(await run(...evaluate, '--report', 'scores.json')).toBe(2);
    expect(err.pop()).toContain('--report scores.json: the report is an HTML page; expected a name ending in .html');
    // --run must be a pretraining run folder (its curves), checked before any image is segmented.
    expect(await run(...evaluate, '--report', 'r.html', '--run', path.join(tempDir(), 'pretrained'))).toBe(2);
    expect(err.pop()).toMatch(/--run .*pretrained: expected a pretraining run folder \(cannot read .*metrics\.jsonl/);
    expect(await run('probe', 'r', '--json', '/nonexistent/p.json')).toBe(2);
    expect(err.pop()).toContain('--json /nonexistent/p.json: its folder /nonexistent does not exist');
  });
});
