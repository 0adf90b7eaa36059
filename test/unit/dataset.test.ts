import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findImageFiles } from '../../lib/data/dataset/findImageFiles';
import { ImageDataset } from '../../lib/data/dataset/ImageDataset';
import { Readable } from 'node:stream';
import { patchBatches, streamPatchBatches } from '../../lib/data/dataset/patchBatches';
import { cropInto, takeSlice } from '../../lib/data/dataset/patches';
import type { ImageVolume } from '../../lib/data/image';
import { createLogger, type LogRecord } from '../../lib/log/logger';

/** A [D, H, W] volume whose value encodes its index: v = 10000 z + 100 y + x. */
function indexVolume(shape: number[], source = 'memory'): ImageVolume {
  const [d, h, w] = shape as [number, number, number];
  const data = new Float32Array(d * h * w);
  for (let z = 0; z < d; z++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(z * h + y) * w + x] = 10000 * z + 100 * y + x;
  return { data, shape, spacing: [1, 1, 1], affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], source };
}

describe('patch helpers', () => {
  const volume = indexVolume([4, 5, 6]);

  it('takes axial, coronal and sagittal slices', () => {
    const axial = takeSlice(volume.data, volume.shape, 0, 2);
    expect(axial.shape).toEqual([5, 6]);
    expect(axial.data[1 * 6 + 3]).toBe(20103);
    const coronal = takeSlice(volume.data, volume.shape, 1, 4);
    expect(coronal.shape).toEqual([4, 6]);
    expect(coronal.data[3 * 6 + 5]).toBe(30405);
    const sagittal = takeSlice(volume.data, volume.shape, 2, 1);
    expect(sagittal.shape).toEqual([4, 5]);
    expect(sagittal.data[2 * 5 + 3]).toBe(20301);
  });

  it('crops boxes, with zeros where the box leaves the image', () => {
    const out = new Float32Array(2 * 2 * 3 + 1).fill(-1);
    cropInto(volume.data, volume.shape, [1, 3, 4], [2, 2, 3], out, 1);
    expect(out[0]).toBe(-1); // before the offset: untouched
    expect(Array.from(out.subarray(1, 4))).toEqual([10304, 10305, 0]); // x = 6 is outside
    expect(Array.from(out.subarray(4, 7))).toEqual([10404, 10405, 0]);
    expect(Array.from(out.subarray(7, 10))).toEqual([20304, 20305, 0]);
    const plane = new Float32Array(4);
    cropInto(new Float32Array([1, 2, 3, 4]), [2, 2], [-1, 0], [2, 2], plane, 0);
    expect(Array.from(plane)).toEqual([0, 0, 1, 2]);
  });
});

