import fs from 'node:fs';
import path from 'node:path';
import { checkRunImages, RUN_IMAGES_FILE } from '../../lib/cli/runImages';
import { useTempDir } from '../tempDir';

describe('the images of a pretraining run', () => {
  const tempDir = useTempDir('cover-run-images');
  const scans = ['/data/scans/a.nii.gz', '/data/scans/b.nii.gz', '/data/scans/sub/c.nii.gz'];

  it('are recorded by a new run, and a resume over the same ones (moved or not) goes on', async () => {
    const out = path.join(tempDir(), 'same');
    fs.mkdirSync(out);
    await checkRunImages(out, scans, false);
    const record = JSON.parse(fs.readFileSync(path.join(out, RUN_IMAGES_FILE), 'utf8'));
    expect(record).toEqual({ folder: '/data/scans', files: ['a.nii.gz', 'b.nii.gz', 'sub/c.nii.gz'] });
    await checkRunImages(out, scans, true);
    await checkRunImages(
      out,
      scans.map((file) => file.replace('/data/', '/mnt/archive/')),
      true,
    );
  });

  it('refuse a resume over another set, naming what changed', async () => {
    const out = path.join(tempDir(), 'changed');
    fs.mkdirSync(out);
    await checkRunImages(out, scans, false);
    await expect(checkRunImages(out, [...scans, '/data/scans/d.nii.gz'], true)).rejects.toThrow(
      `--resume: the images differ from those ${out} was trained on (3 then, 4 now; new: d.nii.gz)`,
    );
    await expect(checkRunImages(out, scans.slice(1), true)).rejects.toThrow(/2 now; gone: a\.nii\.gz\)/);
  });

  it('are recorded at the resume of a run that has no record yet', async () => {
    const out = path.join(tempDir(), 'older');
    fs.mkdirSync(out);
    await checkRunImages(out, scans, true);
    expect(fs.existsSync(path.join(out, RUN_IMAGES_FILE))).toBe(true);
  });
});
