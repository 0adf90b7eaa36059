import fs from 'node:fs';
import path from 'node:path';
import { checkRunImages, RUN_IMAGES_FILE } from '../../lib/cli/runImages';
import { useTempDir } from '../tempDir';

describe('the images of a pretraining run', () => {
  const tempDir = useTempDir('cover-run-images');
  const scans = ['/data/scans/a.nii.gz', '/data/scans/b.nii.gz', '/data/scans/sub/c.nii.gz'];
  const warnings = () => {
    const said: Array<{ message: string; fields?: Record<string, unknown> }> = [];
    return {
      said,
      logger: { warn: (message: string, fields?: Record<string, unknown>) => said.push({ message, fields }) },
    };
  };
  const recorded = (out: string) => JSON.parse(fs.readFileSync(path.join(out, RUN_IMAGES_FILE), 'utf8'));

  it('are recorded by a new run, and a resume over the same ones (moved or not) goes on quietly', async () => {
    const out = path.join(tempDir(), 'same');
    fs.mkdirSync(out);
    const { said, logger } = warnings();
    await checkRunImages(out, scans, false, logger);
    expect(recorded(out)).toEqual({ folder: '/data/scans', files: ['a.nii.gz', 'b.nii.gz', 'sub/c.nii.gz'] });
    await checkRunImages(out, scans, true, logger);
    await checkRunImages(
      out,
      scans.map((file) => file.replace('/data/', '/mnt/archive/')),
      true,
      logger,
    );
    expect(said).toEqual([]);
  });

  it('say so when a resume draws from another set (a broken file removed, one added), and record it', async () => {
    const out = path.join(tempDir(), 'changed');
    fs.mkdirSync(out);
    const { said, logger } = warnings();
    await checkRunImages(out, scans, false, logger);
    await checkRunImages(out, [...scans.slice(1), '/data/scans/d.nii.gz'], true, logger);
    expect(said).toEqual([
      {
        message: expect.stringContaining('the images differ from those the run was trained on'),
        fields: { before: 3, now: 3, new: 'd.nii.gz', gone: 'a.nii.gz' },
      },
    ]);
    expect(recorded(out).files).toEqual(['b.nii.gz', 'sub/c.nii.gz', 'd.nii.gz']);
  });

  it('are recorded at the resume of a run that has no record yet', async () => {
    const out = path.join(tempDir(), 'older');
    fs.mkdirSync(out);
    await checkRunImages(out, scans, true, warnings().logger);
    expect(fs.existsSync(path.join(out, RUN_IMAGES_FILE))).toBe(true);
  });
});
