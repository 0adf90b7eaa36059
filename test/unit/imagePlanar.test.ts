import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ImageReadError, readImage, readPlanarImage, type ImageVolume } from '../../lib/data/image';
import { ADAM7 } from '../../lib/data/image/pngImageData';

const ITK_DATA = '/usr/share/doc/insighttoolkit5-examples/examples/Data';
const withFile = (file: string) => (fs.existsSync(file) ? it : it.skip);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cover-planar-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

function range(volume: ImageVolume) {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < volume.data.length; i++) {
    min = Math.min(min, volume.data[i]!);
    max = Math.max(max, volume.data[i]!);
  }
  return { min, max, integers: volume.data.every(Number.isInteger) };
}

function writePng(name: string, width: number, height: number, data: Buffer, options: object): string {
  const png = new PNG({ width, height });
  png.data = data;
  fs.writeFileSync(tmp(name), PNG.sync.write(png, options));
  return tmp(name);
}

const IDENTITY = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

/** A PNG chunk: length, type, data and the CRC-32 of type and data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let crc = ~0;
  for (const byte of typed) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  const framed = Buffer.alloc(12 + data.length);
  framed.writeUInt32BE(data.length, 0);
  typed.copy(framed, 4);
  framed.writeUInt32BE(~crc >>> 0, 8 + data.length);
  return framed;
}

/**
 * An 8-bit gray PNG of `pixels` (row by row), written here rather than by pngjs so that it
 * can be Adam7-interlaced and its image data cut to `keepRows` scanlines.
 */
