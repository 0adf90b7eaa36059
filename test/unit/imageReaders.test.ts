import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ImageReadError, axisCodes, readImage, readNifti, type ImageVolume } from '../../lib/data/image';
import { niftiBytes, type NiftiSpec } from './niftiBytes';

const TEMPLATES = '/usr/share/mricron/templates';
const ITK_DATA = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
const CH2 = path.join(TEMPLATES, 'ch2.nii.gz');
const AAL = path.join(TEMPLATES, 'aal.nii.gz');
const JHU_2MM = path.join(TEMPLATES, 'JHU-WhiteMatter-labels-2mm.nii.gz');
const INIA19 = path.join(TEMPLATES, 'inia19-t1-brain.nii.gz');
const KMEANS = path.join(ITK_DATA, 'KmeansTest_T1UCharRaw.nii.gz');
/** Real volumes are optional: the tests that need one are skipped where it is not installed. */
const withFile = (file: string) => (fs.existsSync(file) ? it : it.skip);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-image-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

function writeNifti(name: string, spec: NiftiSpec, gzip = false): string {
  const bytes = niftiBytes(spec);
  fs.writeFileSync(tmp(name), gzip ? zlib.gzipSync(bytes) : bytes);
  return tmp(name);
}

/** RAS position of array index [z, y, x] of a volume. */
function world(volume: ImageVolume, [z, y, x]: number[]): number[] {
  const a = volume.affine;
  return [0, 1, 2].map((r) => a[r * 4]! * x! + a[r * 4 + 1]! * y! + a[r * 4 + 2]! * z! + a[r * 4 + 3]!);
}

/** Every voxel of `volume` holds `expected(i, j, k)` of the file voxel at the same world position. */
function expectSameWorld(volume: ImageVolume, fileAffine: number[], expected: (ijk: number[]) => number): void {
  const [d, h, w] = volume.shape as [number, number, number];
  // The test affines are permutations with scales: invert by matching each world axis.
  const invert = (p: number[]) => {
    const ijk = [0, 0, 0];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        const a = fileAffine[r * 4 + c]!;
        if (a !== 0) ijk[c] = (p[r]! - fileAffine[r * 4 + 3]!) / a;
      }
    }
    return ijk.map((v) => Math.round(v * 1e6) / 1e6);
  };
  for (let z = 0; z < d; z++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        expect(volume.data[(z * h + y) * w + x]).toBeCloseTo(expected(invert(world(volume, [z, y, x]))), 4);
      }
}

const diagonal = (affine: number[]) => [affine[0], affine[5], affine[10]];
const offDiagonal = (affine: number[]) => [1, 2, 4, 6, 8, 9].map((i) => affine[i]);

describe('readImage: real NIfTI volumes', () => {
  withFile(CH2)('reads ch2.nii.gz (181x217x181 uint8, 1 mm, sform MNI) as [D, H, W] RAS+', async () => {
    const volume = await readImage(CH2);
    expect(volume.shape).toEqual([181, 217, 181]);
    expect(volume.spacing).toEqual([1, 1, 1]);
    expect(volume.affine).toEqual([1, 0, 0, -90, 0, 1, 0, -125, 0, 0, 1, -71, 0, 0, 0, 1]);
    expect(axisCodes(volume.affine)).toBe('RAS');
    expect(volume.source).toBe(CH2);
    expect(volume.data).toHaveLength(181 * 217 * 181);
    let max = 0;
    for (let i = 0; i < volume.data.length; i++) if (volume.data[i]! > max) max = volume.data[i]!;
    expect(max).toBeGreaterThan(100);
    expect(max).toBeLessThanOrEqual(255);
  });

  withFile(AAL)('reads aal.nii.gz as integer labels on the ch2 grid', async () => {
    const volume = await readImage(AAL);
    expect(volume.shape).toEqual([181, 217, 181]);
    expect(volume.affine).toEqual([1, 0, 0, -90, 0, 1, 0, -125, 0, 0, 1, -71, 0, 0, 0, 1]);
    const labels = new Set(volume.data);
    expect([...labels].every(Number.isInteger)).toBe(true);
    expect(labels.has(0)).toBe(true);
    expect(labels.size).toBeGreaterThan(90); // 116 AAL regions plus background
  });

  withFile(JHU_2MM)('reads the 2 mm JHU atlas with spacing 2', async () => {
    const volume = await readImage(JHU_2MM);
    expect(volume.shape).toEqual([91, 109, 91]);
    expect(volume.spacing).toEqual([2, 2, 2]);
    expect(volume.affine).toEqual([2, 0, 0, -90, 0, 2, 0, -126, 0, 0, 2, -72, 0, 0, 0, 1]);
  });

  withFile(INIA19)('reads float32 inia19 (168x206x128, 0.5 mm)', async () => {
    const volume = await readImage(INIA19);
    expect(volume.shape).toEqual([128, 206, 168]);
    expect(volume.spacing).toEqual([0.5, 0.5, 0.5]);
    expect(axisCodes(volume.affine)).toBe('RAS');
  });

  withFile(KMEANS)(
    'reorients an ITK volume whose sform permutes and flips axes (qform_code 2, sform_code 1)',
    async () => {
      // File grid 128x128x62 (2, 2, 3 mm); sform: i -> Left, j -> Superior, k -> Anterior.
      const volume = await readImage(KMEANS);
      expect(volume.shape).toEqual([128, 62, 128]);
      expect(volume.spacing).toEqual([2, 3, 2]);
      expect(volume.affine).toEqual([2, 0, 0, -254, 0, 3, 0, -254, 0, 0, 2, 0, 0, 0, 0, 1]);
    },
  );
});

