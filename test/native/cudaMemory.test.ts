import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CoverModel, cudaTensorMemory, info, tensor } from '../../lib';

const entry = path.resolve(__dirname, '../../dist/lib/index.js');

describe('cudaTensorMemory', () => {
  it('refuses options that name no CUDA device, saying what it takes', () => {
    expect(() => cudaTensorMemory({ device: 'cpu' })).toThrow(
      `Expected 'cuda' or 'cuda:N' for options.device but received "cpu"`,
    );
    expect(() => cudaTensorMemory({ device: 'cuda:x' })).toThrow(TypeError);
    expect(() => cudaTensorMemory({ device: 'cuda:5000' })).toThrow(RangeError);
    expect(() => cudaTensorMemory({ resetPeak: 1 as unknown as boolean })).toThrow(
      'Expected a boolean for options.resetPeak but received 1',
    );
  });

  const { libtorch, cuda } = info();
  (cuda.available ? it.skip : it)('says why where there is no GPU to read', () => {
    const expected =
      libtorch.flavour === 'cpu'
        ? `CUDA memory needs a CUDA build of cover-torch, but this one is built against LibTorch ${libtorch.version.split('+')[0]}`
        : 'no CUDA device: this LibTorch sees no GPU on this machine';
    expect(() => cudaTensorMemory()).toThrow(expected);
  });

  (cuda.available ? it : it.skip)(
    `counts a model's tensors on the GPU and restarts the peak (${cuda.available ? 'GPU found' : 'skipped: no CUDA device here'})`,
    async () => {
      // Read first thing in a process, before any CUDA tensor: nothing held, and no error.
      const script = `console.log(JSON.stringify(require(${JSON.stringify(entry)}).cudaTensorMemory({ resetPeak: true })))`;
      expect(JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))).toEqual({
        device: 'cuda:0',
        liveBytes: 0,
        peakBytes: 0,
        reservedBytes: 0,
      });
      const before = cudaTensorMemory({ device: 'cuda:0', resetPeak: true });
      expect(before.device).toBe('cuda:0');
      const model = await CoverModel.create({ dims: 2, seed: 0, device: 'cuda:0' });
      model.configureTraining({ cropSize: [32, 32] });
      await model.trainStep(tensor(new Float32Array(2 * 48 * 48).fill(0.5), [2, 1, 48, 48]), 1e-4);
      const trained = cudaTensorMemory({ resetPeak: true });
      // The weights and Adam's moments stay; the step's activations came and went.
      expect(trained.liveBytes).toBeGreaterThan(before.liveBytes);
      expect(trained.peakBytes).toBeGreaterThan(trained.liveBytes);
      expect(trained.reservedBytes).toBeGreaterThanOrEqual(trained.peakBytes);
      expect(cudaTensorMemory().peakBytes).toBe(trained.liveBytes);
      await model.dispose();
      expect(cudaTensorMemory().liveBytes).toBeLessThan(trained.liveBytes);
    },
  );
});
