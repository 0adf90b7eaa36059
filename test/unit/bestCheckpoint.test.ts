import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { latestCheckpoint, restoreCheckpoint, updateBestCheckpoint } from '../../lib/train/checkpoints';
import { useTempDir } from '../tempDir';

describe('best checkpoint', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-best-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const checkpoint = (step: number) => {
    const folder = path.join(dir, `step-${String(step).padStart(6, '0')}`);
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'model.safetensors'), `weights of ${step}`);
    fs.writeFileSync(path.join(folder, 'meta.json'), `{"step":${step}}`);
    return folder;
  };
  const best = () => JSON.parse(fs.readFileSync(path.join(dir, 'best.json'), 'utf8'));
  const bestFolders = () => fs.readdirSync(dir).filter((name) => name.startsWith('best-'));

  it('keeps the lowest score, as a complete copy that outlives the step folder', async () => {
    expect(await updateBestCheckpoint(dir, checkpoint(10), 10, 0.8)).toBe(true);
    expect(await updateBestCheckpoint(dir, checkpoint(20), 20, 0.5)).toBe(true);
    expect(await updateBestCheckpoint(dir, checkpoint(30), 30, 0.6)).toBe(false);
    expect(await updateBestCheckpoint(dir, checkpoint(40), 40, NaN)).toBe(false);
    expect(best()).toEqual({ step: 20, score: 0.5, path: 'best-step-000020' });
    expect(bestFolders()).toEqual(['best-step-000020']);
    // Pruning the step folder (keep-last-N) must not take the best one with it.
    fs.rmSync(path.join(dir, 'step-000020'), { recursive: true });
    expect(fs.readFileSync(path.join(dir, 'best-step-000020', 'model.safetensors'), 'utf8')).toBe('weights of 20');
    expect(fs.readdirSync(path.join(dir, 'best-step-000020')).sort()).toEqual(['meta.json', 'model.safetensors']);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a best.json that holds no score instead of failing the checkpoint', async () => {
    for (const text of ['not json', '{}', 'null', '{"score": "low"}']) {
      fs.writeFileSync(path.join(dir, 'best.json'), text);
      expect(await updateBestCheckpoint(dir, checkpoint(50 + text.length), 50 + text.length, 0.9)).toBe(true);
      expect(best()).toEqual({ step: 50 + text.length, score: 0.9, path: `best-step-0000${50 + text.length}` });
    }
  });
});

describe('checkpoint pointers that do not hold what they should', () => {
  const tempDir = useTempDir('cover-pointers');

  it('latest.json of {}, null or garbage is an error naming the file, not a TypeError', async () => {
    for (const text of ['{}', 'null', '{"path": "../../etc"}', 'not json']) {
      fs.writeFileSync(path.join(tempDir(), 'latest.json'), text);
      await expect(latestCheckpoint(tempDir())).rejects.toThrow(
        `${path.join(tempDir(), 'latest.json')} does not name a checkpoint`,
      );
    }
  });

  it('a meta.json without a step is refused before the metrics or the model change', async () => {
    const folder = path.join(tempDir(), 'step-000004');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'meta.json'), '{"metrics": {}}');
    // No model is needed: the check comes before anything is loaded.
    await expect(restoreCheckpoint(folder, undefined as never)).rejects.toThrow(
      `${path.join(folder, 'meta.json')} has no valid "step"`,
    );
  });
});