function grayPng(width: number, height: number, pixels: Uint8Array, interlaced: boolean, keepRows = Infinity): Buffer {
  // The pass table is the reader's; pngjs decoding the file with its own checks it.
  const passes = interlaced ? ADAM7 : [[0, 0, 1, 1]];
  const rows: Buffer[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    for (let y = y0!; y < height; y += dy!) {
      const row = [0]; // filter type None
      for (let x = x0!; x < width; x += dx!) row.push(pixels[y * width + x]!);
      if (row.length > 1) rows.push(Buffer.from(row));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[12] = interlaced ? 1 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows.slice(0, keepRows)))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('readImage: PNG and JPEG', () => {
  withFile(`${ITK_DATA}/BrainProtonDensitySlice.png`)(
    'reads an 8-bit palette PNG as [H, W] gray, as stored',
    async () => {
      const volume = await readImage(`${ITK_DATA}/BrainProtonDensitySlice.png`);
      expect(volume.shape).toEqual([217, 181]);
      expect(volume.spacing).toEqual([1, 1]);
      expect(volume.affine).toEqual(IDENTITY);
      expect(range(volume)).toEqual({ min: 0, max: 251, integers: true });
    },
  );

  withFile(`${ITK_DATA}/BrainProtonDensitySlice256x256.png`)(
    'reads a gray RGB PNG (214 wide despite its name)',
    async () => {
      const volume = await readImage(`${ITK_DATA}/BrainProtonDensitySlice256x256.png`);
      expect(volume.shape).toEqual([256, 214]);
      expect(range(volume)).toEqual({ min: 0, max: 244, integers: true });
    },
  );

  withFile(`${ITK_DATA}/Point.png`)('keeps 16-bit samples unscaled', async () => {
    const volume = await readPlanarImage(`${ITK_DATA}/Point.png`);
    expect(volume.shape).toEqual([50, 50]);
    expect(range(volume)).toEqual({ min: 0, max: 65535, integers: true });
  });

  it('turns RGB and RGBA into luminance and ignores alpha', async () => {
    // Red, green, blue, gray; alpha varies and must not matter.
    const rgba = Buffer.from([255, 0, 0, 255, 0, 255, 0, 10, 0, 0, 255, 0, 10, 10, 10, 128]);
    const expected = [0.299 * 255, 0.587 * 255, 0.114 * 255, 10];
    // pngjs blends with white when it drops alpha, so the RGB file is written from opaque pixels.
    const opaque = Buffer.from(rgba.map((v, i) => (i % 4 === 3 ? 255 : v)));
    for (const [name, colorType, pixels] of [
      ['rgb.png', 2, opaque],
      ['rgba.png', 6, rgba],
    ] as const) {
      const volume = await readImage(writePng(name, 2, 2, pixels, { colorType, inputHasAlpha: true }));
      expect(volume.shape).toEqual([2, 2]);
      Array.from(volume.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
    }
  });

  it('reads a 16-bit gray PNG written by pngjs', async () => {
    const samples = new Uint16Array([0, 1000, 65535, 12345, 7, 40000]);
    const file = writePng('gray16.png', 3, 2, Buffer.from(samples.buffer), {
      colorType: 0,
      inputColorType: 0,
      bitDepth: 16,
      inputHasAlpha: false,
    });
    const volume = await readImage(file);
    expect(volume.shape).toEqual([2, 3]);
    expect(Array.from(volume.data)).toEqual(Array.from(samples));
  });

  it('reads a JPEG written by jpeg-js (values close to the original)', async () => {
    const width = 16;
    const height = 8;
    const rgba = Buffer.alloc(width * height * 4);
    const gray = (x: number, y: number) => 8 * x + 10 * y;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) rgba.fill(gray(x, y), (y * width + x) * 4, (y * width + x) * 4 + 3);
    fs.writeFileSync(tmp('ramp.jpg'), jpeg.encode({ width, height, data: rgba }, 100).data);
    const volume = await readImage(tmp('ramp.jpg'));
    expect(volume.shape).toEqual([height, width]);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) expect(Math.abs(volume.data[y * width + x]! - gray(x, y))).toBeLessThanOrEqual(3);

    const orange = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) orange.set([250, 120, 20, 255], i * 4);
    fs.writeFileSync(tmp('orange.jpg'), jpeg.encode({ width: 8, height: 8, data: orange }, 100).data);
    const colour = await readImage(tmp('orange.jpg'));
    expect(colour.data[27]).toBeCloseTo(0.299 * 250 + 0.587 * 120 + 0.114 * 20, -0.5);
  });

  it('reads plain and Adam7-interlaced PNGs, and refuses either with rows missing', async () => {
    const [width, height] = [13, 11]; // not multiples of 8: every pass has a partial block
    const pixels = Uint8Array.from({ length: width * height }, (_, i) => (i * 37) % 251);
    for (const interlaced of [false, true]) {
      const file = tmp(`gray-${interlaced}.png`);
      fs.writeFileSync(file, grayPng(width, height, pixels, interlaced));
      const volume = await readImage(file);
      expect(volume.shape).toEqual([height, width]);
      expect(Array.from(volume.data)).toEqual(Array.from(pixels));
      // One scanline short: pngjs would fill the gap from memory it never wrote.
      const rows = interlaced ? 2 + 2 + 1 + 3 + 3 + 6 + 5 : height; // scanlines per pass
      fs.writeFileSync(file, grayPng(width, height, pixels, interlaced, rows - 1));
      await expect(readImage(file)).rejects.toThrow(
        new ImageReadError(
          file,
          `truncated PNG: its image data holds ${interlaced ? 151 : 140} bytes, but 13 x 11 pixels need ${interlaced ? 165 : 154}`,
        ),
      );
    }
  });

  it("reads a gray PNG's pixels whatever its tRNS chunk names as transparent", async () => {
    const pixels = Uint8Array.from([0, 1, 7, 100, 200, 255]);
    const plain = grayPng(3, 2, pixels, false);
    // tRNS after IHDR (8 signature bytes + 25 of IHDR): gray level 100 is transparent.
    const keyed = Buffer.concat([plain.subarray(0, 33), pngChunk('tRNS', Buffer.from([0, 100])), plain.subarray(33)]);
    const file = tmp('gray-trns.png');
    fs.writeFileSync(file, keyed);
    expect(Array.from((await readImage(file)).data)).toEqual([0, 1, 7, 100, 200, 255]);
  });

  it('reports corrupt PNG and JPEG files and non-images', async () => {
    fs.writeFileSync(
      tmp('bad.png'),
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(20)]),
    );
    const png = (await readImage(tmp('bad.png')).catch((e: unknown) => e)) as ImageReadError;
    expect(png).toBeInstanceOf(ImageReadError);
    expect(png.message).toMatch(new RegExp(`^${tmp('bad.png')}: invalid PNG \\(.+\\)$`));

    fs.writeFileSync(tmp('bad.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3]));
    const jpg = (await readImage(tmp('bad.jpg')).catch((e: unknown) => e)) as ImageReadError;
    expect(jpg).toBeInstanceOf(ImageReadError);
    expect(jpg.message).toMatch(new RegExp(`^${tmp('bad.jpg')}: invalid JPEG \\(.+\\)$`));

    fs.writeFileSync(tmp('text.png'), 'GIF89a');
    await expect(readPlanarImage(tmp('text.png'))).rejects.toThrow(
      `${tmp('text.png')}: not a PNG or JPEG file (first bytes 47 49 46 38 39 61), expected 89 50 4e 47 0d 0a 1a 0a (PNG) or ff d8 ff (JPEG)`,
    );
  });
});