describe('readImage: synthetic NIfTI', () => {
  // File grid (i, j, k) = 4 x 3 x 2, stored value 100 * k + 10 * j + i.
  const size = [4, 3, 2];
  const values = Array.from(
    { length: 24 },
    (_, n) => 100 * Math.floor(n / 12) + 10 * (Math.floor(n / 4) % 3) + (n % 4),
  );
  const valueAt = ([i, j, k]: number[]) => 100 * k! + 10 * j! + i!;
  // sform: j -> Right (2 mm), k -> Posterior (3 mm), i -> Inferior (1 mm).
  const sform = [0, 2, 0, 10, 0, 0, -3, 20, -1, 0, 0, 30];

  it('reorients an sform that permutes and flips axes, keeping every voxel at its world position', async () => {
    const file = writeNifti('sform.nii', {
      dims: [3, ...size],
      pixdim: [1, 1, 2, 3],
      sform: { code: 2, rows: sform },
      values,
    });
    const volume = await readImage(file);
    // W <- j, H <- k flipped, D <- i flipped.
    expect(volume.shape).toEqual([4, 2, 3]);
    expect(volume.spacing).toEqual([1, 3, 2]);
    expect(diagonal(volume.affine)).toEqual([2, 3, 1]);
    expect(offDiagonal(volume.affine)).toEqual([0, 0, 0, 0, 0, 0]);
    // The voxel at file (i, j, k) = (1, 2, 0), world (14, 20, 29), lands at [z, y, x] = [3 - 1, 1 - 0, 2].
    expect(volume.data[(2 * 2 + 1) * 3 + 2]).toBe(21);
    expect(world(volume, [2, 1, 2])).toEqual([14, 20, 29]);
    expectSameWorld(volume, [...sform, 0, 0, 0, 1], valueAt);
  });

  it('uses the sform over a qform with a higher code, as nibabel does', async () => {
    const file = writeNifti('both.nii', {
      dims: [3, ...size],
      pixdim: [1, 1, 2, 3],
      qform: { code: 2, b: 0, c: 0, d: 0, offset: [0, 0, 0] },
      sform: { code: 1, rows: sform },
      values,
    });
    expect((await readImage(file)).shape).toEqual([4, 2, 3]);
  });

  it('builds the qform from the quaternion and qfac (an LPS-like file becomes RAS)', async () => {
    // Quaternion (0, 0, 1): 180 degrees about z, so i -> Left, j -> Posterior; qfac -1 sends k -> Inferior.
    const file = writeNifti('qform.nii', {
      dims: [3, ...size],
      pixdim: [-1, 1.5, 2, 3],
      qform: { code: 1, b: 0, c: 0, d: 1, offset: [5, 6, 7] },
      values,
    });
    const volume = await readImage(file);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(volume.spacing).toEqual([3, 2, 1.5]);
    expect(axisCodes(volume.affine)).toBe('RAS');
    expect(diagonal(volume.affine)).toEqual([1.5, 2, 3]);
    const fileAffine = [-1.5, 0, 0, 5, 0, -2, 0, 6, 0, 0, -3, 7, 0, 0, 0, 1];
    expectSameWorld(volume, fileAffine, valueAt);
    // The first file voxel (0, 0, 0) is now the last of every axis.
    expect(volume.data[volume.data.length - 1]).toBe(0);
  });

  it('falls back to the voxel size when neither sform nor qform is set', async () => {
    const file = writeNifti('plain.nii', { dims: [3, ...size], pixdim: [1, 0.5, 2, 3], values });
    const volume = await readImage(file);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(volume.spacing).toEqual([3, 2, 0.5]);
    expect(Array.from(volume.data)).toEqual(values);
  });

  it('takes the voxel size from the sform when pixdim disagrees with it', async () => {
    // A tool that scaled the sform (2 mm) but left pixdim at 1: the sform is what maps voxels.
    const twice = sform.map((x, i) => (i % 4 === 3 ? x : 2 * x));
    const file = writeNifti('sform-scaled.nii', { dims: [3, ...size], sform: { code: 2, rows: twice }, values });
    const volume = await readImage(file);
    expect(volume.spacing).toEqual([2, 6, 4]);
    expect(diagonal(volume.affine)).toEqual([4, 6, 2]);
    expectSameWorld(volume, [...twice, 0, 0, 0, 1], valueAt);
  });

  it('reads a single file whose vox_offset was left at 0 from byte 352, as nibabel does', async () => {
    const bytes = niftiBytes({ dims: [3, ...size], values });
    bytes.writeFloatLE(0, 108);
    const file = path.join(dir, 'offset0.nii');
    fs.writeFileSync(file, bytes);
    expect(Array.from((await readImage(file)).data)).toEqual(values);
    bytes.writeFloatLE(-1, 108);
    fs.writeFileSync(file, bytes);
    await expect(readImage(file)).rejects.toThrow('vox_offset is -1, expected at least 352');
  });

  it('converts metres and microns to millimetres (xyzt_units)', async () => {
    const metres = writeNifti('metres.nii', {
      dims: [3, ...size],
      pixdim: [1, 0.0005, 0.002, 0.003],
      sform: { code: 2, rows: [0.0005, 0, 0, 0.01, 0, 0.002, 0, 0.02, 0, 0, 0.003, 0.03] },
      units: 1 + 8, // metres, seconds
      values,
    });
    const inMetres = await readImage(metres);
    expect(inMetres.spacing.map((x) => +x.toPrecision(6))).toEqual([3, 2, 0.5]);
    expect(inMetres.affine.map((x) => +x.toPrecision(6))).toEqual([
      0.5, 0, 0, 10, 0, 2, 0, 20, 0, 0, 3, 30, 0, 0, 0, 1,
    ]);
    const microns = writeNifti('microns.nii', { dims: [3, ...size], pixdim: [1, 500, 2000, 3000], units: 3, values });
    expect((await readImage(microns)).spacing.map((x) => +x.toPrecision(6))).toEqual([3, 2, 0.5]);
  });

  it('applies scl_slope and scl_inter, and ignores them when the slope is 0', async () => {
    const scaled = writeNifti('scaled.nii', {
      dims: [3, 2, 2, 1],
      datatype: 4,
      slope: 0.5,
      inter: -10,
      values: [0, 2, -4, 100],
    });
    expect(Array.from((await readImage(scaled)).data)).toEqual([-10, -9, -12, 40]);
    const unscaled = writeNifti('slope0.nii', {
      dims: [3, 2, 2, 1],
      datatype: 4,
      slope: 0,
      inter: 7,
      values: [0, 2, -4, 100],
    });
    expect(Array.from((await readImage(unscaled)).data)).toEqual([0, 2, -4, 100]);
  });

  it('reads .nii.gz, and gzip by content whatever the name says', async () => {
    const spec = { dims: [3, ...size], sform: { code: 1, rows: sform }, values };
    const plain = await readImage(writeNifti('same.nii', spec));
    const gz = await readImage(writeNifti('same.nii.gz', spec, true));
    const misnamed = await readNifti(writeNifti('gzipped-but-called.nii', spec, true));
    expect(gz.data).toEqual(plain.data);
    expect(gz.affine).toEqual(plain.affine);
    expect(misnamed.data).toEqual(plain.data);
  });

  it('converts uint8, uint16, float64 and big-endian int16 voxels', async () => {
    const cases: Array<[number, number[], boolean]> = [
      [2, [0, 7, 255, 1], false],
      [512, [0, 65535, 300, 1], false],
      [64, [0.25, -1e6, 3.5, 1], false],
      [4, [-32768, 32767, -1, 2], true],
    ];
    for (const [datatype, data, bigEndian] of cases) {
      const file = writeNifti(`type${datatype}.nii`, { dims: [3, 2, 2, 1], datatype, values: data, bigEndian });
      expect(Array.from((await readImage(file)).data)).toEqual(data);
    }
  });

  it('reads NIfTI-2 (540-byte header, float64 fields, sform flipping x)', async () => {
    const header = new DataView(new ArrayBuffer(544 + 6 * 2));
    header.setInt32(0, 540, true);
    new Uint8Array(header.buffer).set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\032\n"
    header.setInt16(12, 4, true); // int16
    header.setInt16(14, 16, true);
    [3, 3, 2, 1, 1, 1, 1, 1].forEach((d, i) => header.setBigInt64(16 + 8 * i, BigInt(d), true));
    [1, 0.5, 0.25, 4, 1, 1, 1, 1].forEach((p, i) => header.setFloat64(104 + 8 * i, p, true));
    header.setBigInt64(168, 544n, true); // vox_offset
    header.setFloat64(176, 1, true); // scl_slope
    header.setInt32(348, 1, true); // sform_code
    [-0.5, 0, 0, 7, 0, 0.25, 0, 8, 0, 0, 4, 9].forEach((x, i) => header.setFloat64(400 + 8 * i, x, true));
    [1, 2, 3, 4, 5, 6].forEach((v, i) => header.setInt16(544 + 2 * i, v, true));
    fs.writeFileSync(tmp('two.nii'), new Uint8Array(header.buffer));
    const volume = await readImage(tmp('two.nii'));
    expect(volume.shape).toEqual([1, 2, 3]);
    expect(volume.spacing).toEqual([4, 0.25, 0.5]);
    expect(Array.from(volume.data)).toEqual([3, 2, 1, 6, 5, 4]); // x flipped
    expect(volume.affine).toEqual([0.5, 0, 0, 6, 0, 0.25, 0, 8, 0, 0, 4, 9, 0, 0, 0, 1]);
  });

  it('reads a 2D NIfTI as D = 1', async () => {
    const file = writeNifti('flat.nii', { dims: [2, 3, 2], pixdim: [1, 0.7, 0.9, 0], values: [1, 2, 3, 4, 5, 6] });
    const volume = await readImage(file);
    expect(volume.shape).toEqual([1, 2, 3]);
    expect(volume.spacing).toEqual([1, 0.9, 0.7]);
  });

  it('takes one volume of a 4D file, volumeIndex 0 by default', async () => {
    const file = writeNifti('series.nii', { dims: [4, 2, 1, 1, 3], values: [1, 2, 10, 20, 100, 200] });
    expect(Array.from((await readImage(file)).data)).toEqual([1, 2]);
    expect(Array.from((await readImage(file, { volumeIndex: 2 })).data)).toEqual([100, 200]);
    await expect(readImage(file, { volumeIndex: 3 })).rejects.toThrow(
      `${file}: volumeIndex 3 is out of range: the file holds 3 volumes (dims 2x1x1x3), expected 0 to 2`,
    );
    await expect(readImage(file, { volumeIndex: -1 })).rejects.toThrow(
      'Expected a non-negative integer for volumeIndex but received -1 of type number',
    );
    await expect(readImage(file, { volumIndex: 1 } as never)).rejects.toThrow(
      'Unknown option "volumIndex" for readImage, expected one of volumeIndex, seriesInstanceUid',
    );
  });
});

