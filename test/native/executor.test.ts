import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { terminateWorkerMidCall } from './terminateWorker';
import { CoverModel, getNumThreads, info, setNumThreads, tensor, type Tensor } from '../../lib';

const small = { channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };
const entry = path.resolve(__dirname, '../../dist/lib/index.js');

function ramp(shape: number[]): Tensor<'float32'> {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + 0.5 * Math.sin(i / 5);
  return tensor(data, shape);
}

/** Counts 1 ms timer callbacks while `work` runs: 0 means it blocked the event loop. */
async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

describe('each model runs on its own native thread', () => {
  it('keeps timers firing while a 3D model is created, trained and run', async () => {
    let model: CoverModel | undefined;
    expect(await ticksDuring(async () => (model = await CoverModel.create({ dims: 3, seed: 0 })))).toBeGreaterThan(0);
    const m = model!;
    try {
      m.configureTraining({ cropSize: [32, 32, 32] });
      expect(await ticksDuring(() => m.trainStep(ramp([1, 1, 40, 40, 40]), 1e-4))).toBeGreaterThan(0);
      const view = ramp([1, 1, 32, 32, 32]);
      expect(await ticksDuring(() => m.forward(view, view))).toBeGreaterThan(0);
    } finally {
      await m.dispose();
    }
  });

  it('completes un-awaited calls in order, without holding back fs work issued after them', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    const view = ramp([2, 1, 128, 128]);
    const finished: string[] = [];
    const calls = Array.from({ length: 16 }, (_, i) =>
      model.forward(view, view).then(() => finished.push(`forward ${i}`)),
    );
    const read = fs.promises.readFile(__filename).then(() => finished.push('readFile'));
    await Promise.all([...calls, read]);
    await model.dispose();
    const forwards = finished.filter((name) => name !== 'readFile');
    expect(forwards).toEqual(Array.from({ length: 16 }, (_, i) => `forward ${i}`));
    // On libuv's pool, queued model calls would have taken every thread before the read.
    expect(finished.indexOf('readFile')).toBeLessThan(15);
  });

  it('applies setNumThreads to the next step, on the thread that runs it', async () => {
    const before = getNumThreads();
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    model.configureTraining({ cropSize: [32, 32] });
    try {
      setNumThreads(1);
      expect((await model.trainStep(ramp([1, 1, 48, 48]), 1e-4)).threads).toBe(1);
      setNumThreads(3);
      expect((await model.trainStep(ramp([1, 1, 48, 48]), 1e-4)).threads).toBe(3);
    } finally {
      setNumThreads(before);
      await model.dispose();
    }
  });

  it('warns once when the thread budget is above the cores', () => {
    // In a process of its own: the warning is once per process.
    const script = `const { setNumThreads } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/lib'))});
      const cores = require('node:os').availableParallelism();
      setNumThreads(cores + 1); setNumThreads(cores + 2); setNumThreads(1);`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr.match(/COVER_TORCH_THREADS_ABOVE_CORES/g)).toHaveLength(1);
    expect(run.stderr).toContain(`is above the ${os.availableParallelism()} cores available`);
  });

  it('gives seeded models created concurrently the weights they get one after the other', async () => {
    const weightsOf = async (model: CoverModel) => {
      const state = await model.stateDict();
      await model.dispose();
      return state;
    };
    const alone = await weightsOf(await CoverModel.create({ dims: 2, seed: 7, ...small }));
    const together = await Promise.all([
      CoverModel.create({ dims: 2, seed: 7, ...small }),
      CoverModel.create({ dims: 2, ...small }),
      CoverModel.create({ dims: 2, seed: 7, ...small }),
    ]);
    const [first, unseeded, second] = await Promise.all(together.map(weightsOf));
    const name = 'backbone.inc.double_conv.0.weight';
    for (const state of [first!, second!]) {
      for (const [key, value] of Object.entries(alone)) expect(state[key]!.data).toEqual(value.data);
    }
    expect(unseeded![name]!.data).not.toEqual(alone[name]!.data);
  });

  it('resolves dispose once earlier calls have settled, and then refuses calls', async () => {
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    const view = ramp([1, 1, 64, 64]);
    let forwardDone = false;
    const pending = model.forward(view, view).then(() => (forwardDone = true));
    await model[Symbol.asyncDispose]();
    expect(forwardDone).toBe(true);
    await pending;
    await expect(model.forward(view, view)).rejects.toThrow('This model was disposed');
  });
});

describe('device placement', () => {
  it("places a model on 'cpu' and reports it", async () => {
    const model = await CoverModel.create({ dims: 2, device: 'cpu', ...small });
    expect(model.device).toBe('cpu');
    const view = ramp([1, 1, 32, 32]);
    expect((await model.forward(view, view)).displacement.shape).toEqual([1, 2, 32, 32]);
    await model.dispose();
    const auto = await CoverModel.create({ dims: 2, device: 'auto', ...small });
    expect(auto.device).toBe(info().cuda.available ? 'cuda:0' : 'cpu');
    await auto.dispose();
  });

  it('refuses CUDA where this build or machine has none, saying why', async () => {
    const { libtorch, cuda } = info();
    if (cuda.available) return; // covered by the GPU test below
    const expected =
      libtorch.flavour === 'cpu'
        ? `device 'cuda:0' needs a CUDA build of cover-torch, but this one is built against LibTorch ${libtorch.version} (CPU only)`
        : 'this LibTorch sees no CUDA device';
    await expect(CoverModel.create({ dims: 2, device: 'cuda:0', ...small })).rejects.toThrow(expected);
  });

  const gpu = info().cuda.available;
  (gpu ? it : it.skip)(
    `runs forward and a step on CUDA (${gpu ? 'GPU found' : 'skipped: no CUDA device here'})`,
    async () => {
      const onCpu = await CoverModel.create({ dims: 2, seed: 3, ...small });
      const onGpu = await CoverModel.create({ dims: 2, seed: 3, device: 'cuda', ...small });
      const view = ramp([1, 1, 32, 32]);
      const [a, b] = await Promise.all([onCpu.forward(view, view), onGpu.forward(view, view)]);
      const diff = Math.max(...a.fixedFeatures.data.map((v, i) => Math.abs(v - b.fixedFeatures.data[i]!)));
      expect(diff).toBeLessThan(1e-3);
      onGpu.configureTraining({ cropSize: [32, 32] });
      expect(Number.isFinite((await onGpu.trainStep(ramp([1, 1, 48, 48]), 1e-4)).totalLoss)).toBe(true);
      await Promise.all([onCpu.dispose(), onGpu.dispose()]);
    },
  );
});

describe('a worker terminated during trainStep', () => {
  it('ends without a crash', () => {
    const result = terminateWorkerMidCall(
      `
      const { parentPort } = require('node:worker_threads');
      const { CoverModel, tensor } = require(${JSON.stringify(entry)});
      (async () => {
        const model = await CoverModel.create({ dims: 2, seed: 0 });
        model.configureTraining({ cropSize: [64, 64] });
        const images = tensor(new Float32Array(4 * 96 * 96).fill(0.5), [4, 1, 96, 96]);
        const step = model.trainStep(images, 1e-4);
        parentPort.postMessage('stepping');
        await step;
      })();
    `,
      50,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('terminated 1');
  });
});
