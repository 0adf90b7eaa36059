import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageReadError, axisCodes, readDicomSeries, readImage, type ImageVolume } from '../../lib/data/image';

const EXPLICIT_LITTLE = '1.2.840.10008.1.2.1';
const EXPLICIT_BIG = '1.2.840.10008.1.2.2';
const IMPLICIT_LITTLE = '1.2.840.10008.1.2';
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-dicom-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A data element: tag, VR and a value encoder for the byte order in use. */
interface Element {
  group: number;
  element: number;
  vr: string;
  encode: (littleEndian: boolean) => Buffer;
}

const text = (group: number, element: number, vr: string, value: string): Element => ({
  group,
  element,
  vr,
  encode: () => {
    const padded = value.length % 2 ? value + (vr === 'UI' ? '\0' : ' ') : value;
    return Buffer.from(padded, 'latin1');
  },
});
const us = (group: number, element: number, value: number): Element => ({
  group,
  element,
  vr: 'US',
  encode: (le) => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(value);
    else b.writeUInt16BE(value);
    return b;
  },
});
const ds = (group: number, element: number, values: number[]) => text(group, element, 'DS', values.join('\\'));

const LONG_LENGTH_VRS = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'];

function encodeElements(elements: Element[], syntax: 'explicit-le' | 'explicit-be' | 'implicit-le'): Buffer {
  const le = syntax !== 'explicit-be';
  const parts: Buffer[] = [];
  for (const e of [...elements].sort((a, b) => a.group - b.group || a.element - b.element)) {
    const value = e.encode(le);
    const tag = Buffer.alloc(4);
    if (le) {
      tag.writeUInt16LE(e.group, 0);
      tag.writeUInt16LE(e.element, 2);
    } else {
      tag.writeUInt16BE(e.group, 0);
      tag.writeUInt16BE(e.element, 2);
    }
    let header: Buffer;
    if (syntax === 'implicit-le') {
      header = Buffer.alloc(4);
      header.writeUInt32LE(value.length);
    } else if (LONG_LENGTH_VRS.includes(e.vr)) {
      header = Buffer.alloc(8);
      header.write(e.vr, 0, 'latin1');
      if (le) header.writeUInt32LE(value.length, 4);
      else header.writeUInt32BE(value.length, 4);
    } else {
      header = Buffer.alloc(4);
      header.write(e.vr, 0, 'latin1');
      if (le) header.writeUInt16LE(value.length, 2);
      else header.writeUInt16BE(value.length, 2);
    }
    parts.push(tag, header, value);
  }
  return Buffer.concat(parts);
}

interface SliceSpec {
  position?: number[];
  orientation?: number[];
  pixelSpacing?: number[];
  rows: number;
  columns: number;
  /** Stored values, row by row (negative ones for signed data). */
  pixels: number[];
  seriesUid?: string;
  description?: string;
  bits?: 8 | 16;
  bitsStored?: number;
  signed?: boolean;
  photometric?: string;
  slope?: number;
  intercept?: number;
  transferSyntax?: string;
}

