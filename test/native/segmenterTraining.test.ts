import fs from 'node:fs';
import path from 'node:path';
import {
  CoverModel,
  labelledCropBatches,
  Segmenter,
  Trainer,
  tensor,
  type LabelledBatch,
  type LabelledVolume,
  type StepRecord,
  type SegmentationStepMetrics,
} from '../../lib';
import { useTempDir } from '../tempDir';

const small = { dims: 2 as const, channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

/** Two labelled 40 x 48 images: 1 where a smooth pattern is bright, 2 where it is dark. */
function volumes(): LabelledVolume[] {
  return [0, 1.7].map((phase) => {
    const shape = [40, 48];
    const image = new Float32Array(40 * 48);
    const labels = new Int32Array(40 * 48);
    for (let y = 0; y < 40; y++)
      for (let x = 0; x < 48; x++) {
        const v = Math.sin(x / 5 + phase) * Math.cos(y / 6 - phase);
        image[y * 48 + x] = v;
        labels[y * 48 + x] = v > 0.3 ? 1 : v < -0.3 ? 2 : 0;
      }
    return { image, labels, shape };
  });
}

const batches = () => labelledCropBatches(volumes(), { crop: [32, 32], batchSize: 2, seed: 5 });

async function newSegmenter(): Promise<Segmenter> {
  return Segmenter.create(await CoverModel.create({ ...small, seed: 3 }), { classes: 3, seed: 4 });
}

describe('fine-tuning through the Trainer', () => {
  const temp = useTempDir('cover-segmenter-trainer');

  it('a crop stream started at step k equals the stream from 0 after k batches', () => {
    const from0 = batches()(0);
    const firstFour: LabelledBatch[] = [];
    for (let i = 0; i < 4; i++) firstFour.push(from0.next().value!);
    const from3 = batches()(3).next().value!;
    expect(from3.images.data).toEqual(firstFour[3]!.images.data);
    expect(from3.labels.data).toEqual(firstFour[3]!.labels.data);
    expect(firstFour[2]!.labels.data).not.toEqual(firstFour[3]!.labels.data);
    expect(() => labelledCropBatches(volumes(), { crop: [32, 64], batchSize: 1, seed: 0 })).toThrow(
      'The crop [32, 64] does not fit in an image of shape [40, 48]',
    );
  });

  it('checkpoints, logs and resumes a fine-tuning run to the losses of an uninterrupted one', async () => {
    const record = (r: StepRecord<SegmentationStepMetrics>) => [r.step, r.loss];
    const whole: number[][] = [];
    {
      await using segmenter = await newSegmenter();
      for await (const r of new Trainer(segmenter, { maxSteps: 6, learningRate: () => 2e-3 }).steps(batches()))
        whole.push(record(r));
    }
    expect(whole.map(([step]) => step)).toEqual([1, 2, 3, 4, 5, 6]);

    const dirpath = path.join(temp(), 'checkpoints');
    const metricsFile = path.join(temp(), 'metrics.jsonl');
    const options = {
      maxSteps: 6,
      learningRate: () => 2e-3,
      checkpoint: { dirpath, everyNTrainSteps: 2 },
      metricsFile,
      csvFile: path.join(temp(), 'metrics.csv'),
    };
    const halves: number[][] = [];
    {
      await using segmenter = await newSegmenter();
      for await (const r of new Trainer(segmenter, options).steps(batches())) {
        halves.push(record(r));
        if (r.step === 3) break; // leaving the loop writes the step-3 checkpoint
      }
    }
    expect(fs.readdirSync(dirpath).filter((name) => name.startsWith('step-'))).toEqual(['step-000002', 'step-000003']);
    {
      // A new segmenter (its own fresh head) continues from the checkpoint's weights and moments.
      await using segmenter = await newSegmenter();
      const result = await new Trainer(segmenter, { ...options, resume: true })
        .on('trainBatchEnd', (r) => halves.push(record(r)))
        .fit(batches());
      expect(result).toMatchObject({ step: 6, last: { startStep: 3 } });
      // Resuming past maxSteps would relabel step-6 weights as a shorter run's.
      await expect(new Trainer(segmenter, { ...options, maxSteps: 4, resume: true }).fit(batches())).rejects.toThrow(
        /step-000006 is at step 6, past maxSteps \(4\): raise maxSteps to train on from there/,
      );
      // A run from step 0 would append its steps 1, 2, ... to this run's metrics.
      const elsewhere = { dirpath: path.join(temp(), 'other-checkpoints') };
      await expect(new Trainer(segmenter, { ...options, checkpoint: elsewhere }).fit(batches())).rejects.toThrow(
        `${metricsFile} already holds the metrics of 6 steps of another run`,
      );
      expect(fs.readdirSync(elsewhere.dirpath)).toEqual([]);
    }
    expect(halves).toEqual(whole);
    const lines = fs
      .readFileSync(metricsFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.step, line.loss])).toEqual(whole);
    const csv = fs.readFileSync(options.csvFile, 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^loss,crossEntropy,diceLoss,.*,step,/);
    expect(csv.length).toBe(1 + 6);

    // The best checkpoint has the lowest mean loss over its steps: checkpoints at 2 (steps
    // 1-2), 3 (the interruption: step 3), 4 (the resumed run's first: step 4) and 6 (5-6).
    const meanLoss = (from: number, to: number) =>
      whole.slice(from - 1, to).reduce((sum, [, loss]) => sum + loss!, 0) / (to - from + 1);
    const scores = [
      [2, meanLoss(1, 2)],
      [3, meanLoss(3, 3)],
      [4, meanLoss(4, 4)],
      [6, meanLoss(5, 6)],
    ].sort((a, b) => a[1]! - b[1]!);
    const best = JSON.parse(fs.readFileSync(path.join(dirpath, 'best.json'), 'utf8'));
    expect(best.step).toBe(scores[0]![0]);
    expect(best.score).toBeCloseTo(scores[0]![1]!, 6);

    // A checkpoint folder is a segmenter file that Segmenter.load reads.
    await using loaded = await Segmenter.load(path.join(dirpath, 'step-000006'));
    expect(loaded.options.classes).toBe(3);
  });

  it('refuses what does not fit: a monitor of pretraining, a head of other classes, a pretraining state', async () => {
    await using segmenter = await newSegmenter();
    expect(
      () => new Trainer(segmenter, { maxSteps: 2, earlyStopping: { monitor: 'vectorRatio', patience: 1 } }),
    ).toThrow('Expected earlyStopping.monitor to be one of loss, crossEntropy, diceLoss but received vectorRatio');
    expect(
      () => new Trainer(segmenter, { maxSteps: 2, earlyStopping: { monitor: 'diceLoss', patience: 1 } }),
    ).not.toThrow();

    await using other = await Segmenter.create(await CoverModel.create({ ...small, seed: 3 }), { classes: 2, seed: 4 });
    const before = await segmenter.stateDict();
    await expect(segmenter.loadStateDict(await other.stateDict())).rejects.toThrow(
      /Expected "segmentation_head.conv.weight" of shape \[3, 8, 1, 1\] \(a head of 3 classes\) but received \[2, 8, 1, 1\]/,
    );
    const poisoned = { ...before };
    const bias = new Float32Array(before['segmentation_head.conv.bias']!.data as Float32Array);
    bias[1] = NaN;
    poisoned['segmentation_head.conv.bias'] = tensor(bias, [3]);
    await expect(segmenter.loadStateDict(poisoned)).rejects.toThrow(
      '"segmentation_head.conv.bias" holds NaN or Inf; weights must be finite',
    );
    const after = await segmenter.stateDict();
    for (const name of Object.keys(before)) expect(after[name]!.data).toEqual(before[name]!.data);

    const model = await CoverModel.create({ ...small, seed: 3 });
    model.configureTraining({ cropSize: [16, 16] });
    const coverState = path.join(temp(), 'cover-training.safetensors');
    await model.saveTrainingState(coverState);
    await model.dispose();
    await expect(segmenter.loadTrainingState(coverState)).rejects.toThrow(
      `${coverState} is not a segmenter's training state`,
    );
  });
});
