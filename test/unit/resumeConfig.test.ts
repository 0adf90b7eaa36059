import { changedOnResume } from '../../lib/cli/resumeConfig';

describe('changedOnResume', () => {
  const saved = {
    dims: 2,
    seed: 0,
    steps: 100,
    model: { channels: [8, 16], device: 'cpu' },
    training: { views: { degree: 0.5 }, phaseTimings: false },
    keepLast: 3,
  };

  it('lets steps, checkpointing, logging and the device change', () => {
    expect(
      changedOnResume(saved, {
        ...saved,
        steps: 500,
        keepLast: 5,
        model: { ...saved.model, device: 'cuda' },
        training: { ...saved.training, phaseTimings: true },
      }),
    ).toEqual([]);
  });

  it('names every setting that shaped the steps so far, with both values', () => {
    expect(
      changedOnResume(saved, {
        ...saved,
        seed: 1,
        model: { channels: [8, 32], device: 'cpu' },
        training: { views: {}, phaseTimings: false },
        learningRate: 1e-3,
      }),
    ).toEqual([
      'seed: 0 -> 1',
      'model.channels: [8,16] -> [8,32]',
      'training.views.degree: 0.5 -> (unset)',
      'learningRate: (unset) -> 0.001',
    ]);
  });
});
