import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CoverModel, cpuTensorMemory, releaseCachedCpuMemory, tensor } from '../../lib';

const entry = path.resolve(__dirname, '../../dist/lib/index.js');
const small = { channels: [8, 16, 16, 16, 16] as [number, number, number, number, number] };

function memoryInChild(env: Record<string, string>): ReturnType<typeof cpuTensorMemory> {
  const script = `console.log(JSON.stringify(require(${JSON.stringify(entry)}).cpuTensorMemory()))`;
  const printed = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  return JSON.parse(printed);
}

describe('CPU tensor memory', () => {
  it("counts a training step's tensors, caches its freed blocks and releases them", async () => {
    expect(cpuTensorMemory().allocator).toBe('cover-torch');
    const model = await CoverModel.create({ dims: 2, seed: 0, ...small });
    model.configureTraining({ cropSize: [64, 64] });
    const images = tensor(
      new Float32Array(2 * 80 * 80).map((_, i) => Math.sin(i / 7)),
      [2, 1, 80, 80],
    );
    releaseCachedCpuMemory(); // the cache's bound restarts from what is alive now
    const before = cpuTensorMemory({ resetPeak: true });
    await model.trainStep(images, 1e-4);
    const after = cpuTensorMemory();
    // At least the two views' full-resolution maps of the first block were alive at once:
    // 4 images (moving and fixed) x 8 channels x 64^2 floats, several times over.
    const oneMap = 4 * 8 * 64 * 64 * 4;
    expect(after.peakBytes - before.liveBytes).toBeGreaterThan(4 * oneMap);
    expect(after.peakBytes).toBeGreaterThan(after.liveBytes);
    expect(after.cachedBytes).toBeGreaterThan(oneMap);
    // Within the peak, up to each mapping's rounding to whole pages.
    expect(after.liveBytes + after.cachedBytes).toBeLessThanOrEqual(after.peakBytes * 1.01 + 2 ** 21);
    expect(releaseCachedCpuMemory()).toBe(after.cachedBytes);
    expect(cpuTensorMemory().cachedBytes).toBe(0);

    await model.trainStep(images, 1e-4);
    expect(cpuTensorMemory().cachedBytes).toBeGreaterThan(0);
    await model.dispose();
    // The model's thread frees it, then the cache, just after dispose() settles.
    for (let i = 0; i < 100 && cpuTensorMemory().cachedBytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(cpuTensorMemory().cachedBytes).toBe(0);
  });

  it('keeps LibTorch’s own allocator when the environment asks for it', () => {
    expect(memoryInChild({})).toMatchObject({ allocator: 'cover-torch' });
    expect(memoryInChild({ COVER_TORCH_CPU_ALLOCATOR: 'libtorch' })).toEqual({
      allocator: 'libtorch',
      liveBytes: 0,
      peakBytes: 0,
      cachedBytes: 0,
    });
  });

  it('rejects options that are not { resetPeak: boolean }', () => {
    expect(() => cpuTensorMemory(null as never)).toThrow(/Expected an object for options but received null/);
    expect(() => cpuTensorMemory({ resetPeak: 'yes' as never })).toThrow(/Expected a boolean for options.resetPeak/);
  });
});