/** A minimal DICOM Part-10 file: preamble, "DICM", meta group 0002 (explicit LE), then the data set. */
function dicomFile(spec: SliceSpec): Buffer {
  const transferSyntax = spec.transferSyntax ?? EXPLICIT_LITTLE;
  const sopInstance = `1.2.826.0.1.3680043.9.7${Math.floor(Math.random() * 1e9)}`;
  const meta = encodeElements(
    [
      { group: 2, element: 1, vr: 'OB', encode: () => Buffer.from([0, 1]) },
      text(2, 2, 'UI', CT_IMAGE),
      text(2, 3, 'UI', sopInstance),
      text(2, 0x10, 'UI', transferSyntax),
    ],
    'explicit-le',
  );
  const groupLength: Element = {
    group: 2,
    element: 0,
    vr: 'UL',
    encode: () => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(meta.length);
      return b;
    },
  };
  const bits = spec.bits ?? 16;
  const bitsStored = spec.bitsStored ?? bits;
  const pixelData: Element = {
    group: 0x7fe0,
    element: 0x10,
    vr: bits === 8 ? 'OB' : 'OW',
    encode: (le) => {
      const bytesPer = bits / 8;
      const b = Buffer.alloc(Math.ceil((spec.pixels.length * bytesPer) / 2) * 2);
      spec.pixels.forEach((v, i) => {
        if (bits === 8) b.writeUInt8(v & 0xff, i);
        else if (le) b.writeUInt16LE(v & 0xffff, 2 * i);
        else b.writeUInt16BE(v & 0xffff, 2 * i);
      });
      return b;
    },
  };
  const elements: Element[] = [
    text(8, 0x16, 'UI', CT_IMAGE),
    text(8, 0x18, 'UI', sopInstance),
    text(0x20, 0xe, 'UI', spec.seriesUid ?? '1.2.3.4.5'),
    us(0x28, 2, 1),
    text(0x28, 4, 'CS', spec.photometric ?? 'MONOCHROME2'),
    us(0x28, 0x10, spec.rows),
    us(0x28, 0x11, spec.columns),
    us(0x28, 0x100, bits),
    us(0x28, 0x101, bitsStored),
    us(0x28, 0x102, bitsStored - 1),
    us(0x28, 0x103, spec.signed ? 1 : 0),
    pixelData,
  ];
  if (spec.description) elements.push(text(8, 0x103e, 'LO', spec.description));
  if (spec.position) elements.push(ds(0x20, 0x32, spec.position));
  if (spec.orientation) elements.push(ds(0x20, 0x37, spec.orientation));
  if (spec.pixelSpacing) elements.push(ds(0x28, 0x30, spec.pixelSpacing));
  if (spec.slope !== undefined) elements.push(ds(0x28, 0x1053, [spec.slope]));
  if (spec.intercept !== undefined) elements.push(ds(0x28, 0x1052, [spec.intercept]));
  const syntax =
    transferSyntax === EXPLICIT_BIG
      ? 'explicit-be'
      : transferSyntax === IMPLICIT_LITTLE
        ? 'implicit-le'
        : 'explicit-le';
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encodeElements([groupLength], 'explicit-le'),
    meta,
    encodeElements(elements, syntax),
  ]);
}

/** A DICOMDIR-like Part-10 file: a valid data set without pixel data. */
function dicomDir(): Buffer {
  const meta = encodeElements(
    [text(2, 2, 'UI', '1.2.840.10008.1.3.10'), text(2, 3, 'UI', '1.2.3'), text(2, 0x10, 'UI', EXPLICIT_LITTLE)],
    'explicit-le',
  );
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    meta,
    encodeElements([text(4, 0x1130, 'CS', 'CD')], 'explicit-le'),
  ]);
}

/** Writes files into a fresh folder and returns its path. */
function writeSeries(name: string, files: Record<string, Buffer | string>): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder);
  for (const [file, bytes] of Object.entries(files)) fs.writeFileSync(path.join(folder, file), bytes);
  return folder;
}

const ROWS = 3;
const COLUMNS = 4;
/** Stored value of (slice k, row r, column c) in the synthetic series: unique per voxel. */
const stored = (k: number, r: number, c: number) => 100 * k + 10 * r + c;
const slicePixels = (k: number) =>
  Array.from({ length: ROWS * COLUMNS }, (_, n) => stored(k, Math.floor(n / COLUMNS), n % COLUMNS));

interface Geometry {
  origin: number[];
  rowDirection: number[];
  columnDirection: number[];
  normal: number[];
  rowSpacing: number;
  columnSpacing: number;
  sliceSpacing: number;
}

/** A series of `count` slices with the given geometry, written in a shuffled file order. */
function seriesFiles(geometry: Geometry, count: number, extra: Partial<SliceSpec> = {}, jitter = 0) {
  const files: Record<string, Buffer> = {};
  const order = [2, 0, 3, 1, 4, 5].filter((k) => k < count);
  order.forEach((k, n) => {
    const position = geometry.origin.map(
      (o, i) => o + k * geometry.sliceSpacing * geometry.normal[i]! + (k % 2 ? jitter : 0),
    );
    files[`IM${String(n).padStart(4, '0')}`] = dicomFile({
      position,
      orientation: [...geometry.rowDirection, ...geometry.columnDirection],
      pixelSpacing: [geometry.rowSpacing, geometry.columnSpacing],
      rows: ROWS,
      columns: COLUMNS,
      pixels: slicePixels(k),
      slope: 2,
      intercept: -1024,
      ...extra,
    });
  });
  return files;
}

