import fs from 'node:fs';
import path from 'node:path';
import { saveSafetensors, tensor } from '../../lib';
import { latestCheckpoint, removeInterruptedWrites, saveCheckpoint, weightsFileOf } from '../../lib/train/checkpoints';
import { useTempDir } from '../tempDir';

/** A model whose files say which step wrote them. */
function fakeModel(): Parameters<typeof saveCheckpoint>[1] {
  return {
    save: async (file: string) => fs.writeFileSync(file, 'weights'),
    saveTrainingState: async (file: string) => fs.writeFileSync(file, 'state'),
    loadTrainingState: async () => undefined,
    loadStateDict: async () => undefined,
    stateDict: async () => ({}),
  } as never;
}

describe('checkpoint folders', () => {
  const tempDir = useTempDir('cover-checkpoint-folders');
  const folders = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('step-'))
      .sort();

  // As text, step-1000000 sorts before step-999999: the newest would be pruned.
  it('keeps the newest by step number past a million steps, and always the one just written', async () => {
    const dir = path.join(tempDir(), 'million');
    const model = fakeModel();
    for (const step of [999_998, 999_999, 1_000_000]) await saveCheckpoint(dir, model, { step }, 2);
    expect(folders(dir)).toEqual(['step-1000000', 'step-999999']);
    expect(await latestCheckpoint(dir)).toBe(path.join(dir, 'step-1000000'));
    // A lower step written into the folder (a run started again) stays, with latest.json on it.
    await saveCheckpoint(dir, model, { step: 2 }, 2);
    expect(folders(dir)).toContain('step-000002');
    expect(await latestCheckpoint(dir)).toBe(path.join(dir, 'step-000002'));
  });

  it('without latest.json resumes from the highest step folder rather than from nothing', async () => {
    const dir = path.join(tempDir(), 'lost-pointer');
    const model = fakeModel();
    for (const step of [4, 6, 8]) await saveCheckpoint(dir, model, { step }, 5);
    fs.rmSync(path.join(dir, 'latest.json'));
    fs.mkdirSync(path.join(dir, '.step-000010.123.tmp')); // an unfinished write: never a candidate
    expect(await latestCheckpoint(dir)).toBe(path.join(dir, 'step-000008'));
    expect(await latestCheckpoint(path.join(tempDir(), 'absent'))).toBeUndefined();
  });

  it('removes the staging folders and temporary files of interrupted writes, and nothing else', async () => {
    const dir = path.join(tempDir(), 'interrupted');
    await saveCheckpoint(dir, fakeModel(), { step: 2 }, 3);
    const stale = [
      '.step-000004.4242.tmp',
      '.best-step-000004.4242.tmp',
      '.latest.json.4242.0b6f4a8e-5c1d-4e0a-9a52-3f0c1b7d2e11.tmp',
      '.best.json.4242.0b6f4a8e-5c1d-4e0a-9a52-3f0c1b7d2e11.tmp',
    ];
    for (const name of stale.slice(0, 2)) fs.mkdirSync(path.join(dir, name, 'inner'), { recursive: true });
    for (const name of stale.slice(2)) fs.writeFileSync(path.join(dir, name), '{"st');
    // A user's own files, and names only like ours, stay.
    for (const name of ['.step-notes.tmp', 'notes.tmp', '.cover-torch.lock'])
      fs.writeFileSync(path.join(dir, name), 'x');
    expect((await removeInterruptedWrites(dir)).sort()).toEqual([...stale].sort());
    expect(fs.readdirSync(dir).sort()).toEqual([
      '.cover-torch.lock',
      '.step-notes.tmp',
      'latest.json',
      'notes.tmp',
      'step-000002',
    ]);
    expect(await removeInterruptedWrites(path.join(dir, 'absent'))).toEqual([]);
  });

  it("gives a run folder's newest weights: final.safetensors, or a checkpoint trained past it", async () => {
    const run = path.join(tempDir(), 'resumed-run');
    const checkpoints = path.join(run, 'checkpoints');
    await saveCheckpoint(checkpoints, fakeModel(), { step: 4 }, 3);
    const final = path.join(run, 'final.safetensors');
    const weights = { w: tensor(Float32Array.from([1]), [1]) };
    await saveSafetensors(final, weights, { 'cover-torch.steps': '4' });
    expect(await weightsFileOf(run)).toBe(final);
    // Resumed for more steps and stopped at 6: the checkpoint is the run's newest.
    await saveCheckpoint(checkpoints, fakeModel(), { step: 6 }, 3);
    expect(await weightsFileOf(run)).toBe(path.join(checkpoints, 'step-000006', 'model.safetensors'));
    // A final.safetensors that does not say its steps is taken as it is.
    await saveSafetensors(final, weights);
    expect(await weightsFileOf(run)).toBe(final);
  });
});