describe('readImage: broken files', () => {
  const expectReadError = async (file: string, message: string) => {
    const error = await readImage(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageReadError);
    expect((error as ImageReadError).file).toBe(file);
    expect((error as Error).message).toBe(message);
  };

  it('reports a truncated .nii with the sizes', async () => {
    const bytes = niftiBytes({ dims: [3, 10, 10, 10], datatype: 4, values: new Array(1000).fill(1) });
    fs.writeFileSync(tmp('cut.nii'), bytes.subarray(0, 352 + 1000));
    await expectReadError(
      tmp('cut.nii'),
      `${tmp('cut.nii')}: file is truncated: the header needs 2000 bytes of voxel data, the file has 1000`,
    );
    fs.writeFileSync(tmp('header-only.nii'), bytes.subarray(0, 200));
    await expectReadError(
      tmp('header-only.nii'),
      `${tmp('header-only.nii')}: file is truncated: a NIfTI-1 header needs 348 bytes, the file has 200`,
    );
  });

  it('reports a truncated .nii.gz as corrupt gzip', async () => {
    const gz = zlib.gzipSync(niftiBytes({ dims: [3, 10, 10, 10], values: new Array(1000).fill(1) }));
    fs.writeFileSync(tmp('cut.nii.gz'), gz.subarray(0, gz.length >> 1));
    const error = (await readImage(tmp('cut.nii.gz')).catch((e: unknown) => e)) as ImageReadError;
    expect(error).toBeInstanceOf(ImageReadError);
    expect(error.message).toMatch(/: gzip data is corrupt or truncated \(unexpected end of file\)/);
  });

  it('reports empty, text, missing and gzipped non-NIfTI files', async () => {
    fs.writeFileSync(tmp('empty.nii'), '');
    await expectReadError(tmp('empty.nii'), `${tmp('empty.nii')}: empty file (0 bytes), expected an image`);
    fs.writeFileSync(tmp('page.nii'), '<html><body>404</body></html>');
    await expectReadError(
      tmp('page.nii'),
      `${tmp('page.nii')}: not a NIfTI, DICOM, PNG or JPEG file (first bytes 3c 68 74 6d), ` +
        'expected a .nii/.nii.gz, a DICOM Part-10 file ("DICM" at byte 128), a .png, a .jpg or a DICOM folder',
    );
    await expectReadError(
      tmp('absent.nii.gz'),
      `${tmp('absent.nii.gz')}: no such file or folder (ENOENT); check the path`,
    );
    fs.writeFileSync(tmp('notes.gz'), zlib.gzipSync('hello'));
    await expectReadError(
      tmp('notes.gz'),
      `${tmp('notes.gz')}: gzip-compressed, but the content is not NIfTI (first bytes 68 65 6c 6c), expected a .nii.gz`,
    );
  });

  it('reports a .hdr/.img header and unsupported voxel types', async () => {
    const hdr = niftiBytes({ dims: [3, 1, 1, 1], values: [1] });
    hdr.set([0x6e, 0x69, 0x31, 0], 344); // "ni1"
    fs.writeFileSync(tmp('pair.hdr'), hdr);
    await expect(readImage(tmp('pair.hdr'))).rejects.toThrow(
      /pair\.hdr: is the header of a \.hdr\/\.img pair \(magic "ni1"\), expected a single-file NIfTI/,
    );
    const rgb = niftiBytes({ dims: [3, 1, 1, 1], values: [1] });
    rgb.writeInt16LE(128, 70);
    fs.writeFileSync(tmp('rgb.nii'), rgb);
    await expect(readImage(tmp('rgb.nii'))).rejects.toThrow(
      /rgb\.nii: voxel datatype RGB24 \(code 128\) is not supported, expected a scalar type: uint8, int16/,
    );
  });

  // Root reads anything, so the permission check only runs as another user.
  (process.getuid?.() === 0 ? it.skip : it)('reports an unreadable file (EACCES)', async () => {
    fs.writeFileSync(tmp('locked.nii'), niftiBytes({ dims: [3, 1, 1, 1], values: [1] }));
    fs.chmodSync(tmp('locked.nii'), 0o000);
    await expectReadError(
      tmp('locked.nii'),
      `${tmp('locked.nii')}: permission denied (EACCES); check the file's read permission`,
    );
  });
});
