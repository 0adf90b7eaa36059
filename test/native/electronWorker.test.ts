import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CoverModel, Encoder, PREPROCESSING_METADATA } from '../../lib';
import { useTempDir } from '../tempDir';
import { niftiBytes } from '../unit/niftiBytes';

// The Electron example's worker script, run as Electron's main process runs it, on the
// compiled package (dist/, which `npm test` builds first).
const script = path.resolve(__dirname, '../../examples/electron/featuresWorker.js');
const coverTorch = path.resolve(__dirname, '../../dist/lib/index.js');

interface Reply {
  id: number;
  progress?: [number, number];
  features?: Float32Array;
  shape?: number[];
  channelsPerLevel?: number[];
  error?: string;
}

/** Starts the worker; `ask` sends one request and resolves with its answer and progress. */
function startWorker(weights: string) {
  const worker = new Worker(script, { workerData: { weights, coverTorch } });
  const waiting = new Map<number, { progress: [number, number][]; resolve: (reply: Reply) => void }>();
  worker.on('message', (reply: Reply) => {
    const entry = waiting.get(reply.id)!;
    if (reply.progress) entry.progress.push(reply.progress);
    else {
      waiting.delete(reply.id);
      entry.resolve(reply);
    }
  });
  let next = 0;
  return {
    ask(image: string, levels?: number[]) {
      return new Promise<Reply & { progressSeen: [number, number][] }>((resolve) => {
        const id = next++;
        const progress: [number, number][] = [];
        waiting.set(id, { progress, resolve: (reply) => resolve({ ...reply, progressSeen: progress }) });
        worker.postMessage({ id, image, levels });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage({ close: true });
      }),
  };
}

describe('the Electron example worker', () => {
  const temp = useTempDir('cover-electron-worker');

  it('encodes in two worker threads at once what the main thread encodes, with progress and errors', async () => {
    const weights = path.join(temp(), 'final.safetensors');
    const model = await CoverModel.create({ dims: 2, channels: [8, 16, 16, 16, 16], seed: 31 });
    const preprocessing = { dims: 2, normalize: { kind: 'minmax' }, sliceAxis: 'axial' };
    await model.save(weights, { metadata: { [PREPROCESSING_METADATA]: JSON.stringify(preprocessing) } });
    await model.dispose();
    // A 3-slice volume: the 2D encoder encodes it slice by slice, reporting each.
    const [W, H, D] = [20, 18, 3];
    const values = Array.from({ length: W * H * D }, (_, i) => 50 + 40 * Math.sin(i / 9));
    const image = path.join(temp(), 'volume.nii');
    fs.writeFileSync(image, niftiBytes({ dims: [3, W, H, D], values }));

    const workers = [startWorker(weights), startWorker(weights)];
    try {
      const [a, b] = await Promise.all(workers.map((w) => w.ask(image, [1, 2])));
      await using encoder = await Encoder.load(weights);
      const expected = await encoder.encode(image, { levels: [1, 2] });
      for (const reply of [a!, b!]) {
        expect(reply.error).toBeUndefined();
        expect(reply.shape).toEqual(expected.features.shape);
        expect(reply.channelsPerLevel).toEqual([8, 16]);
        expect(reply.features).toEqual(expected.features.data);
        expect(reply.progressSeen).toEqual([
          [1, 3],
          [2, 3],
          [3, 3],
        ]);
      }
      const missing = await workers[0]!.ask(path.join(temp(), 'missing.nii'));
      expect(missing.error).toMatch(/missing\.nii/);
      // The worker still answers after a failed request.
      expect((await workers[0]!.ask(image)).shape).toEqual([8, D, H, W]);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  }, 60_000);
});
