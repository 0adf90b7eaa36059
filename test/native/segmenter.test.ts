import path from 'node:path';
import { CoverModel, Segmenter, loadSafetensors, saveSafetensors, tensor, type Tensor } from '../../lib';
import { useTempDir } from '../tempDir';

const small = { dims: 2 as const, channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

/** Smooth random images (B, 1, H, W) and their labels: 1 where bright, 0 elsewhere. */
function task(
  batch: number,
  height: number,
  width: number,
  seed: number,
): { images: Tensor<'float32'>; labels: Tensor<'uint8'> } {
  const images = new Float32Array(batch * height * width);
  const labels = new Uint8Array(batch * height * width);
  for (let b = 0; b < batch; b++) {
    const phase = seed * 7.1 + b * 2.3;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (b * height + y) * width + x;
        images[i] = Math.sin(x / 5 + phase) * Math.cos(y / 7 - phase);
        labels[i] = images[i]! > 0.2 ? 1 : 0;
      }
    }
  }
  return { images: tensor(images, [batch, 1, height, width]), labels: tensor(labels, [batch, height, width]) };
}

/** The class of the largest probability per voxel of (B, K, *S), by hand. */
function argmaxOverClasses(probabilities: Tensor<'float32'>): number[] {
  const [batch, classes] = probabilities.shape as [number, number];
  const voxels = probabilities.data.length / batch / classes;
  const labels: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let v = 0; v < voxels; v++) {
      let best = 0;
      for (let c = 1; c < classes; c++)
        if (
          probabilities.data[(b * classes + c) * voxels + v]! > probabilities.data[(b * classes + best) * voxels + v]!
        )
          best = c;
      labels.push(best);
    }
  return labels;
}

