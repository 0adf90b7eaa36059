import fs from 'node:fs';
import path from 'node:path';
import { NonFiniteTrainingError, PARTIAL_UPDATE_MESSAGE, Trainer } from '../../lib/train/Trainer';
import type { Trainable, TrainableMetrics } from '../../lib/train/trainable';
import { useTempDir } from '../tempDir';

/** A model whose step `failAt` rejects with `error`; its files name the step it reached. */
function failingModel(failAt: number, error: Error): Trainable<number, TrainableMetrics> {
  let steps = 0;
  return {
    async trainStep(_batch, learningRate) {
      if (steps + 1 === failAt) throw error;
      steps += 1;
      return { skipped: false, gradNorm: 1, learningRate };
    },
    trainingScore: { name: 'loss', terms: () => [1, 1], loss: () => 1, monitorable: [] },
    stateDict: async () => ({}),
    loadStateDict: async () => undefined,
    save: async (file) => fs.writeFileSync(file, `step ${steps}`),
    saveTrainingState: async (file) => fs.writeFileSync(file, 'state'),
    loadTrainingState: async () => undefined,
  };
}

describe('Trainer when a step fails', () => {
  const tempDir = useTempDir('cover-trainer-failure');
  const fit = (model: Trainable<number, TrainableMetrics>, dirpath: string, errors: string[]) =>
    new Trainer(model, {
      maxSteps: 10,
      checkpoint: { dirpath, everyNTrainSteps: 2 },
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => errors.push(m) },
    }).fit([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  it('keeps the weights reached when the step failed before changing them', async () => {
    const dirpath = path.join(tempDir(), 'before-update');
    const errors: string[] = [];
    await expect(fit(failingModel(4, new Error('out of memory in forward')), dirpath, errors)).rejects.toThrow(
      'out of memory in forward',
    );
    // Step 3's weights are checkpointed at the end, after the one of step 2.
    expect(fs.readFileSync(path.join(dirpath, 'step-000003', 'model.safetensors'), 'utf8')).toBe('step 3');
    expect(errors).toEqual([]);
  });

  it('writes no checkpoint of weights an update left part-way', async () => {
    const dirpath = path.join(tempDir(), 'mid-update');
    const errors: string[] = [];
    const partial = new Error(`${PARTIAL_UPDATE_MESSAGE} (out of memory): some weights may have moved and others not.`);
    await expect(fit(failingModel(4, partial), dirpath, errors)).rejects.toThrow(partial.message);
    expect(fs.readdirSync(dirpath).filter((name) => name.startsWith('step-'))).toEqual(['step-000002']);
    expect(JSON.parse(fs.readFileSync(path.join(dirpath, 'latest.json'), 'utf8')).step).toBe(2);
    expect(errors).toEqual(['no final checkpoint: the failed step left the weights part-way through an update']);
  });

  it('stops at maxSteps or an abort without waiting for a batch the source never sends', async () => {
    async function* twoThenSilence() {
      yield 0;
      yield 1;
      await new Promise(() => undefined);
    }
    const model = failingModel(0, new Error('unused'));
    const result = await new Trainer(model, { maxSteps: 2 }).fit(twoThenSilence());
    expect(result).toMatchObject({ step: 2, reason: 'max-steps' });
    const controller = new AbortController();
    const trainer = new Trainer(model, { maxSteps: 10, signal: controller.signal });
    trainer.on('trainBatchEnd', (record) => {
      if (record.step === 2) controller.abort();
    });
    expect(await trainer.fit(twoThenSilence())).toMatchObject({ reason: 'aborted' });
  });

  it('names the checkpoint of the last good weights when non-finite steps stop training', async () => {
    const dirpath = path.join(tempDir(), 'non-finite');
    const model = failingModel(0, new Error('unused'));
    let calls = 0;
    const skipping = {
      ...model,
      trainStep: async (batch: number, rate: number) => {
        calls += 1;
        return calls > 2 ? { skipped: true, gradNorm: NaN, learningRate: rate } : model.trainStep(batch, rate);
      },
    };
    const trainer = new Trainer(skipping, {
      maxSteps: 10,
      maxNonFiniteSteps: 1,
      checkpoint: { dirpath, everyNTrainSteps: 100 },
    });
    const error = await trainer.fit([0, 1, 2, 3, 4, 5]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NonFiniteTrainingError);
    const { checkpoint, message, steps } = error as NonFiniteTrainingError;
    expect(steps).toEqual([3, 4]); // more than maxNonFiniteSteps
    expect(checkpoint).toBe(path.join(dirpath, 'step-000004'));
    expect(message).toContain(`The last good weights are in ${checkpoint}.`);
  });

  it('refuses misspelt options and a missing model instead of ignoring them', () => {
    const model = failingModel(0, new Error('unused'));
    expect(() => new Trainer(model, { maxSteps: 2, prefetc: 1 } as never)).toThrow(
      'Unknown option "prefetc" for Trainer; did you mean "prefetch"?',
    );
    expect(() => new Trainer(model, { maxSteps: 2, checkpoint: { dirpath: 'x', evry: 1 } } as never)).toThrow(
      'Unknown option "evry" for Trainer checkpoint',
    );
    expect(() => new Trainer(null as never, { maxSteps: 2 })).toThrow('Expected a model to train');
    expect(() => new Trainer(model, { maxSteps: 2, signal: {} as never })).toThrow('Expected an AbortSignal');
  });

  it('matches the text the native step starts such errors with', () => {
    const header = fs.readFileSync(path.join(__dirname, '../../native/core/trainer.h'), 'utf8');
    expect(header).toContain(`kPartialUpdate = ${JSON.stringify(PARTIAL_UPDATE_MESSAGE)};`);
  });
});
