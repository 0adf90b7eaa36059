import zlib from 'node:zlib';

/**
 * The length check pngjs leaves out: a PNG whose compressed image data (IDAT) holds fewer
 * rows than its header promises decodes there from memory it never filled, so the missing
 * rows come back as zeros or as leftovers of earlier allocations. This counts the bytes the
 * header implies and inflates the data to compare.
 */

/** Samples per pixel of each PNG colour type (gray, RGB, palette, gray+alpha, RGBA). */
const SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7's seven passes: first column, first row, column step, row step. */
export const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Bytes of filtered scanlines the header implies: one filter byte plus the samples per row. */
export function expectedImageDataBytes(header: PngHeader): number {
  const bitsPerPixel = header.bitDepth * (SAMPLES[header.colorType] ?? 1);
  const rows = (width: number, height: number) =>
    width > 0 && height > 0 ? height * (1 + Math.ceil((width * bitsPerPixel) / 8)) : 0;
  if (!header.interlaced) return rows(header.width, header.height);
  let total = 0;
  for (const [column, row, columnStep, rowStep] of ADAM7) {
    total += rows(
      Math.ceil(Math.max(0, header.width - column) / columnStep),
      Math.ceil(Math.max(0, header.height - row) / rowStep),
    );
  }
  return total;
}

/**
 * Why the PNG's image data is shorter than its header implies, or undefined when it is long
 * enough (or the file is too malformed to tell; pngjs then reports what is wrong).
 */
export function shortImageData(bytes: Buffer): string | undefined {
  let header: PngHeader | undefined;
  const parts: Buffer[] = [];
  for (const { type, data } of chunks(bytes)) {
    if (type === 'IHDR') header = headerOf(data);
    else if (type === 'IDAT') parts.push(data);
  }
  if (!header || parts.length === 0) return undefined;
  let inflated: number;
  try {
    // A sync flush returns what a cut-off stream holds instead of throwing.
    inflated = zlib.inflateSync(Buffer.concat(parts), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length;
  } catch {
    return undefined;
  }
  const expected = expectedImageDataBytes(header);
  if (inflated >= expected) return undefined;
  return `truncated PNG: its image data holds ${inflated.toLocaleString('en')} bytes, but ${header.width} x ${header.height} pixels need ${expected.toLocaleString('en')}`;
}

/**
 * The PNG without its tRNS chunk when that chunk names a transparent gray level or RGB
 * colour (colour types 0 and 2): pngjs then sets every channel of such pixels to 0, so a
 * gray value equal to the key would read as 0. Intensities ignore transparency; a palette's
 * tRNS (alpha per entry) leaves the colours alone and stays.
 */
export function withoutTransparentColour(bytes: Buffer): Buffer {
  let colorType: number | undefined;
  for (const { type, data, at, end } of chunks(bytes)) {
    if (type === 'IHDR') colorType = headerOf(data)?.colorType;
    else if (type === 'tRNS' && (colorType === 0 || colorType === 2))
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(end)]);
  }
  return bytes;
}

function headerOf(data: Buffer): PngHeader | undefined {
  if (data.length < 13) return undefined;
  return {
    width: data.readUInt32BE(0),
    height: data.readUInt32BE(4),
    bitDepth: data[8]!,
    colorType: data[9]!,
    interlaced: data[12] === 1,
  };
}

/** The chunks after the signature, up to IEND: type, data, and where the chunk starts and ends. */
function* chunks(bytes: Buffer): Generator<{ type: string; data: Buffer; at: number; end: number }> {
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const end = Math.min(bytes.length, at + 12 + length);
    yield { type, data: bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length)), at, end };
    if (type === 'IEND') return;
    at += 12 + length;
  }
}
