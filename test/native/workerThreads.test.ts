import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ops, tensor } from '../../lib';
import { terminateWorkerMidCall } from './terminateWorker';

// Workers run the compiled package (dist/), which `npm test` builds first.
const entry = path.resolve(__dirname, '../../dist/lib/index.js');

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { ops, tensor, info } = require(workerData.entry);
(async () => {
  const n = workerData.n;
  const results = [];
  for (let round = 0; round < 5; round++) {
    const a = tensor(new Float64Array(n * n).map((_, i) => (i % 7) + workerData.seed), [n, n]);
    const product = await ops.matmul(a, tensor(new Float64Array(n).fill(1), [n, 1]));
    results.push(Array.from(product.data));
  }
  parentPort.postMessage({ results, threads: info().threads.intraOp });
})().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

function expectedRowSums(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, row) => {
    let sum = 0;
    for (let col = 0; col < n; col++) sum += ((row * n + col) % 7) + seed;
    return sum;
  });
}

describe('worker threads', () => {
  it('loads and runs the addon in two workers at once, concurrently with the main thread', async () => {
    const n = 64;
    const runWorker = (seed: number) =>
      new Promise<{ results: number[][]; threads: number }>((resolve, reject) => {
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { entry, n, seed } });
        worker.once('message', (message: { error?: string; results: number[][]; threads: number }) => {
          if (message.error) reject(new Error(message.error));
          else resolve(message);
        });
        worker.once('error', reject);
      });

    const mainThread = (async () => {
      const sums: number[][] = [];
      for (let round = 0; round < 5; round++) {
        const a = tensor(
          new Float64Array(n * n).map((_, i) => (i % 7) + 3),
          [n, n],
        );
        sums.push(Array.from((await ops.matmul(a, tensor(new Float64Array(n).fill(1), [n, 1]))).data as Float64Array));
      }
      return sums;
    })();

    const [first, second, main] = await Promise.all([runWorker(1), runWorker(2), mainThread]);
    for (const results of first.results) expect(results).toEqual(expectedRowSums(n, 1));
    for (const results of second.results) expect(results).toEqual(expectedRowSums(n, 2));
    for (const results of main) expect(results).toEqual(expectedRowSums(n, 3));
    expect(first.threads).toBeGreaterThan(0);
  });

  it('survives terminating a worker while its native calls are in flight', () => {
    const result = terminateWorkerMidCall(
      `
      const { parentPort } = require('node:worker_threads');
      const { ops, tensor } = require(${JSON.stringify(entry)});
      const n = 700;
      const a = tensor(new Float64Array(n * n).fill(1), [n, n]);
      for (let i = 0; i < 8; i++) ops.matmul(a, a).catch(() => {});
      parentPort.postMessage('busy');
    `,
      20,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('terminated 1');
  });
});
