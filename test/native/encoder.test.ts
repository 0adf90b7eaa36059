import path from 'node:path';
import { CoverModel, Encoder, PREPROCESSING_METADATA, normalizeIntensity, tensor, type ImageVolume } from '../../lib';
import { toFloat16 } from '../../lib/float16';
import { useTempDir } from '../tempDir';

const small = { channels: [8, 16, 16, 16, 16] as [number, number, number, number, number], seed: 3 };
const volumeOf = (shape: number[]): ImageVolume => {
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => 20 + 10 * Math.sin(i / 7));
  return {
    data,
    shape,
    spacing: shape.map(() => 1),
    affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
    source: 'made',
  };
};

describe('Encoder', () => {
  const tempDir = useTempDir('cover-encoder');

  it('prepares images as the run recorded and returns the chosen levels on their grid', async () => {
    const model = await CoverModel.create({ dims: 3, ...small });
    const file = path.join(tempDir(), 'final.safetensors');
    await model.save(file, {
      metadata: { [PREPROCESSING_METADATA]: JSON.stringify({ normalize: { kind: 'minmax' } }) },
    });
    await using encoder = await Encoder.load(file);
    expect(encoder.dims).toBe(3);
    expect(encoder.preprocessing).toEqual({ normalize: { kind: 'minmax' } });
    const volume = volumeOf([10, 12, 9]);
    const prepared = await encoder.prepare(volume);
    expect([Math.min(...prepared.data), Math.max(...prepared.data)]).toEqual([0, 1]);

    const encoded = await encoder.encode(volume, { levels: [3, 1] });
    expect(encoded.channelsPerLevel).toEqual([16, 8]);
    expect(encoded.features.shape).toEqual([24, 10, 12, 9]);
    expect(encoded.grid.shape).toEqual([10, 12, 9]);
    // The same as the model's own pyramid at full resolution, levels in the order asked.
    const reference = await model.encode(tensor(prepared.data, [1, 1, 10, 12, 9]), { fullResolution: true });
    expect(Array.from(encoded.features.data.subarray(0, 16 * 1080))).toEqual(Array.from(reference[2]!.data));
    expect(Array.from(encoded.features.data.subarray(16 * 1080))).toEqual(Array.from(reference[0]!.data));
    // Half precision: the same features, rounded.
    const half = await encoder.encode(volume, { levels: [3, 1], dtype: 'float16' });
    expect(half.features.dtype).toBe('float16');
    expect(half.features.data).toEqual(toFloat16(encoded.features.data));
    // Without normalisation the intensities go in as they are.
    const raw = await encoder.encode(volume, { normalize: false });
    expect(raw.features.data).not.toEqual(encoded.features.data.subarray(16 * 1080));
    await model.dispose();
  });

  it('encodes a volume slice by slice with a 2D network, reporting progress and stopping on abort', async () => {
    const model = await CoverModel.create({ dims: 2, ...small });
    const encoder = Encoder.of(model);
    const progress: number[] = [];
    const encoded = await encoder.encode(volumeOf([4, 16, 16]), { onProgress: (done) => progress.push(done) });
    expect(encoded.features.shape).toEqual([8, 4, 16, 16]);
    expect(progress).toEqual([1, 2, 3, 4]);
    // Slice 2 (axial: no slice axis recorded) equals the network on that slice alone.
    const slice = normalizeIntensity(volumeOf([4, 16, 16]), { kind: 'percentile' }).data.slice(2 * 256, 3 * 256);
    const [f1] = await model.encode(tensor(slice, [1, 1, 16, 16]), { fullResolution: true });
    for (let c = 0; c < 8; c++)
      expect(Array.from(encoded.features.data.subarray((c * 4 + 2) * 256, (c * 4 + 3) * 256))).toEqual(
        Array.from(f1!.data.subarray(c * 256, (c + 1) * 256)),
      );
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(encoder.encode(volumeOf([4, 16, 16]), { signal: controller.signal })).rejects.toThrow('stop');
    await expect(encoder.encode(volumeOf([4, 16, 16]), { levels: [0] })).rejects.toThrow(
      'Expected levels between 1 and 5, e.g. [1] or [1, 3], but received [0]',
    );
    await expect(encoder.encode(volumeOf([4, 16, 16]), { level: [2] } as never)).rejects.toThrow(
      'Unknown option "level" for Encoder.encode; did you mean "levels"?',
    );
    await encoder.dispose(); // not the model's owner: the model stays usable
    expect(model.parameterCount()).toBeGreaterThan(0);
    await model.dispose();
  });

  it('encodes a one-slice volume as the 2D image it is, whatever axis the run sliced along', async () => {
    const model = await CoverModel.create({ dims: 2, ...small });
    const file = path.join(tempDir(), 'coronal.safetensors');
    await model.save(file, { metadata: { [PREPROCESSING_METADATA]: JSON.stringify({ sliceAxis: 'coronal' }) } });
    await using encoder = await Encoder.load(file);
    const slice = volumeOf([1, 16, 32]);
    const encoded = await encoder.encode(slice);
    expect(encoded.features.shape).toEqual([8, 1, 16, 32]);
    const plane = await encoder.encode({ ...slice, shape: [16, 32], spacing: [1, 1] });
    expect(encoded.features.data).toEqual(plane.features.data);
    await model.dispose();
  });

  it('refuses an image of fewer dimensions than a 3D network takes', async () => {
    const model = await CoverModel.create({ dims: 3, ...small });
    await expect(Encoder.of(model).encode(volumeOf([16, 16]))).rejects.toThrow(
      'A 3D encoder cannot encode a 2D image (made)',
    );
    await model.dispose();
  });
});
