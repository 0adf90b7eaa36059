import { phantomBatch } from '../../lib';
import type { RawStepMetrics, RawTrainOptions } from '../../lib/native/binding';
import { loadBinding } from '../../lib/native/loadBinding';
import { resolveTrainingOptions } from '../../lib/model/trainingOptions';

/**
 * The training defaults are written twice: in the TypeScript schema (so a run's config
 * records them) and in the native structs (for C++ callers). Steps trained with the native
 * defaults (only the required crop size passed) and with everything the schema fills in
 * must be identical, bit for bit.
 */
const { binding } = loadBinding();
const channels = [8, 16, 16, 16, 16];

async function steps(options: RawTrainOptions): Promise<Partial<RawStepMetrics>[]> {
  const model = new binding.Model({ dims: 2, channels, seed: 3 });
  await model.build();
  await model.configureTraining(options);
  const metrics = [];
  for (let step = 0; step < 3; ++step) {
    const record: Partial<RawStepMetrics> = await model.trainStep(phantomBatch(2, [48, 48], 11 + step), 1e-3);
    delete record.timings; // everything but the timings
    metrics.push(record);
  }
  await model.dispose();
  return metrics;
}

describe('training defaults', () => {
  it('the schema fills in the same values the native code uses', async () => {
    const native = await steps({ views: { cropSize: [32, 32] }, optimizer: {} });
    const schema = await steps(resolveTrainingOptions({ cropSize: [32, 32] }, 2));
    expect(schema).toEqual(native);
    // The comparison can tell: one value off changes the steps.
    const off = await steps(resolveTrainingOptions({ cropSize: [32, 32], optimizer: { weightDecay: 1e-3 } }, 2));
    expect(off).not.toEqual(native);
  });

  it('and for the options that only matter with elastic views and SGD', async () => {
    const native = await steps({ views: { cropSize: [32, 32], elasticAmplitude: 2 }, optimizer: { kind: 'sgd' } });
    const schema = await steps(
      resolveTrainingOptions({ cropSize: [32, 32], views: { elasticAmplitude: 2 }, optimizer: { kind: 'sgd' } }, 2),
    );
    expect(schema).toEqual(native);
  });
});
