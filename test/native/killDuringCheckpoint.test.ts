import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoverModel } from '../../lib';

const cli = path.resolve(__dirname, '../../dist/lib/cli.js');

/** Starts the demo writing a checkpoint every step, and SIGKILLs it `delayMs` after the first one. */
async function runAndKill(out: string, delayMs: number, resume: boolean): Promise<void> {
  const args = [
    cli,
    'pretrain',
    '--demo',
    '--steps',
    '1000',
    '--crop',
    '32',
    '--batch-size',
    '1',
    '--checkpoint-every',
    '1',
  ];
  const child = spawn(process.execPath, [...args, '--out', out, ...(resume ? ['--resume'] : [])], { stdio: 'ignore' });
  const latest = path.join(out, 'checkpoints', 'latest.json');
  const before = fs.existsSync(latest) ? fs.readFileSync(latest, 'utf8') : '';
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (fs.existsSync(latest) && fs.readFileSync(latest, 'utf8') !== before) {
        clearInterval(poll);
        setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, delayMs);
      }
    }, 5);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`pretrain exited early with code ${code}`));
    });
  });
  await new Promise((resolve) => child.once('exit', resolve));
}

describe('a killed run', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-torch-kill-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('never leaves a corrupt checkpoint as the latest, and resumes from it', async () => {
    const out = path.join(dir, 'run');
    let lastStep = 0;
    // Kills at different moments relative to the checkpoint writes (one per step).
    for (const [round, delayMs] of [37, 211, 503].entries()) {
      await runAndKill(out, delayMs, round > 0);
      const checkpoints = path.join(out, 'checkpoints');
      const latest = JSON.parse(fs.readFileSync(path.join(checkpoints, 'latest.json'), 'utf8')) as {
        step: number;
        path: string;
      };
      expect(latest.step).toBeGreaterThan(lastStep);
      lastStep = latest.step;
      const folder = path.join(checkpoints, latest.path);
      expect(JSON.parse(fs.readFileSync(path.join(folder, 'meta.json'), 'utf8')).step).toBe(latest.step);
      // Resumed runs drop the metrics of steps after their checkpoint: each step appears once,
      // in order (a line cut short by the kill may end the file).
      const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n');
      const steps = lines.slice(0, -1).map((line) => (JSON.parse(line) as { step: number }).step);
      expect(steps).toEqual(steps.map((_, i) => i + 1));
      const model = await CoverModel.load(path.join(folder, 'model.safetensors'));
      model.configureTraining({ cropSize: [32, 32] });
      await model.loadTrainingState(path.join(folder, 'training.safetensors'));
      model.dispose();
    }
  }, 120_000);

  it('ends on Ctrl-C with exit code 130, a checkpoint and the command that resumes', async () => {
    const out = path.join(dir, 'interrupted');
    const args = [cli, 'pretrain', '--demo', '--steps', '1000', '--crop', '32', '--batch-size', '1', '--out', out];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // The first progress line means training has started.
      if (/step \d+\/1000/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    const latest = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'latest.json'), 'utf8')) as {
      path: string;
    };
    expect(stderr).toContain(`checkpoint=${path.join(out, 'checkpoints', latest.path)}`);
    expect(stderr).toContain(`npx cover-torch pretrain --config ${path.join(out, 'config.yaml')} --resume`);
  }, 120_000);
});