/**
 * Checks every voxel against the series: its RAS position (from the returned affine), turned
 * into LPS and projected on the DICOM axes, gives (column, row, slice), whose value is known.
 */
function expectMatchesSeries(volume: ImageVolume, g: Geometry, value: (k: number, r: number, c: number) => number) {
  const [d, h, w] = volume.shape as [number, number, number];
  const a = volume.affine;
  const dot = (x: number[], y: number[]) => x[0]! * y[0]! + x[1]! * y[1]! + x[2]! * y[2]!;
  for (let z = 0; z < d; z++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const ras = [0, 1, 2].map((r) => a[r * 4]! * x + a[r * 4 + 1]! * y + a[r * 4 + 2]! * z + a[r * 4 + 3]!);
        const fromOrigin = [-ras[0]! - g.origin[0]!, -ras[1]! - g.origin[1]!, ras[2]! - g.origin[2]!];
        const c = Math.round(dot(fromOrigin, g.rowDirection) / g.columnSpacing);
        const r = Math.round(dot(fromOrigin, g.columnDirection) / g.rowSpacing);
        const k = Math.round(dot(fromOrigin, g.normal) / g.sliceSpacing);
        expect(volume.data[(z * h + y) * w + x]).toBe(value(k, r, c));
      }
}

const AXIAL: Geometry = {
  origin: [-50, -40, 10],
  rowDirection: [1, 0, 0],
  columnDirection: [0, 1, 0],
  normal: [0, 0, 1],
  rowSpacing: 0.8,
  columnSpacing: 0.6,
  sliceSpacing: 2.5,
};

