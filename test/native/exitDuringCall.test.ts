import { spawnSync } from 'node:child_process';
import path from 'node:path';

const library = path.resolve(__dirname, '../../dist/lib');

/**
 * A process that leaves while its models are computing: `process.exit` (or an uncaught
 * error) runs the C++ exit path, LibTorch's static destructors included, while the model's
 * native thread is still inside a step. It must end with its own exit code, not a crash.
 */
function exitDuringSteps(how: 'exit' | 'throw'): number | null {
  const script = `
    const { CoverModel, tensor } = require(${JSON.stringify(library)});
    (async () => {
      const model = await CoverModel.create({ dims: 2, channels: [8, 8, 8, 8, 8], headDim: 1, heads: [1, 1, 1, 1, 1], radius: 1 });
      model.configureTraining({ cropSize: [64, 64] });
      const images = tensor(new Float32Array(4 * 96 * 96).fill(0.5), [4, 1, 96, 96]);
      for (let i = 0; i < 10; i++) model.trainStep(images, 1e-4).catch(() => {});
      setTimeout(() => { ${how === 'exit' ? 'process.exit(5)' : "throw new Error('leaving')"}; }, 50);
    })();`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  if (result.signal) return -1; // crashed (SIGSEGV, SIGABRT)
  return result.status;
}

describe('leaving the process while a model computes', () => {
  it('process.exit ends it with its exit code, however often tried', () => {
    for (let round = 0; round < 4; round++) expect(exitDuringSteps('exit')).toBe(5);
  });

  it('an uncaught error ends it with exit code 1', () => {
    for (let round = 0; round < 3; round++) expect(exitDuringSteps('throw')).toBe(1);
  });
});
