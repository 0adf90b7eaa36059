import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageReadError, readImage } from '../../lib';
import { gunzipBytes } from '../../lib/data/image/readNifti';
import { decodePlanarImage } from '../../lib/data/image/readPlanarImage';
import { PNG } from 'pngjs';
import { useTempDir } from '../tempDir';
import { niftiBytes } from './niftiBytes';

describe('limits on what an image file may claim', () => {
  const tempDir = useTempDir('cover-limits');
  const writeTemp = (name: string, bytes: Buffer) => {
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it('stops decompressing at the limit instead of filling memory (a gzip bomb)', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 2 ** 20)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(2 ** 20);
    const read = gunzipBytes(bomb, 'bomb.nii.gz', { maxBytes: 16 * 2 ** 20 });
    await expect(read).rejects.toThrow(ImageReadError);
    await expect(read).rejects.toThrow(
      /^bomb\.nii\.gz: decompresses to more than 16\.0 MiB \(from \d+\.\d KiB of gzip\)/,
    );
    // Under the limit the same data comes back whole.
    expect((await gunzipBytes(bomb, 'bomb.nii.gz', { maxBytes: 65 * 2 ** 20 })).length).toBe(64 * 2 ** 20);
  });

  it('stops a NIfTI stream at the size its header declares', async () => {
    // A valid header for 10 x 10 x 10 int16 voxels (2,352 bytes in all), then 64 MiB of zeros.
    const header = niftiBytes({ dims: [3, 10, 10, 10], datatype: 4, values: new Array(1000).fill(1) });
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]));
    await expect(readImage(writeTemp('declared.nii.gz', bomb))).rejects.toThrow(
      /declared\.nii\.gz: decompresses to more than the 2\.3 KiB its NIfTI header declares/,
    );
    // The same header with its data alone reads as before.
    const volume = await readImage(writeTemp('fine.nii.gz', gzipSync(header)));
    expect(volume.shape).toEqual([10, 10, 10]);
  });

  it('stops a NIfTI-2 stream at the size its header declares', async () => {
    // NIfTI-2 header fields written by offset: 10 x 10 x 10 float32 voxels after 544 bytes.
    const header = Buffer.alloc(544);
    header.writeInt32LE(540, 0);
    header.write('n+2\0\r\n\x1a\n', 4, 'latin1');
    header.writeInt16LE(16, 12); // datatype float32
    header.writeInt16LE(32, 14); // bitpix
    [3, 10, 10, 10, 1, 1, 1, 1].forEach((d, i) => header.writeBigInt64LE(BigInt(d), 16 + 8 * i));
    header.writeBigInt64LE(544n, 168); // vox_offset
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]));
    const read = gunzipBytes(bomb, 'nifti2.nii.gz');
    await expect(read).rejects.toThrow(
      /nifti2\.nii\.gz: decompresses to more than the 4\.4 KiB its NIfTI header declares/,
    );
  });

  it('refuses a NIfTI header declaring more voxels than maxVoxels as soon as it is inflated', async () => {
    // A valid gzip stream whose header declares 1024^3 uint8 voxels (1 GiB): refused from the
    // header, before the 64 MiB that follow are inflated (the error is not "truncated").
    const header = niftiBytes({ dims: [3, 1024, 1024, 1024], datatype: 2, values: [] });
    const huge = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]));
    expect(huge.length).toBeLessThan(2 ** 20);
    await expect(readImage(writeTemp('huge.nii.gz', huge))).rejects.toThrow(
      /huge\.nii\.gz: image of 1024 x 1024 x 1024 voxels \(1,073,741,824\) is larger than the 536,870,912 voxels accepted; pass a larger maxVoxels/,
    );
    const stopped = gunzipBytes(huge, 'huge.nii.gz');
    await expect(stopped).rejects.toThrow(/larger than the 536,870,912 voxels accepted/);
  });

  it('applies maxVoxels to every format, compressed or not', async () => {
    const small = niftiBytes({ dims: [3, 10, 10, 10], datatype: 4, values: new Array(1000).fill(1) });
    for (const [name, bytes] of [
      ['small.nii', small],
      ['small.nii.gz', gzipSync(small)],
    ] as const) {
      const file = writeTemp(name, bytes);
      await expect(readImage(file, { maxVoxels: 999 })).rejects.toThrow(
        `${file}: image of 10 x 10 x 10 voxels (1,000) is larger than the 999 voxels accepted`,
      );
      expect((await readImage(file, { maxVoxels: 1000 })).shape).toEqual([10, 10, 10]);
    }
    const png = writeTemp('small.png', PNG.sync.write(new PNG({ width: 5, height: 4 })));
    await expect(readImage(png, { maxVoxels: 19 })).rejects.toThrow(
      `${png}: image of 4 x 5 voxels (20) is larger than the 19 voxels accepted`,
    );
    expect((await readImage(png, { maxVoxels: 20 })).shape).toEqual([4, 5]);
  });

  it('says what maxVoxels must be', async () => {
    for (const bad of [0, 1.5, -3, Infinity]) {
      await expect(readImage('any.nii', { maxVoxels: bad })).rejects.toThrow(
        `Expected a positive integer for maxVoxels but received ${bad}`,
      );
    }
  });

  it('refuses a PNG whose header claims more pixels than accepted, before decoding', () => {
    // Signature, then an IHDR chunk claiming 100000 x 100000 8-bit gray pixels.
    const header = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header, 0);
    header.writeUInt32BE(13, 8);
    header.write('IHDR', 12, 'latin1');
    header.writeUInt32BE(100_000, 16);
    header.writeUInt32BE(100_000, 20);
    header[24] = 8;
    expect(() => decodePlanarImage(header, 'huge.png')).toThrow(
      'huge.png: image of 100000 x 100000 pixels is larger than the 268,435,456 pixels accepted',
    );
  });

  it('refuses a named pipe instead of waiting forever for its writer', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-fifo-'));
    try {
      const fifo = path.join(dir, 'scan.nii');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      await expect(readImage(fifo)).rejects.toThrow(`${fifo}: is a named pipe (FIFO), expected a regular image file`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
