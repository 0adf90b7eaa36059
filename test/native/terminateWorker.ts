import { spawnSync } from 'node:child_process';

/**
 * Runs `workerSource` in a worker thread of a fresh Node process; once the worker posts a
 * message (its native calls are in flight), terminates it `delayMs` later. Returns what the
 * process printed and its exit status: in a child process, so that an abort would not take
 * the test runner with it.
 */
export function terminateWorkerMidCall(workerSource: string, delayMs: number) {
  const script = `
    const { Worker } = require('node:worker_threads');
    const worker = new Worker(${JSON.stringify(workerSource)}, { eval: true });
    worker.once('message', () => setTimeout(() => worker.terminate().then((code) => {
      console.log('terminated ' + code);
    }), ${delayMs}));
  `;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  return { stdout: result.stdout.trim(), stderr: result.stderr, status: result.status };
}