describe('Segmenter', () => {
  const temp = useTempDir('cover-segmenter');

  it('fine-tunes encoder and head to segment a threshold task, and scores it', async () => {
    const segmenter = await Segmenter.create(await CoverModel.create({ ...small, seed: 1 }), { classes: 2, seed: 2 });
    try {
      for (let step = 0; step < 40; step++) {
        const { images, labels } = task(4, 32, 40, step);
        const metrics = await segmenter.trainStep(images, labels, 3e-3);
        expect(metrics.skipped).toBe(false);
        expect(metrics.loss).toBeCloseTo(metrics.crossEntropy + metrics.diceLoss, 5);
      }
      const { images, labels } = task(2, 37, 45, 99); // sides not multiples of 16
      const probabilities = await segmenter.predictProbabilities(images);
      expect(probabilities.shape).toEqual([2, 2, 37, 45]);
      const sums = Array.from({ length: 37 * 45 }, (_, i) => probabilities.data[i]! + probabilities.data[37 * 45 + i]!);
      expect(Math.max(...sums.map((s) => Math.abs(s - 1)))).toBeLessThan(1e-5);
      const predicted = await segmenter.predict(images);
      expect(predicted.dtype).toBe('uint8');
      expect(predicted.shape).toEqual([2, 37, 45]);
      // Chosen natively: the most probable class of the probabilities.
      expect(Array.from(predicted.data)).toEqual(argmaxOverClasses(probabilities));
      // In overlapping 32 x 32 tiles: probabilities still sum to 1 and nearly every voxel
      // gets the class the whole image gets.
      const tiles: number[] = [];
      const tiled = await segmenter.predictProbabilities(images, {
        window: 32,
        onProgress: (done, total) => tiles.push(done, total),
      });
      expect(tiled.shape).toEqual([2, 2, 37, 45]);
      expect(tiles.slice(-2)).toEqual([4, 4]); // 2 x 2 tiles of the 48 x 48 padded grid
      const tiledSums = Array.from({ length: 37 * 45 }, (_, i) => tiled.data[i]! + tiled.data[37 * 45 + i]!);
      expect(Math.max(...tiledSums.map((s) => Math.abs(s - 1)))).toBeLessThan(1e-5);
      const tiledLabels = await segmenter.predict(images, { window: 32 });
      const agree = tiledLabels.data.filter((label, i) => label === predicted.data[i]).length;
      expect(agree / predicted.data.length).toBeGreaterThan(0.95);
      const scores = await segmenter.evaluate(images, labels);
      expect(scores.perClass[1]!.dice).toBeGreaterThan(0.9);
      expect(scores.perClass[1]!.hausdorff95).toBeLessThan(3);
    } finally {
      await segmenter.dispose();
    }
  });

  it('labels above 256 classes are int32, still the most probable class', async () => {
    await using segmenter = await Segmenter.create(await CoverModel.create({ ...small, seed: 5 }), {
      classes: 300,
      seed: 6,
    });
    const { images } = task(1, 16, 20, 3);
    const predicted = await segmenter.predict(images);
    expect(predicted.dtype).toBe('int32');
    expect(Array.from(predicted.data)).toEqual(argmaxOverClasses(await segmenter.predictProbabilities(images)));
    expect(new Set(predicted.data).size).toBeGreaterThan(1);
  });

  // A model carries one head: a second segmenter would replace the first one's under it.
  it('refuses a second segmenter on an encoder that already has one', async () => {
    const model = await CoverModel.create({ ...small, seed: 5 });
    // Two at once: exactly one gets the encoder.
    const both = await Promise.allSettled([
      Segmenter.create(model, { classes: 3, seed: 6 }),
      Segmenter.create(model, { classes: 4, seed: 6 }),
    ]);
    expect(both.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    const first = (both[0] as PromiseFulfilledResult<Segmenter>).value;
    try {
      const { images } = task(1, 16, 16, 2);
      const probabilities = await first.predictProbabilities(images);
      await expect(Segmenter.create(model, { classes: 5, seed: 6 })).rejects.toThrow(
        'This CoverModel already belongs to a Segmenter (3 classes)',
      );
      const after = await first.predictProbabilities(images);
      expect(after.shape).toEqual([1, 3, 16, 16]);
      expect(after.data).toEqual(probabilities.data);
    } finally {
      await first.dispose();
    }
  });

  it('with a frozen encoder trains the head only', async () => {
    const model = await CoverModel.create({ ...small, seed: 3 });
    const before = await model.stateDict();
    const segmenter = await Segmenter.create(model, { classes: 2, freezeEncoder: true, seed: 4 });
    try {
      const { images, labels } = task(2, 32, 32, 1);
      const first = await segmenter.trainStep(images, labels, 1e-2);
      const later = await segmenter.trainStep(images, labels, 1e-2);
      expect(later.loss).not.toBe(first.loss);
      const after = await segmenter.encoder.stateDict();
      for (const [name, t] of Object.entries(before)) expect(after[name]!.data).toEqual(t.data);
    } finally {
      await segmenter.dispose();
    }
  });

  it('says what an encoder must be', async () => {
    await expect(Segmenter.create(42 as never, { classes: 2 })).rejects.toThrow(
      'Expected a CoverModel or the path of a run folder or weights file for the encoder but received number',
    );
  });

  it('finishes a save made before dispose()', async () => {
    const segmenter = await Segmenter.create(await CoverModel.create({ ...small, seed: 3 }), { classes: 2, seed: 4 });
    const file = path.join(temp(), 'saved-while-disposing.safetensors');
    const saving = segmenter.save(file);
    const disposing = segmenter.dispose();
    await saving;
    await disposing;
    const loaded = await Segmenter.load(file);
    expect(loaded.options.classes).toBe(2);
    await loaded.dispose();
  });

  it('saves encoder, head and options to one file and loads them back', async () => {
    // Created from a weights file that records how its images were prepared.
    const encoderFile = path.join(temp(), 'encoder.safetensors');
    const encoder = await CoverModel.create({ ...small, seed: 5 });
    await encoder.save(encoderFile, { metadata: { 'cover-torch.preprocessing': '{"dims":2}' } });
    await encoder.dispose();
    const segmenter = await Segmenter.create(encoderFile, {
      classes: 3,
      classWeights: [1, 2, 0.5],
      ignoreLabel: 255,
      seed: 6,
    });
    const file = path.join(temp(), 'segmenter.safetensors');
    const { images } = task(1, 32, 32, 2);
    try {
      const labels = tensor(
        new Uint8Array(32 * 32).map((_, i) => [0, 1, 2, 255][i % 4]!),
        [1, 32, 32],
      );
      await segmenter.trainStep(images, labels, 1e-3);
      await segmenter.save(file);
      const loaded = await Segmenter.load(file);
      try {
        expect(loaded.options).toEqual(segmenter.options);
        expect(loaded.encoder.metadata['cover-torch.preprocessing']).toBe('{"dims":2}');
        expect((await loaded.predictProbabilities(images)).data).toEqual(
          (await segmenter.predictProbabilities(images)).data,
        );
      } finally {
        await loaded.dispose();
      }
      // A plain model load is refused and names the head's tensors it did not expect.
      await expect(CoverModel.load(file)).rejects.toThrow(/unexpected tensor "segmentation_head\./);

      // A head that does not fit is refused before anything changes: the encoder neither.
      const { tensors } = await loadSafetensors(file);
      const before = await segmenter.stateDict();
      const withExtra = { ...tensors, 'segmentation_head.extra': tensor(new Float32Array(1), [1]) };
      await expect(segmenter.loadStateDict(withExtra)).rejects.toThrow(
        'Unexpected head tensor "segmentation_head.extra"',
      );
      // So is a head tensor whose data is not a typed array (it reached the native load).
      const headKey = Object.keys(tensors).find((name) => name.startsWith('segmentation_head.'))!;
      const encoderKey = Object.keys(tensors).find((name) => name.startsWith('backbone.'))!;
      const shifted = (tensors[encoderKey]!.data as Float32Array).map((value) => value + 1);
      const plainArray = {
        ...tensors,
        [encoderKey]: { ...tensors[encoderKey]!, data: shifted }, // would show if the encoder loaded
        [headKey]: { ...tensors[headKey]!, data: Array.from(tensors[headKey]!.data as Float32Array) },
      };
      await expect(segmenter.loadStateDict(plainArray as never)).rejects.toThrow(`"${headKey}"`);
      const after = await segmenter.stateDict();
      for (const name of Object.keys(before)) expect(after[name]!.data).toEqual(before[name]!.data);
      // A file whose head is not finite does not load.
      const headName = Object.keys(tensors).find((name) => name.startsWith('segmentation_head.'))!;
      const poisoned = {
        ...tensors,
        [headName]: { ...tensors[headName]!, data: new Float32Array(tensors[headName]!.data.length).fill(NaN) },
      };
      const { metadata } = await loadSafetensors(file);
      const nanFile = path.join(temp(), 'nan-head.safetensors');
      await saveSafetensors(nanFile, poisoned as never, metadata);
      await expect(Segmenter.load(nanFile)).rejects.toThrow(`"${headName}" holds NaN or Inf; weights must be finite`);
    } finally {
      await segmenter.dispose();
    }
  });

  it('refuses bad labels and options with the reason', async () => {
    const segmenter = await Segmenter.create(await CoverModel.create({ ...small, seed: 7 }), { classes: 2, seed: 8 });
    try {
      const { images, labels } = task(2, 16, 16, 3);
      await expect(segmenter.trainStep(images, tensor(new Uint8Array(2 * 16 * 15), [2, 16, 15]), 1e-3)).rejects.toThrow(
        'Expected labels of shape [2, 16, 16] (B, *S) but received [2, 16, 15]',
      );
      await expect(
        segmenter.trainStep(images, tensor(new Float32Array(2 * 16 * 16), [2, 16, 16]), 1e-3),
      ).rejects.toThrow('Expected uint8, int32 or int64 labels but received float32');
      const bad = labels.data.slice();
      bad[5] = 2;
      await expect(segmenter.trainStep(images, tensor(bad, [2, 16, 16]), 1e-3)).rejects.toThrow(
        'labels must be in [0, 2), found 2',
      );
    } finally {
      await segmenter.dispose();
    }
    const model = await CoverModel.create({ ...small, seed: 9 });
    try {
      await expect(Segmenter.create(model, { classes: 3, classWeights: [1, 2] })).rejects.toThrow(
        'Expected one weight per class (3) for classWeights but received an array of length 2',
      );
      await expect(Segmenter.create(model, { classes: 1 })).rejects.toThrow(/classes/);
    } finally {
      await model.dispose();
    }
    const plain = path.join(temp(), 'plain.safetensors');
    const model2 = await CoverModel.create({ ...small, seed: 10 });
    await model2.save(plain);
    await model2.dispose();
    await expect(Segmenter.load(plain)).rejects.toThrow('is not a saved Segmenter');
  });
});
