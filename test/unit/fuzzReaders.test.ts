import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { loadSafetensors, readImage, saveSafetensors, tensor } from '../../lib';
import { seededRandom } from '../../lib/data/phantom';
import { niftiBytes } from './niftiBytes';
import { useTempDir } from '../tempDir';

/**
 * Fuzzing the file readers with a fixed seed: mutants of a valid NIfTI (plain and gzip),
 * PNG and safetensors file (bytes overwritten, the header smashed, truncated, extended).
 * Each read must succeed or fail with an Error whose message names the file, within a
 * time limit: no crash, no hang, no anonymous error.
 */
const MUTANTS_PER_FORMAT = 120;
const TIME_LIMIT_MS = 5000;

const tempDir = useTempDir('cover-fuzz');

function mutate(original: Buffer, random: () => number, headerBytes: number): Buffer {
  const pick = (n: number) => Math.floor(random() * n);
  const bytes = Buffer.from(original);
  switch (pick(4)) {
    case 0: // a few random bytes anywhere
      for (let i = 1 + pick(8); i > 0; --i) bytes[pick(bytes.length)] = pick(256);
      return bytes;
    case 1: // the header smashed: where sizes, offsets and types live
      for (let i = 1 + pick(6); i > 0; --i) bytes[pick(Math.min(headerBytes, bytes.length))] = pick(256);
      return bytes;
    case 2: // truncated
      return bytes.subarray(0, pick(bytes.length));
    default: // extended with junk
      return Buffer.concat([bytes, Buffer.from(Array.from({ length: 1 + pick(64) }, () => pick(256)))]);
  }
}

async function withinLimit<T>(run: Promise<T>, file: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${file}: no answer within ${TIME_LIMIT_MS} ms`)), TIME_LIMIT_MS);
  });
  try {
    return await Promise.race([run, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads every mutant; returns the counts and the errors that do not name their file. */
async function fuzz(
  name: string,
  original: Buffer,
  headerBytes: number,
  read: (file: string) => Promise<unknown>,
  seed: number,
): Promise<{ ok: number; errors: number; anonymous: string[] }> {
  const random = seededRandom(seed);
  const result = { ok: 0, errors: 0, anonymous: [] as string[] };
  for (let i = 0; i < MUTANTS_PER_FORMAT; ++i) {
    const file = path.join(tempDir(), `${i}-${name}`);
    fs.writeFileSync(file, mutate(original, random, headerBytes));
    try {
      await withinLimit(read(file), file);
      result.ok += 1;
    } catch (error) {
      result.errors += 1;
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes('no answer within')) throw error;
      if (!(error instanceof Error) || !message.includes(file)) result.anonymous.push(message);
    }
    fs.rmSync(file);
  }
  return result;
}

describe('reader fuzzing (fixed seed)', () => {
  const values = Array.from({ length: 6 * 7 * 5 }, (_, i) => (i * 37) % 251);
  const nifti = niftiBytes({ dims: [3, 6, 7, 5], datatype: 4, values });

  it('NIfTI: every mutant reads or fails naming the file', async () => {
    const plain = await fuzz('scan.nii', nifti, 352, (file) => readImage(file), 1);
    const gzip = await fuzz('scan.nii.gz', gzipSync(nifti), 32, (file) => readImage(file), 2);
    expect(plain.anonymous).toEqual([]);
    expect(gzip.anonymous).toEqual([]);
    expect(plain.errors + gzip.errors).toBeGreaterThan(MUTANTS_PER_FORMAT / 2); // the mutants do bite
  });

  it('PNG: every mutant reads or fails naming the file', async () => {
    const png = new PNG({ width: 12, height: 9 });
    png.data.forEach((_, i) => (png.data[i] = (i * 13) % 256));
    const result = await fuzz('slice.png', PNG.sync.write(png), 64, (file) => readImage(file), 3);
    expect(result.anonymous).toEqual([]);
    expect(result.errors).toBeGreaterThan(MUTANTS_PER_FORMAT / 4);
  });

  it('safetensors: every mutant loads or fails naming the file', async () => {
    const file = path.join(tempDir(), 'weights.safetensors');
    await saveSafetensors(
      file,
      {
        'backbone.inc.weight': tensor(
          Float32Array.from({ length: 24 }, (_, i) => i / 7),
          [2, 3, 4],
        ),
        'proj.0.bias': tensor(Float32Array.from([1, -2, 3]), [3]),
      },
      { format: 'pt' },
    );
    const original = fs.readFileSync(file);
    const result = await fuzz('weights.safetensors', original, original.readUInt32LE(0) + 8, loadSafetensors, 4);
    expect(result.anonymous).toEqual([]);
    expect(result.errors).toBeGreaterThan(MUTANTS_PER_FORMAT / 4);
  });
});
