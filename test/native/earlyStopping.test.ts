import fs from 'node:fs';
import path from 'node:path';
import {
  CoverModel,
  Trainer,
  phantomBatches,
  type EarlyStoppingOptions,
  type FitResult,
  type StepRecord,
} from '../../lib';
import { useTempDir } from '../tempDir';

const small = { dims: 2 as const, channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

describe('Trainer early stopping', () => {
  const tempDir = useTempDir('cover-early-stopping');

  it('stops after `patience` checks without an improvement, with a final checkpoint and the reason', async () => {
    const model = await CoverModel.create({ ...small, seed: 3 });
    model.configureTraining({ cropSize: [32, 32], seed: 2 });
    const records: StepRecord[] = [];
    const logged: string[] = [];
    const checkpoints = path.join(tempDir(), 'checkpoints');
    const trainer = new Trainer(model, {
      maxSteps: 40,
      learningRate: 1e-3,
      checkpoint: { dirpath: checkpoints, everyNTrainSteps: 100 },
      // An improvement must beat 100 in featureVariation (a share, at most 1): never.
      earlyStopping: { monitor: 'featureVariation', mode: 'max', patience: 2, minDelta: 100, every: 3 },
      logger: { debug: () => undefined, info: (m) => logged.push(m), warn: () => undefined, error: () => undefined },
    });
    trainer.on('trainBatchEnd', (record) => records.push(record));
    const ends: FitResult[] = [];
    trainer.on('end', (result) => ends.push(result));
    const result = await trainer.fit(phantomBatches(2, [48, 48], 5));
    await model.dispose();
    // Check at step 3 sets the best; checks at 6 and 9 do not improve on it: stop at 9.
    expect(result).toMatchObject({ step: 9, stopped: true, reason: 'early-stopping' });
    expect(records).toHaveLength(9);
    expect(ends).toEqual([result]);
    expect(result.checkpoint).toBe(path.join(checkpoints, 'step-000009'));
    expect(JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')).step).toBe(9);
    expect(logged).toContain('early stopping: the monitored metric stopped improving');
  });

  /**
   * A fresh model (the same each time) trained with `resume: true` in `dirpath`, left after
   * step `leaveAfter` (as by a crash or Ctrl-C); resolves with how it ended and its warnings.
   */
  async function resumingRun(
    dirpath: string,
    options: { maxSteps: number; everyNTrainSteps: number; earlyStopping: EarlyStoppingOptions },
    leaveAfter = Infinity,
  ): Promise<{ result: FitResult; warnings: [string, unknown][] }> {
    const model = await CoverModel.create({ ...small, seed: 3 });
    model.configureTraining({ cropSize: [32, 32], seed: 2 });
    const warnings: [string, unknown][] = [];
    const trainer = new Trainer(model, {
      maxSteps: options.maxSteps,
      learningRate: 1e-3,
      checkpoint: { dirpath, everyNTrainSteps: options.everyNTrainSteps },
      earlyStopping: options.earlyStopping,
      resume: true,
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (m, f) => warnings.push([m, f]),
        error: () => undefined,
      },
    });
    let result: FitResult | undefined;
    trainer.on('end', (ended) => (result = ended));
    for await (const record of trainer.steps((start) => phantomBatches(2, [48, 48], 5, start)))
      if (record.step >= leaveAfter) break;
    await model.dispose();
    return { result: result!, warnings };
  }

  it('keeps its count in checkpoints: a resumed run stops where the uninterrupted one would', async () => {
    const checkpoints = path.join(tempDir(), 'resumed');
    // Never improves after the first check (at step 3): the uninterrupted run stops at step 9.
    const options = {
      maxSteps: 40,
      everyNTrainSteps: 3,
      earlyStopping: { monitor: 'featureVariation', mode: 'max', patience: 2, minDelta: 100, every: 3 },
    } as const;
    // Interrupted after step 7: the checkpoint of step 7 holds one check without improvement
    // (step 6) and the sums of step 7 toward the next.
    await resumingRun(checkpoints, options, 7);
    const meta = JSON.parse(fs.readFileSync(path.join(checkpoints, 'step-000007', 'meta.json'), 'utf8'));
    expect(meta.earlyStopping).toMatchObject({ monitor: 'featureVariation', bestStep: 3, worseChecks: 1, count: 1 });
    const resumed = await resumingRun(checkpoints, options);
    expect(resumed.result).toMatchObject({ step: 9, reason: 'early-stopping' });
    expect(resumed.warnings).toEqual([]);
  });

  it('counts afresh, with a warning, when a resume changes what early stopping checks', async () => {
    const checkpoints = path.join(tempDir(), 'changed');
    const earlyStopping = { monitor: 'featureVariation', mode: 'max', patience: 5, minDelta: 100, every: 2 } as const;
    await resumingRun(checkpoints, { maxSteps: 4, everyNTrainSteps: 2, earlyStopping });
    const { result, warnings } = await resumingRun(checkpoints, {
      maxSteps: 40,
      everyNTrainSteps: 2,
      earlyStopping: { ...earlyStopping, patience: 1, minDelta: 50 },
    });
    expect(warnings).toEqual([
      ['early stopping counts its patience afresh', { step: 4, why: "early stopping's minDelta (100 -> 50) changed" }],
    ]);
    // Afresh, the check at step 6 sets the best and the one at 8 ends the patience; the saved
    // count (one check without improvement) would have stopped at 6.
    expect(result).toMatchObject({ step: 8, reason: 'early-stopping' });
  });

  it('runs to maxSteps while the metric improves, and says so', async () => {
    const model = await CoverModel.create({ ...small, seed: 4 });
    model.configureTraining({ cropSize: [32, 32], seed: 2 });
    // A patience larger than the number of checks never runs out.
    const trainer = new Trainer(model, {
      maxSteps: 6,
      learningRate: 1e-3,
      earlyStopping: { patience: 5, every: 2 },
    });
    const result = await trainer.fit(phantomBatches(2, [48, 48], 5));
    await model.dispose();
    expect(result).toMatchObject({ step: 6, stopped: false, reason: 'max-steps' });
  });

  it('refuses bad options when the trainer is made', async () => {
    const model = await CoverModel.create({ ...small, seed: 5 });
    expect(() => new Trainer(model, { maxSteps: 5, earlyStopping: { patience: 0 } })).toThrow(
      /earlyStopping\.patience/,
    );
    expect(
      () => new Trainer(model, { maxSteps: 5, earlyStopping: { patience: 1, monitor: 'gradNorm' as never } }),
    ).toThrow('Expected earlyStopping.monitor to be one of vectorRatio, vectorLoss');
    expect(() => new Trainer(model, { maxSteps: 5, resume: true })).toThrow(
      'Expected checkpoint.dirpath with resume: true (the checkpoints to resume from)',
    );
    expect(() => new Trainer(model, { maxSteps: 5, prefetch: 0 })).toThrow(
      'Expected an integer between 1 and 64 for prefetch but received 0',
    );
    expect(() => new Trainer(model, { maxSteps: 5, learningRate: 1e39 })).toThrow(
      'Expected a number between 0 and 3.4e38 (the largest float32) for learningRate',
    );
    await model.dispose();
  });
});