describe('readDicomSeries', () => {
  it('orders shuffled axial slices by position, rescales, and returns RAS+', async () => {
    const folder = writeSeries('axial', seriesFiles(AXIAL, 4));
    const volume = await readDicomSeries(folder);
    expect(volume.shape).toEqual([4, ROWS, COLUMNS]);
    expect(volume.spacing).toEqual([2.5, 0.8, 0.6]);
    expect(axisCodes(volume.affine)).toBe('RAS');
    // Columns run to patient Left and rows to Posterior in LPS, so both flip; slices already run to Superior.
    expect(volume.affine).toEqual([0.6, 0, 0, 50 - 3 * 0.6, 0, 0.8, 0, 40 - 2 * 0.8, 0, 0, 2.5, 10, 0, 0, 0, 1]);
    expect(volume.data[0]).toBe(2 * stored(0, ROWS - 1, COLUMNS - 1) - 1024);
    expectMatchesSeries(volume, AXIAL, (k, r, c) => 2 * stored(k, r, c) - 1024);
    expect(volume.source).toBe(folder);
  });

  it('places the voxels of a sheared series (CT gantry tilt) where their positions say', async () => {
    // Planes tilted 20 degrees about x, but each slice 2.5 mm further along z only (the table
    // moves, the gantry is tilted): every slice is also shifted within its plane.
    const tilt = (20 * Math.PI) / 180;
    const [row, column] = [
      [1, 0, 0],
      [0, Math.cos(tilt), -Math.sin(tilt)],
    ];
    const origin = [-50, -40, 10];
    const files: Record<string, Buffer> = {};
    for (let k = 0; k < 4; k++)
      files[`IM${k}`] = dicomFile({
        position: [origin[0]!, origin[1]!, origin[2]! + 2.5 * k],
        orientation: [...row, ...column],
        pixelSpacing: [0.8, 0.6],
        rows: ROWS,
        columns: COLUMNS,
        pixels: slicePixels(k),
      });
    const volume = await readDicomSeries(writeSeries('tilted', files));
    // Voxel (slice k, row r, column c) lies at origin + c 0.6 row + r 0.8 column + k (0, 0, 2.5), LPS.
    const [d, h, w] = volume.shape as [number, number, number];
    const a = volume.affine;
    const seen = new Set<number>();
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const ras = [0, 1, 2].map((i) => a[i * 4]! * x + a[i * 4 + 1]! * y + a[i * 4 + 2]! * z + a[i * 4 + 3]!);
          const lps = [-ras[0]!, -ras[1]!, ras[2]!].map((v, i) => v - origin[i]!);
          // z' = lps . (0, sin, cos) / (2.5 cos) counts slices (the plane axes have no part along it).
          const k = (lps[1]! * Math.sin(tilt) + lps[2]! * Math.cos(tilt)) / (2.5 * Math.cos(tilt));
          const inPlane = [lps[0]!, lps[1]!, lps[2]! - 2.5 * k];
          const c = (inPlane[0]! * row[0]!) / 0.6;
          const r = (inPlane[1]! * column[1]! + inPlane[2]! * column[2]!) / 0.8;
          for (const index of [k, r, c]) expect(Math.abs(index - Math.round(index))).toBeLessThan(1e-4);
          const value = stored(Math.round(k), Math.round(r), Math.round(c));
          expect(volume.data[(z * h + y) * w + x]).toBe(value);
          seen.add(value);
        }
    expect(seen.size).toBe(4 * ROWS * COLUMNS);
  });

  it('permutes a sagittal series into RAS+', async () => {
    const sagittal: Geometry = {
      origin: [30, -60, 80],
      rowDirection: [0, 1, 0],
      columnDirection: [0, 0, -1],
      normal: [-1, 0, 0],
      rowSpacing: 1,
      columnSpacing: 1.5,
      sliceSpacing: 3,
    };
    const folder = writeSeries('sagittal', seriesFiles(sagittal, 5));
    const volume = await readImage(folder);
    // W <- slices (towards Right), H <- columns flipped (rows run Posterior), D <- rows flipped (run Inferior).
    expect(volume.shape).toEqual([ROWS, COLUMNS, 5]);
    expect(volume.spacing).toEqual([1, 1.5, 3]);
    expect(axisCodes(volume.affine)).toBe('RAS');
    expectMatchesSeries(volume, sagittal, (k, r, c) => 2 * stored(k, r, c) - 1024);
  });

  it('tolerates small jitter in positions and skips non-DICOM files, folders and a DICOMDIR', async () => {
    const folder = writeSeries('jitter', {
      ...seriesFiles(AXIAL, 4, {}, 0.002),
      'README.txt': 'exported by a PACS',
      DICOMDIR: dicomDir(),
    });
    fs.mkdirSync(path.join(folder, 'sub'));
    const volume = await readDicomSeries(folder);
    expect(volume.shape).toEqual([4, ROWS, COLUMNS]);
    expect(volume.spacing[0]).toBeCloseTo(2.5, 2); // mean of 2.502, 2.498, 2.502
  });

  it('reads 8-bit, signed 12-bit, MONOCHROME1, big-endian and implicit VR slices (no geometry: stored order)', async () => {
    const one = (name: string, spec: Partial<SliceSpec> & { pixels: number[] }) => {
      fs.writeFileSync(path.join(dir, name), dicomFile({ rows: 1, columns: spec.pixels.length, ...spec }));
      return readImage(path.join(dir, name));
    };
    const eight = await one('eight.dcm', { bits: 8, pixels: [0, 7, 255] });
    expect(eight.shape).toEqual([1, 1, 3]);
    expect(Array.from(eight.data)).toEqual([0, 7, 255]);
    const signed = await one('signed.dcm', { signed: true, bitsStored: 12, pixels: [-2048, -1, 0, 2047] });
    expect(Array.from(signed.data)).toEqual([-2048, -1, 0, 2047]);
    const inverted = await one('mono1.dcm', { photometric: 'MONOCHROME1', bitsStored: 12, pixels: [0, 4095, 95] });
    expect(Array.from(inverted.data)).toEqual([4095, 0, 4000]);
    const big = await one('big.dcm', {
      transferSyntax: EXPLICIT_BIG,
      pixels: [1, 258, 65535],
      slope: 0.5,
      intercept: 1,
    });
    expect(Array.from(big.data)).toEqual([1.5, 130, 32768.5]);
    const implicit = await one('implicit.dcm', { transferSyntax: IMPLICIT_LITTLE, pixels: [3, 1000], signed: true });
    expect(Array.from(implicit.data)).toEqual([3, 1000]);
  });

  it('reads a single file as a [1, H, W] volume with the slice geometry', async () => {
    const file = path.join(dir, 'single.dcm');
    fs.writeFileSync(
      file,
      dicomFile({
        rows: ROWS,
        columns: COLUMNS,
        pixels: slicePixels(0),
        position: [0, 0, 5],
        orientation: [1, 0, 0, 0, 1, 0],
        pixelSpacing: [0.5, 0.25],
      }),
    );
    const volume = await readImage(file);
    expect(volume.shape).toEqual([1, ROWS, COLUMNS]);
    expect(volume.spacing).toEqual([1, 0.5, 0.25]);
    expect(axisCodes(volume.affine)).toBe('RAS');
  });

  it('refuses several series unless one is chosen, listing them', async () => {
    const files = {
      ...seriesFiles(AXIAL, 3, { seriesUid: '1.2.3.100', description: 'AX T1' }),
      ...Object.fromEntries(
        Object.entries(seriesFiles(AXIAL, 2, { seriesUid: '1.2.3.200', description: 'AX T2' })).map(([n, b]) => [
          `T2-${n}`,
          b,
        ]),
      ),
    };
    const folder = writeSeries('two-series', files);
    const error = (await readDicomSeries(folder).catch((e: unknown) => e)) as ImageReadError;
    expect(error).toBeInstanceOf(ImageReadError);
    expect(error.message).toBe(
      `${folder}: holds 2 DICOM series, expected one: 1.2.3.100 "AX T1" (3 files); 1.2.3.200 "AX T2" (2 files). ` +
        'Pass seriesInstanceUid to choose one',
    );
    const t2 = await readImage(folder, { seriesInstanceUid: '1.2.3.200' });
    expect(t2.shape).toEqual([2, ROWS, COLUMNS]);
    await expect(readImage(folder, { seriesInstanceUid: 5 as never })).rejects.toThrow(
      new TypeError('Expected a string for seriesInstanceUid but received 5 of type number'),
    );
    await expect(readDicomSeries(folder, { seriesInstanceUid: '9.9' })).rejects.toThrow(
      `${folder}: no series with SeriesInstanceUID 9.9, expected one of: 1.2.3.100 "AX T1" (3 files); 1.2.3.200 "AX T2" (2 files)`,
    );
  });

  it('reads a series beside a file of another series that it cannot take, and refuses that file in its own', async () => {
    const report = dicomFile({ rows: 2, columns: 2, pixels: [1, 2, 3, 4], seriesUid: '1.2.3.300', photometric: 'RGB' });
    const folder = writeSeries('with-report', {
      ...seriesFiles(AXIAL, 3, { seriesUid: '1.2.3.100', description: 'AX T1' }),
      'DOSE.dcm': report,
    });
    expect((await readDicomSeries(folder, { seriesInstanceUid: '1.2.3.100' })).shape).toEqual([3, ROWS, COLUMNS]);
    await expect(readDicomSeries(folder)).rejects.toThrow(
      `${folder}: holds 2 DICOM series, expected one: 1.2.3.100 "AX T1" (3 files); 1.2.3.300 (1 files)`,
    );
    await expect(readDicomSeries(folder, { seriesInstanceUid: '1.2.3.300' })).rejects.toThrow(
      `${path.join(folder, 'DOSE.dcm')}: PhotometricInterpretation is RGB, expected MONOCHROME1 or MONOCHROME2`,
    );
    const inSeries = dicomFile({
      rows: 2,
      columns: 2,
      pixels: [1, 2, 3, 4],
      seriesUid: '1.2.3.100',
      photometric: 'RGB',
    });
    const mixed = writeSeries('rgb-in-series', {
      ...seriesFiles(AXIAL, 3, { seriesUid: '1.2.3.100' }),
      'ODD.dcm': inSeries,
    });
    await expect(readDicomSeries(mixed)).rejects.toThrow('ODD.dcm: PhotometricInterpretation is RGB');
  });

  it('names a compressed transfer syntax', async () => {
    const file = path.join(dir, 'jpeg.dcm');
    fs.writeFileSync(file, dicomFile({ rows: 1, columns: 1, pixels: [1], transferSyntax: '1.2.840.10008.1.2.4.50' }));
    await expect(readImage(file)).rejects.toThrow(
      `${file}: transfer syntax 1.2.840.10008.1.2.4.50 (JPEG Baseline) is not supported, expected an uncompressed one`,
    );
    const folder = writeSeries('jpeg-series', { a: fs.readFileSync(file) });
    await expect(readDicomSeries(folder)).rejects.toThrow(
      /a: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 \(JPEG Baseline\)/,
    );
  });

  it('reports duplicated positions, gaps, mixed sizes and folders without DICOM', async () => {
    const files = seriesFiles(AXIAL, 3);
    const duplicate = writeSeries('duplicate', { ...files, copy: files.IM0000! });
    await expect(readDicomSeries(duplicate)).rejects.toThrow(
      /two slices share the position 15\.000 mm along the slice normal: .*(IM0000 and .*copy|copy and .*IM0000); expected one slice per position/,
    );
    // Slices at 10, 12.5 and 20 mm: one or two missing between the last two.
    const gap = writeSeries('gap', { a: files.IM0001!, b: files.IM0002!, c: seriesFiles(AXIAL, 5).IM0004! });
    await expect(readDicomSeries(gap)).rejects.toThrow(
      /uneven slice spacing: 2\.500 mm between .*a and .*b, the mean is 5\.000 mm; expected a regular grid/,
    );
    const mixed = writeSeries('mixed', {
      a: files.IM0000!,
      b: dicomFile({ rows: 2, columns: 2, pixels: [1, 2, 3, 4], position: [0, 0, 0], orientation: [1, 0, 0, 0, 1, 0] }),
    });
    await expect(readDicomSeries(mixed)).rejects.toThrow(
      /slices differ in size: .* is 3x4, .* is 2x2 \(rows x columns\)/,
    );
    const none = writeSeries('none', { 'notes.txt': 'nothing here' });
    await expect(readDicomSeries(none)).rejects.toThrow(
      `${none}: no DICOM images found among 1 entries; expected files with "DICM" at byte 128 and pixel data`,
    );
    const index = writeSeries('index-only', { DICOMDIR: dicomDir() });
    await expect(readDicomSeries(index)).rejects.toThrow(
      `${index}: no DICOM images found among 1 entries (1 DICOM files without pixel data, e.g. a DICOMDIR)`,
    );
    await expect(readDicomSeries(path.join(dir, 'absent'))).rejects.toThrow(
      `${path.join(dir, 'absent')}: no such file or folder (ENOENT); check the path`,
    );
  });

  it('reports truncated pixel data', async () => {
    const bytes = dicomFile({ rows: 4, columns: 4, pixels: new Array(16).fill(1) });
    const file = path.join(dir, 'cut.dcm');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    const error = (await readImage(file).catch((e: unknown) => e)) as ImageReadError;
    expect(error).toBeInstanceOf(ImageReadError);
    expect(error.message).toBe(
      `${file}: file is truncated or corrupt: a data element runs past the end of the file ` +
        '(dicomParser:parseDicomDataSetExplicit: buffer overrun)',
    );
  });

  it('refuses a series over maxVoxels before assembling it, naming its size and the limit', async () => {
    const folder = writeSeries('limit', seriesFiles(AXIAL, 4));
    await expect(readImage(folder, { maxVoxels: 47 })).rejects.toThrow(
      `${folder}: image of 4 x 3 x 4 voxels (48) is larger than the 47 voxels accepted; pass a larger maxVoxels`,
    );
    expect((await readImage(folder, { maxVoxels: 48 })).shape).toEqual([4, 3, 4]);
  });
});