describe('finding images', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-find-'));
    for (const name of [
      'a/one.nii.gz',
      'a/two.nii',
      'a/notes.txt',
      'b/c/three.png',
      'series/IM0001',
      'series/IM0002',
      'flat/slice.dcm',
      'uids/1.2.840.10008.5.1',
      // A DICOM medium: DICOMDIR at the top indexes the series in the folders below.
      'media/DICOMDIR',
      'media/DICOM/ST1/SE1/IM0',
    ]) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      const dicom = Buffer.alloc(200);
      dicom.write('DICM', 128, 'latin1');
      fs.writeFileSync(path.join(dir, name), /^(series|uids|media)/.test(name) ? dicom : 'x');
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('expands folders recursively, globs and files; a DICOM folder is one image', async () => {
    expect(await findImageFiles(['.'], dir)).toEqual(
      ['a/one.nii.gz', 'a/two.nii', 'b/c/three.png', 'flat', 'media/DICOM/ST1/SE1', 'series', 'uids'].map((name) =>
        path.join(dir, name),
      ),
    );
    expect(await findImageFiles(['a/*.nii*', 'b/c/three.png'], dir)).toEqual(
      ['a/one.nii.gz', 'a/two.nii', 'b/c/three.png'].map((name) => path.join(dir, name)),
    );
  });

  it('follows symbolic links to images and folders, once around a loop, past dangling ones', async () => {
    const linked = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-links-'));
    try {
      fs.symlinkSync(path.join(dir, 'a', 'one.nii.gz'), path.join(linked, 'scan.nii.gz'));
      fs.symlinkSync(path.join(dir, 'b'), path.join(linked, 'more'));
      fs.symlinkSync(linked, path.join(linked, 'loop'));
      fs.symlinkSync(path.join(dir, 'gone.nii'), path.join(linked, 'dangling.nii'));
      expect(await findImageFiles([linked])).toEqual([
        path.join(linked, 'more', 'c', 'three.png'),
        path.join(linked, 'scan.nii.gz'),
      ]);
    } finally {
      fs.rmSync(linked, { recursive: true, force: true });
    }
  });

  it('takes overlapping sources once each, globbed files only when they look like images', async () => {
    fs.writeFileSync(path.join(dir, 'a', '._one.nii.gz'), 'x'); // a macOS resource fork
    try {
      // A file named again, and a glob over a folder already taken, add nothing and refuse nothing.
      expect(await findImageFiles(['a', 'a/one.nii.gz', 'a/*.nii*'], dir)).toEqual(
        ['a/one.nii.gz', 'a/two.nii'].map((name) => path.join(dir, name)),
      );
      // "a/*" matches notes.txt and the resource fork too: neither is an image.
      expect(await findImageFiles(['a/*'], dir)).toEqual(
        ['a/one.nii.gz', 'a/two.nii'].map((name) => path.join(dir, name)),
      );
    } finally {
      fs.rmSync(path.join(dir, 'a', '._one.nii.gz'));
    }
  });

  it('names a source that matches nothing', async () => {
    await expect(findImageFiles(['a', 'scans/*.nii.gz'], dir)).rejects.toThrow(
      'data.sources[1]: "scans/*.nii.gz" holds no images',
    );
    await expect(findImageFiles(['missing'], dir)).rejects.toThrow('data.sources[0]: cannot read "missing"');
  });
});

describe('patch batches', () => {
  const volumes = [indexVolume([28, 30, 40], 'v0'), indexVolume([24, 24, 24], 'v1')];
  const read = async (file: string) => volumes[Number(file)]!;
  const dataset = () => new ImageDataset(['0', '1'], { read, normalize: { kind: 'none' } });
  const take = async <T>(stream: AsyncIterable<T>, count: number) => {
    const out: T[] = [];
    for await (const item of stream) {
      out.push(item);
      if (out.length === count) break;
    }
    return out;
  };

  it('cuts real sub-boxes of the volumes, 1.5x the crop', async () => {
    const [batch] = await take(
      patchBatches(dataset(), { dims: 3, cropSize: [16, 16, 16], batchSize: 2, minForeground: 0 }),
      1,
    );
    expect(batch!.shape).toEqual([2, 1, 24, 24, 24]);
    // Inside a patch, one step along x adds 1, along y 100, along z 10000 (no padding at 24 <= every side).
    const data = batch!.data;
    expect(data[1]! - data[0]!).toBe(1);
    expect(data[24]! - data[0]!).toBe(100);
    expect(data[24 * 24]! - data[0]!).toBe(10000);
  });

  it('takes 2D slices of volumes along the asked axis', async () => {
    const [axial] = await take(
      patchBatches(dataset(), { dims: 2, cropSize: [16, 16], batchSize: 4, minForeground: 0, seed: 3 }),
      1,
    );
    expect(axial!.shape).toEqual([4, 1, 24, 24]);
    for (let b = 0; b < 4; b++) {
      const patch = axial!.data.subarray(b * 576, (b + 1) * 576);
      expect(patch[1]! - patch[0]!).toBe(1); // rows run along x
      expect(patch[24]! - patch[0]!).toBe(100); // columns along y: an axial plane
    }
    const [sagittal] = await take(
      patchBatches(dataset(), { dims: 2, cropSize: [16, 16], batchSize: 1, minForeground: 0, sliceAxis: 'sagittal' }),
      1,
    );
    const row = 12 * 24; // away from any zero padding
    expect(sagittal!.data[row + 1]! - sagittal!.data[row]!).toBe(100);
    expect(sagittal!.data[row + 24]! - sagittal!.data[row]!).toBe(10000);
  });

  it('depends only on seed and step, so a stream restarted at a step continues the same data', async () => {
    const options = { dims: 2 as const, cropSize: [16, 16], batchSize: 2, minForeground: 0, seed: 7 };
    const whole = await take(patchBatches(dataset(), options), 5);
    const tail = await take(patchBatches(dataset(), { ...options, startStep: 3 }), 2);
    expect(tail.map((t) => Array.from(t.data))).toEqual(whole.slice(3).map((t) => Array.from(t.data)));
    expect(Array.from(whole[0]!.data)).not.toEqual(Array.from(whole[1]!.data));
  });

  it('redraws background patches', async () => {
    // A quarter of the image is empty: without redraws a third of the patches would hold
    // less than 90% foreground; with ten tries nearly none do.
    const half = indexVolume([1, 64, 64]);
    half.data.fill(0, 0, 16 * 64);
    half.data.fill(1, 16 * 64);
    const data = new ImageDataset(['x'], { read: async () => half, normalize: { kind: 'none' } });
    const batches = await take(
      patchBatches(data, { dims: 2, cropSize: [16, 16], batchSize: 8, minForeground: 0.9 }),
      4,
    );
    for (const batch of batches) {
      for (let b = 0; b < 8; b++) {
        const patch = batch.data.subarray(b * 576, (b + 1) * 576);
        expect(patch.reduce((sum, v) => sum + v, 0) / 576).toBeGreaterThanOrEqual(0.9);
      }
    }
  });

  it('skips unreadable files with a warning when asked, and otherwise stops naming the file', async () => {
    const records: LogRecord[] = [];
    const logger = createLogger({ level: 'warn', sink: (record) => records.push(record) });
    const flaky = async (file: string) => {
      if (file === 'bad.nii') throw new Error('bad.nii: file is truncated');
      return volumes[0]!;
    };
    const skipping = new ImageDataset(['good.nii', 'bad.nii'], {
      read: flaky,
      onError: 'skip',
      logger,
      normalize: { kind: 'none' },
    });
    const batches = await take(
      patchBatches(skipping, { dims: 3, cropSize: [16, 16, 16], batchSize: 4, minForeground: 0 }),
      3,
    );
    expect(batches).toHaveLength(3);
    expect(skipping.failedCount).toBe(1);
    expect(records).toHaveLength(1); // one warning per file, not per draw
    expect(records[0]!.message).toContain('skipping an unreadable image: bad.nii: file is truncated');
    const strict = new ImageDataset(['bad.nii'], { read: flaky, normalize: { kind: 'none' } });
    await expect(take(patchBatches(strict, { dims: 3, cropSize: [16, 16, 16], batchSize: 1 }), 1)).rejects.toThrow(
      'bad.nii: file is truncated',
    );
    const allBad = new ImageDataset(['bad.nii'], { read: flaky, onError: 'skip', normalize: { kind: 'none' } });
    await expect(take(patchBatches(allBad, { dims: 3, cropSize: [16, 16, 16], batchSize: 1 }), 1)).rejects.toThrow(
      'None of the 1 images could be read',
    );
  });

  it('reads a file that failed only once, however often it is drawn', async () => {
    let reads = 0;
    const failing = async () => {
      reads += 1;
      throw new Error('broken');
    };
    const skipping = new ImageDataset(['a', 'b'], { read: failing, onError: 'skip', normalize: { kind: 'none' } });
    for (let i = 0; i < 20; i++) expect(await skipping.get(i % 2)).toBeUndefined();
    expect(reads).toBe(2);
    expect(() => skipping.get(2)).toThrow('Expected an integer between 0 and 1 for index but received 2');
  });

  it("verifies every image once, listing all failures in order, with the images' extents", async () => {
    const reads: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const read = async (file: string): Promise<ImageVolume> => {
      reads.push(file);
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight -= 1;
      if (file.startsWith('bad')) throw new Error(`${file}: file is truncated`);
      if (file === 'picture.png') return { ...indexVolume([1, 7, 9], file), shape: [7, 9], spacing: [0.5, 0.5] };
      const volume = indexVolume(file === 'big.nii' ? [6, 5, 8] : [4, 5, 6], file);
      return { ...volume, spacing: file === 'big.nii' ? [2, 1, 1] : [1, 1, 1] };
    };
    const files = ['a.nii', 'bad1.nii', 'big.nii', 'picture.png', 'bad2.nii'];
    const progress: number[] = [];
    let lastFailed = -1;
    const strict = new ImageDataset(files, { read, normalize: { kind: 'none' } });
    const check = await strict.verify({
      concurrency: 3,
      onProgress: (done, total, failed) => {
        progress.push(done / total);
        expect(failed).toBeGreaterThanOrEqual(Math.max(lastFailed, 0));
        lastFailed = failed;
      },
    });
    expect(check.readable).toBe(3);
    expect(check.failed).toEqual([
      { file: 'bad1.nii', message: 'bad1.nii: file is truncated' },
      { file: 'bad2.nii', message: 'bad2.nii: file is truncated' },
    ]);
    // The picture counts for the in-plane axes only.
    expect(check.shape).toEqual({ min: [4, 5, 6], max: [6, 7, 9] });
    expect(check.spacing).toEqual({ min: [1, 0.5, 0.5], max: [2, 1, 1] });
    expect(progress).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(lastFailed).toBe(2);
    expect(mostInFlight).toBe(3);
    expect([...reads].sort()).toEqual([...files].sort());
    // Nothing was kept: get() reads again; under onError "error" a failure still throws.
    await strict.get(0);
    expect(reads).toHaveLength(6);
    await expect(strict.get(1)).rejects.toThrow('bad1.nii: file is truncated');

    // Under "skip", verified failures are passed over from then on without another read.
    const skipping = new ImageDataset(files, { read, onError: 'skip', normalize: { kind: 'none' } });
    const before = reads.length;
    expect((await skipping.verify()).failed).toHaveLength(2);
    expect(skipping.failedCount).toBe(2);
    expect(await skipping.get(4)).toBeUndefined();
    expect(reads.length - before).toBe(5);
    expect(mostInFlight).toBe(3); // the default, 2, stayed below
  });

  it('stops verifying when aborted, and refuses bad verify options', async () => {
    const controller = new AbortController();
    let reads = 0;
    const read = async (file: string): Promise<ImageVolume> => {
      reads += 1;
      if (reads === 2) controller.abort(new Error('stop here'));
      return indexVolume([4, 5, 6], file);
    };
    const dataset = new ImageDataset(['a', 'b', 'c', 'd', 'e', 'f'], { read, normalize: { kind: 'none' } });
    await expect(dataset.verify({ concurrency: 1, signal: controller.signal })).rejects.toThrow('stop here');
    expect(reads).toBe(2);
    // A throwing onProgress stops the check; no read is left running once verify has settled.
    reads = 0;
    const failing = dataset.verify({
      onProgress: () => {
        throw new Error('progress failed');
      },
    });
    await expect(failing).rejects.toThrow('progress failed');
    const settled = reads;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(reads).toBe(settled);
    expect(settled).toBeLessThanOrEqual(2);
    await expect(dataset.verify({ concurrency: 0 })).rejects.toThrow(
      'Expected an integer between 1 and 64 for concurrency but received 0',
    );
    await expect(dataset.verify({ concurent: 2 } as never)).rejects.toThrow(
      'Unknown option "concurent" for verify; did you mean "concurrency"?',
    );
    await expect(dataset.verify({ signal: {} } as never)).rejects.toThrow('Expected signal to be an AbortSignal');
  });

  it('refuses options that would hang, skip every image or be ignored', () => {
    const files = ['0'];
    expect(() => new ImageDataset(files, { read, cacheSize: -1 })).toThrow(/for cacheSize but received -1/);
    expect(() => new ImageDataset(files, { read, onError: 'throw' as never })).toThrow(
      'Expected onError "error" or "skip" but received "throw"',
    );
    expect(() => new ImageDataset(files, { read, cachesize: 2 } as never)).toThrow(
      'Unknown option "cachesize" for ImageDataset; did you mean "cacheSize"?',
    );
    expect(() => new ImageDataset(files, { read, normalize: { kind: 'percentil' } as never })).toThrow(/normalize/);
    expect(() => new ImageDataset(files, { read, spacing: [1] })).toThrow('Expected spacing as 2 or 3 positive');
    expect(() => new ImageDataset('abc' as never)).toThrow('Expected a list of image file paths');
  });

  it('checks what a custom reader returns, and NaN voxels left unnormalised', async () => {
    const wrong = new ImageDataset(['odd.nii'], {
      read: async () => ({ ...volumes[1]!, data: new Float32Array(10) }),
      normalize: { kind: 'none' },
    });
    await expect(wrong.get(0)).rejects.toThrow('odd.nii has 10 values for its shape [24, 24, 24] (13824)');
    const withNaN = indexVolume([4, 4, 4], 'nan.nii');
    withNaN.data[5] = NaN;
    const raw = new ImageDataset(['nan.nii'], { read: async () => withNaN, normalize: { kind: 'none' } });
    await expect(raw.get(0)).rejects.toThrow('nan.nii: holds NaN at voxel 5, and normalize is "none"');
    const scaled = new ImageDataset(['nan.nii'], { read: async () => withNaN, normalize: { kind: 'minmax' } });
    expect((await scaled.get(0))!.data[5]).toBe(0);
  });

  it('resamples a one-slice volume in its plane, and tells a volume resampled to one slice from a volume', async () => {
    const slice = { ...indexVolume([1, 8, 8], 'slice.nii'), spacing: [5, 1, 1] };
    const resampled = await new ImageDataset(['slice.nii'], {
      read: async () => slice,
      normalize: { kind: 'none' },
      spacing: [1, 2, 2],
    }).get(0);
    expect(resampled!.shape).toEqual([1, 4, 4]);
    const thin = { ...indexVolume([2, 8, 8], 'thin.nii'), spacing: [0.2, 1, 1] };
    const volumesOnly = new ImageDataset(['thin.nii'], {
      read: async () => thin,
      normalize: { kind: 'none' },
      spacing: [1, 1, 1],
      volumesOnly: true,
    });
    await expect(volumesOnly.get(0)).rejects.toThrow('thin.nii: is a 2D image; 3D training needs volumes');
  });

  it('cuts batches from a stream of images, reading one image at a time', async () => {
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 3; i++) {
        pulled += 1;
        yield indexVolume([28, 30, 40], `stream-${i}`);
      }
    }
    const options = { dims: 3 as const, cropSize: [16, 16, 16], batchSize: 4, patchesPerImage: 2, minForeground: 0 };
    const stream = streamPatchBatches(Readable.from(source()), { ...options, normalize: { kind: 'none' } });
    const first = await stream.next();
    expect(pulled).toBe(2); // two images fill the first batch of four patches
    const patches = first.value!;
    expect(patches.shape).toEqual([4, 1, 24, 24, 24]);
    for (let b = 0; b < 4; b++) {
      const patch = patches.data.subarray(b * 24 ** 3, (b + 1) * 24 ** 3);
      expect(patch[1]! - patch[0]!).toBe(1);
      expect(patch[24 * 24 * 5]! - patch[24 * 24 * 4]!).toBe(10000);
    }
    // The third image gives two patches: not a whole batch, so the stream ends.
    expect((await stream.next()).done).toBe(true);
    // Normalised by default: percentile clipping maps into [0, 1].
    const [normalised] = await take(streamPatchBatches([indexVolume([28, 30, 40])], { ...options, batchSize: 2 }), 1);
    expect(Math.max(...normalised!.data)).toBeLessThanOrEqual(1);
    expect(Math.min(...normalised!.data)).toBeGreaterThanOrEqual(0);
  });

  it('refuses 2D images for 3D training', async () => {
    const flat: ImageVolume = {
      data: new Float32Array(64 * 64).fill(1),
      shape: [64, 64],
      spacing: [1, 1],
      affine: [],
      source: 'photo.png',
    };
    const data = new ImageDataset(['photo.png'], { read: async () => flat, normalize: { kind: 'none' } });
    await expect(take(patchBatches(data, { dims: 3, cropSize: [16, 16, 16], batchSize: 1 }), 1)).rejects.toThrow(
      'photo.png is a 2D image; 3D training needs volumes',
    );
    // A dataset of volumes only skips a stray picture like an unreadable file, when told to skip.
    const warnings: string[] = [];
    const mixed = new ImageDataset(['photo.png', 'volume'], {
      read: async (file) => (file === 'photo.png' ? flat : indexVolume([28, 30, 40])),
      normalize: { kind: 'none' },
      volumesOnly: true,
      onError: 'skip',
      logger: { debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined },
    });
    const [batch] = await take(
      patchBatches(mixed, { dims: 3, cropSize: [16, 16, 16], batchSize: 4, minForeground: 0 }),
      1,
    );
    expect(batch!.shape).toEqual([4, 1, 24, 24, 24]);
    expect(warnings).toEqual([
      'skipping an unreadable image: photo.png: is a 2D image; 3D training needs volumes (or use dims 2)',
    ]);
  });

  // A single slice [1, H, W] (a 2D NIfTI) is a 2D image whatever the slice axis, and no volume.
  it('takes a one-slice volume as the 2D image it is', async () => {
    const slice = indexVolume([1, 30, 40], 'slice');
    const plane = { ...slice, shape: [30, 40], spacing: [1, 1] };
    const options = { dims: 2 as const, cropSize: [16, 16], batchSize: 3, minForeground: 0, seed: 4 };
    const of = (image: ImageVolume) =>
      new ImageDataset(['x'], { read: async () => image, normalize: { kind: 'none' } });
    const [fromSlice] = await take(patchBatches(of(slice), { ...options, sliceAxis: 'coronal' }), 1);
    const [fromPlane] = await take(patchBatches(of(plane), options), 1);
    expect(fromSlice!.data).toEqual(fromPlane!.data);
    await expect(take(patchBatches(of(slice), { dims: 3, cropSize: [16, 16, 16], batchSize: 1 }), 1)).rejects.toThrow(
      'slice is a 2D image; 3D training needs volumes',
    );
  });

  it('refuses options that would give NaN, empty or default batches, before the first one', async () => {
    const base = { dims: 2 as const, cropSize: [16, 16], batchSize: 2 };
    const first = (options: object) => patchBatches(dataset(), options as never).next();
    await expect(first({ ...base, sliceAxis: 'axil' })).rejects.toThrow(
      'Expected sliceAxis axial, coronal, sagittal or any but received "axil"',
    );
    await expect(first({ ...base, batchSize: 0 })).rejects.toThrow(
      'Expected an integer between 1 and 65536 for batchSize but received 0',
    );
    await expect(first({ ...base, cropSize: [16, 0] })).rejects.toThrow('for cropSize[1] but received 0');
    await expect(first({ ...base, context: 0.5 })).rejects.toThrow('for context but received 0.5');
    await expect(first({ ...base, minForeground: 2 })).rejects.toThrow('for minForeground but received 2');
    // The sampler's generator is 32-bit: seed 2^32 would repeat seed 0's batches.
    await expect(first({ ...base, seed: 2 ** 32 })).rejects.toThrow(
      'Expected an integer between 0 and 4294967295 for seed but received 4294967296',
    );
    await expect(first({ ...base, slicAxis: 'axial' })).rejects.toThrow(
      'Unknown option "slicAxis" for patchBatches; did you mean "sliceAxis"?',
    );
    await expect(first({ ...base, cropSize: [16, 16, 16] })).rejects.toThrow('Expected cropSize with 2 sides');
    await expect(first({ ...base, patchesPerImage: 2 })).rejects.toThrow(
      'Unknown option "patchesPerImage" for patchBatches',
    );
  });

  it('names a streamed image that is not a well-formed ImageVolume, by its place in the stream', async () => {
    const options = { dims: 3 as const, cropSize: [16, 16, 16], batchSize: 1, minForeground: 0 };
    const good = indexVolume([28, 30, 40]);
    const bad = [
      [{ ...good, data: good.data.subarray(1) }, 'has 33599 values for its shape [28, 30, 40] (33600)'],
      [{ ...good, shape: [2, 14, 30, 40] }, 'has shape [2,14,30,40]; expected [H, W] or [D, H, W]'],
      [{ ...good, spacing: undefined }, 'has spacing undefined; expected 3 positive voxel sizes in mm'],
      [new Float32Array(4), 'is not an ImageVolume'],
    ] as const;
    for (const [image, message] of bad) {
      const stream = streamPatchBatches([good, image as unknown as ImageVolume], options);
      await expect(take(stream, 2)).rejects.toThrow(`streamPatchBatches: image 1 of the stream ${message}`);
    }
  });
});
