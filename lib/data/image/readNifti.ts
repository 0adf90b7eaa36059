import * as nifti from 'nifti-reader-js';
import { constants } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { rangeError } from '../../errors';
import { ImageReadError, firstBytesHex, libraryMessage, type ImageVolume } from './ImageVolume';
import { toClosestCanonical } from './orientation';
import { readFileBytes } from './readFileBytes';
import { checkVoxelCount, validateVoxelLimit, type VoxelLimitOptions } from './voxelLimit';

/**
 * Reads `.nii` and `.nii.gz` (NIfTI-1 and NIfTI-2, single-file form) into a float32 volume in
 * the closest RAS+ orientation. nifti-reader-js parses the header; this file chooses the
 * voxel-to-world matrix (sform before qform, as nibabel does), checks the sizes against the
 * file, converts the voxel type and applies scl_slope / scl_inter.
 */

export interface ReadNiftiOptions extends VoxelLimitOptions {
  /** Which volume of a 4D (or higher) file to return. Default 0. */
  volumeIndex?: number;
}

/** Gzip streams start with 1f 8b, whatever the file is called. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Most bytes a compressed image may expand to: 4 GiB, Node's largest buffer. A few
 * megabytes of gzip can claim far more (a "gzip bomb"); zlib stops at the limit instead of
 * exhausting memory.
 */
export const MAX_DECOMPRESSED_BYTES = Math.min(4 * 2 ** 30, constants.MAX_LENGTH);

/** What a NIfTI header declares about the file it starts. */
export interface DeclaredNifti {
  /** vox_offset + every voxel of every volume. */
  bytes: number;
  /** Voxels along i, j, k (missing axes count 1): the size of one volume. */
  size: [number, number, number];
}

/**
 * What a NIfTI file declares for itself, from its header (the first 348 bytes of a NIfTI-1,
 * 540 of a NIfTI-2), or undefined when they are not a plausible NIfTI header.
 */
export function declaredNifti(head: Uint8Array): DeclaredNifti | undefined {
  if (head.length < 348) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.length);
  for (const littleEndian of [true, false]) {
    const size = view.getInt32(0, littleEndian);
    if (size === 348) {
      // NIfTI-1: int16 dim[8] at 40, int16 bitpix at 72, float32 vox_offset at 108.
      const offset = view.getFloat32(108, littleEndian);
      return declared(
        (i) => view.getInt16(40 + 2 * i, littleEndian),
        view.getInt16(72, littleEndian),
        Math.max(352, Number.isFinite(offset) ? offset : 0),
      );
    }
    if (size === 540) {
      if (head.length < 540) return undefined;
      // NIfTI-2: int16 bitpix at 14, int64 dim[8] at 16, int64 vox_offset at 168.
      return declared(
        (i) => Number(view.getBigInt64(16 + 8 * i, littleEndian)),
        view.getInt16(14, littleEndian),
        Math.max(544, Number(view.getBigInt64(168, littleEndian))),
      );
    }
  }
  return undefined;
}

function declared(dim: (i: number) => number, bitpix: number, offset: number): DeclaredNifti | undefined {
  const rank = dim(0);
  if (rank < 1 || rank > 7 || bitpix <= 0 || bitpix % 8 !== 0) return undefined;
  const sides = Array.from({ length: 7 }, (_, i) => (i < rank ? Math.max(1, dim(i + 1)) : 1));
  const voxels = sides.reduce((product, side) => product * side, 1);
  return { bytes: offset + (voxels * bitpix) / 8, size: [sides[0]!, sides[1]!, sides[2]!] };
}

export interface GunzipLimits extends VoxelLimitOptions {
  /** Most bytes the stream may expand to. Default {@link MAX_DECOMPRESSED_BYTES}. */
  maxBytes?: number;
}

/**
 * Decompresses on the thread pool (zlib's streaming gunzip) rather than with the library's
 * synchronous inflate, so a 100 MB volume does not stall the event loop. Inflation stops
 * at `maxBytes`, and for a NIfTI stream at the size its header declares (plus 1 MiB of
 * slack): a few megabytes of gzip can claim gigabytes (a "gzip bomb"). A NIfTI header that
 * declares more than `maxVoxels` stops it at once.
 */
export async function gunzipBytes(bytes: Uint8Array, file: string, limits: GunzipLimits = {}): Promise<Buffer> {
  const maxBytes = limits.maxBytes ?? MAX_DECOMPRESSED_BYTES;
  return new Promise<Buffer>((resolve, reject) => {
    const inflate = createGunzip();
    const chunks: Buffer[] = [];
    let total = 0;
    let limit = maxBytes;
    let why = `more than ${formatBytes(maxBytes)}`;
    let headerSeen = false;
    inflate.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      // 540 bytes hold a NIfTI-2 header as well as a NIfTI-1 one.
      if (!headerSeen && total >= 540) {
        headerSeen = true;
        const header = declaredNifti(chunks.length === 1 ? chunk : Buffer.concat(chunks));
        if (header) {
          try {
            checkVoxelCount(header.size, file, limits);
          } catch (error) {
            inflate.destroy();
            reject(error as Error);
            return;
          }
        }
        if (header && header.bytes + 2 ** 20 < limit) {
          limit = header.bytes + 2 ** 20;
          why = `more than the ${formatBytes(header.bytes)} its NIfTI header declares`;
        }
      }
      if (total > limit) {
        inflate.destroy();
        reject(
          new ImageReadError(
            file,
            `decompresses to ${why} (from ${formatBytes(bytes.length)} of gzip); the file is damaged or not an image`,
          ),
        );
      }
    });
    inflate.on('end', () => resolve(Buffer.concat(chunks, total)));
    inflate.on('error', (error) =>
      reject(
        new ImageReadError(
          file,
          `gzip data is corrupt or truncated (${libraryMessage(error)}), expected a complete .gz file; download or copy it again`,
          { cause: error },
        ),
      ),
    );
    inflate.end(bytes);
  });
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
}

/**
 * 1 or 2 when the bytes start like a NIfTI-1 (sizeof_hdr 348) or NIfTI-2 (540) header, in
 * either byte order, and 0 otherwise. Only the first four bytes are needed.
 */
export function niftiVersion(bytes: Uint8Array): 0 | 1 | 2 {
  if (bytes.length < 4) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, 4);
  const size = [view.getInt32(0, true), view.getInt32(0, false)];
  if (size.includes(348)) return 1;
  if (size.includes(540)) return 2;
  return 0;
}

/** Reads a NIfTI file (gzip detected by content) as an RAS+ volume. */
export async function readNifti(file: string, options: ReadNiftiOptions = {}): Promise<ImageVolume> {
  validateNiftiOptions(options);
  let bytes: Uint8Array = await readFileBytes(file);
  if (isGzip(bytes)) bytes = await gunzipBytes(bytes, file, options);
  return decodeNifti(bytes, file, options);
}

export function validateNiftiOptions(options: ReadNiftiOptions): void {
  const index = options.volumeIndex;
  if (index !== undefined && !(Number.isInteger(index) && index >= 0)) {
    throw rangeError('volumeIndex', 'a non-negative integer', index);
  }
  validateVoxelLimit(options);
}

interface VoxelType {
  name: string;
  bytes: number;
  read: (view: DataView, offset: number, littleEndian: boolean) => number;
}

const VOXEL_TYPES: Record<number, VoxelType> = {
  2: { name: 'uint8', bytes: 1, read: (v, o) => v.getUint8(o) },
  4: { name: 'int16', bytes: 2, read: (v, o, le) => v.getInt16(o, le) },
  8: { name: 'int32', bytes: 4, read: (v, o, le) => v.getInt32(o, le) },
  16: { name: 'float32', bytes: 4, read: (v, o, le) => v.getFloat32(o, le) },
  64: { name: 'float64', bytes: 8, read: (v, o, le) => v.getFloat64(o, le) },
  256: { name: 'int8', bytes: 1, read: (v, o) => v.getInt8(o) },
  512: { name: 'uint16', bytes: 2, read: (v, o, le) => v.getUint16(o, le) },
  768: { name: 'uint32', bytes: 4, read: (v, o, le) => v.getUint32(o, le) },
  1024: { name: 'int64', bytes: 8, read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  1280: { name: 'uint64', bytes: 8, read: (v, o, le) => Number(v.getBigUint64(o, le)) },
};

const UNSUPPORTED_TYPES: Record<number, string> = {
  0: 'unknown',
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'RGB24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'RGBA32',
};

/** Decodes an uncompressed NIfTI file already in memory. */
export function decodeNifti(bytes: Uint8Array, file: string, options: ReadNiftiOptions = {}): ImageVolume {
  const version = niftiVersion(bytes);
  if (version === 0) {
    throw new ImageReadError(
      file,
      `not a NIfTI file (first bytes ${firstBytesHex(bytes)}), expected a header size of 348 (NIfTI-1) or 540 (NIfTI-2) at offset 0`,
    );
  }
  const headerSize = version === 1 ? 348 : 540;
  if (bytes.length < headerSize) {
    throw new ImageReadError(
      file,
      `file is truncated: a NIfTI-${version} header needs ${headerSize} bytes, the file has ${bytes.length}`,
    );
  }
  checkMagic(bytes, version, file);

  // The library only gets the header itself (a copy), so it never scans extensions or voxel data.
  const headerBuffer = new Uint8Array(bytes.subarray(0, headerSize)).buffer;
  let header: nifti.NIFTI1 | nifti.NIFTI2 | null;
  try {
    header = nifti.readHeader(headerBuffer);
  } catch (error) {
    throw new ImageReadError(file, `invalid NIfTI header (${libraryMessage(error)})`, { cause: error });
  }
  if (!header) throw new ImageReadError(file, 'invalid NIfTI header, expected magic "n+1" or "n+2"');

  const { size, volumes } = gridSize(header, file);
  checkVoxelCount(size, file, options);
  const type = VOXEL_TYPES[header.datatypeCode];
  if (!type) {
    const name = UNSUPPORTED_TYPES[header.datatypeCode] ?? 'unknown';
    const supported = Object.values(VOXEL_TYPES)
      .map((t) => t.name)
      .join(', ');
    throw new ImageReadError(
      file,
      `voxel datatype ${name} (code ${header.datatypeCode}) is not supported, expected a scalar type: ${supported}`,
    );
  }

  // A single file holds the header and 4 bytes of extension flags before the voxels. Some
  // writers leave vox_offset at 0 (or the header size): as nibabel does, the data then starts
  // right after those bytes.
  const minimumOffset = headerSize + 4;
  if (!(header.vox_offset >= 0))
    throw new ImageReadError(
      file,
      `vox_offset is ${header.vox_offset}, expected at least ${minimumOffset} (voxel data starts after the header)`,
    );
  const voxelOffset = Math.max(minimumOffset, Math.floor(header.vox_offset));
  const voxels = size[0] * size[1] * size[2];
  const needed = voxels * volumes * type.bytes;
  const available = Math.max(0, bytes.length - voxelOffset);
  if (available < needed) {
    throw new ImageReadError(
      file,
      `file is truncated: the header needs ${needed} bytes of voxel data, the file has ${available}`,
    );
  }

  const volumeIndex = options.volumeIndex ?? 0;
  if (volumeIndex >= volumes) {
    throw new ImageReadError(
      file,
      `volumeIndex ${volumeIndex} is out of range: the file holds ${volumes} volume${volumes === 1 ? '' : 's'}` +
        ` (dims ${header.dims.slice(1, header.dims[0]! + 1).join('x')}), expected 0 to ${volumes - 1}`,
    );
  }

  const data = convertVoxels(bytes, voxelOffset + volumeIndex * voxels * type.bytes, voxels, type, header.littleEndian);
  applyScaling(data, header.scl_slope, header.scl_inter);

  if (version === 1) tidyFloat32Fields(header);
  const scale = millimetresPerUnit(header);
  const pixdimSpacing = voxelSpacing(header).map((side) => side * scale) as [number, number, number];
  const affine = chooseAffine(header, bytes, version, pixdimSpacing).map((value, i) =>
    i < 12 ? value * scale : value,
  );
  // With an sform, the voxel size is the sform's (its column lengths): pixdim belongs to the
  // qform and may disagree. Where they agree to float32 rounding pixdim's exact value stays;
  // an axis the sform leaves at 0 (the third of a 2D file) keeps pixdim's.
  const spacing = pixdimSpacing.map((side, axis) => {
    if (header.sform_code <= 0) return side;
    const length = Math.hypot(affine[axis]!, affine[4 + axis]!, affine[8 + axis]!);
    return length > 0 && Math.abs(length - side) > 1e-5 * length ? length : side;
  }) as [number, number, number];
  return toClosestCanonical({ data, size, spacing, affine }, file);
}

function checkMagic(bytes: Uint8Array, version: 1 | 2, file: string): void {
  const at = version === 1 ? 344 : 4;
  const magic = String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!);
  if (magic === `n+${version}`) return;
  if (magic === `ni${version}`) {
    throw new ImageReadError(
      file,
      `is the header of a .hdr/.img pair (magic "ni${version}"), expected a single-file NIfTI (magic "n+${version}");` +
        ' convert it, e.g. with nibabel or `fslchfiletype NIFTI_GZ`',
    );
  }
  throw new ImageReadError(
    file,
    `not a NIfTI file: magic is ${JSON.stringify(magic)}, expected "n+${version}" at byte ${at}`,
  );
}

/** Voxel counts along i, j, k (missing axes count 1) and the number of volumes along dims 4 to 7. */
function gridSize(header: nifti.NIFTI1 | nifti.NIFTI2, file: string) {
  const dims = header.dims;
  const rank = dims[0]!;
  if (!(Number.isInteger(rank) && rank >= 1 && rank <= 7)) {
    throw new ImageReadError(file, `dim[0] is ${rank}, expected the number of dimensions, 1 to 7`);
  }
  const used = dims.slice(1, rank + 1);
  if (!used.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ImageReadError(file, `dims are ${used.join('x')}, expected positive sizes`);
  }
  const at = (i: number) => (i <= rank ? dims[i]! : 1);
  const size: [number, number, number] = [at(1), at(2), at(3)];
  let volumes = 1;
  for (let i = 4; i <= rank; i++) volumes *= dims[i]!;
  return { size, volumes };
}

/** Any voxel type to float32; typed-array views when the layout allows, DataView otherwise. */
function convertVoxels(
  bytes: Uint8Array,
  offset: number,
  count: number,
  type: VoxelType,
  littleEndian: boolean,
): Float32Array {
  const out = new Float32Array(count);
  const start = bytes.byteOffset + offset;
  if (littleEndian && type.bytes <= 4 && type.name !== 'uint32' && start % type.bytes === 0) {
    // Fast path (x86 and arm64 are little endian): a view over the same memory, set() converts.
    const View = {
      uint8: Uint8Array,
      int8: Int8Array,
      int16: Int16Array,
      uint16: Uint16Array,
      int32: Int32Array,
      float32: Float32Array,
    }[type.name as 'uint8'];
    out.set(new View(bytes.buffer, start, count));
    return out;
  }
  const view = new DataView(bytes.buffer, start, count * type.bytes);
  for (let i = 0, at = 0; i < count; i++, at += type.bytes) out[i] = type.read(view, at, littleEndian);
  return out;
}

/** NIfTI: value = stored * scl_slope + scl_inter, where a slope of 0 (or NaN) means "no scaling". */
function applyScaling(data: Float32Array, slope: number, intercept: number): void {
  if (!Number.isFinite(slope) || slope === 0) return;
  const inter = Number.isFinite(intercept) ? intercept : 0;
  if (slope === 1 && inter === 0) return;
  for (let i = 0; i < data.length; i++) data[i] = data[i]! * slope + inter;
}

/**
 * The shortest decimal that is the same float32: NIfTI-1 stores pixdim, quaternion and offsets
 * as float32, and a voxel size written as 0.9 should read back as 0.9, not 0.8999999761581421.
 * No information is lost (the float32 value is recovered exactly).
 */
export function shortestDecimal(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function tidyFloat32Fields(header: nifti.NIFTI1 | nifti.NIFTI2): void {
  header.pixDims = header.pixDims.map(shortestDecimal);
  header.quatern_b = shortestDecimal(header.quatern_b);
  header.quatern_c = shortestDecimal(header.quatern_c);
  header.quatern_d = shortestDecimal(header.quatern_d);
  header.qoffset_x = shortestDecimal(header.qoffset_x);
  header.qoffset_y = shortestDecimal(header.qoffset_y);
  header.qoffset_z = shortestDecimal(header.qoffset_z);
}

/**
 * Millimetres per spatial unit of the file (xyzt_units & 7: 1 metre, 2 mm, 3 micron; 0,
 * unknown, taken as mm as most tools write it), so that spacing and affine are always in mm.
 */
function millimetresPerUnit(header: nifti.NIFTI1 | nifti.NIFTI2): number {
  const unit = header.xyzt_units & 7;
  return unit === 1 ? 1000 : unit === 3 ? 0.001 : 1;
}

/** |pixdim[1..3]|, with 1 for an unset (0 or non-finite) size, e.g. the third axis of a 2D file. */
function voxelSpacing(header: nifti.NIFTI1 | nifti.NIFTI2): [number, number, number] {
  const size = (i: number) => {
    const value = Math.abs(header.pixDims[i] ?? 0);
    return Number.isFinite(value) && value > 0 ? value : 1;
  };
  return [size(1), size(2), size(3)];
}

/**
 * sform when sform_code > 0, else qform when qform_code > 0, else the voxel size alone
 * (nibabel's order; nifti-reader-js prefers the qform when its code is higher). Row-major 4x4.
 */
function chooseAffine(
  header: nifti.NIFTI1 | nifti.NIFTI2,
  bytes: Uint8Array,
  version: 1 | 2,
  spacing: [number, number, number],
): number[] {
  if (header.sform_code > 0) {
    if (version === 2) return [...header.affine.slice(0, 3).flatMap((row) => row.slice(0, 4)), 0, 0, 0, 1];
    // NIfTI-1 srow_x, srow_y, srow_z: 12 float32 at byte 280 (read here, as the library may have used the qform).
    const view = new DataView(bytes.buffer, bytes.byteOffset + 280, 48);
    const rows = Array.from({ length: 12 }, (_, i) => shortestDecimal(view.getFloat32(i * 4, header.littleEndian)));
    return [...rows, 0, 0, 0, 1];
  }
  if (header.qform_code > 0) return qformAffine(header, spacing);
  return [spacing[0], 0, 0, 0, 0, spacing[1], 0, 0, 0, 0, spacing[2], 0, 0, 0, 0, 1];
}

/** nifti1_io's quatern_to_mat44: rotation from (b, c, d), qfac from pixdim[0], shift from qoffset. */
function qformAffine(header: nifti.NIFTI1 | nifti.NIFTI2, spacing: [number, number, number]): number[] {
  let b = header.quatern_b;
  let c = header.quatern_c;
  let d = header.quatern_d;
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    // Rounding pushed |(b, c, d)| to 1 or beyond: a 180 degree rotation, renormalised.
    const scale = 1 / Math.sqrt(b * b + c * c + d * d);
    [a, b, c, d] = [0, b * scale, c * scale, d * scale];
  } else {
    a = Math.sqrt(a);
  }
  const qfac = (header.pixDims[0] ?? 1) < 0 ? -1 : 1;
  const [dx, dy, dz] = [spacing[0], spacing[1], spacing[2] * qfac];
  const r = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const offset = [header.qoffset_x, header.qoffset_y, header.qoffset_z];
  return [...r.flatMap((row, i) => [row[0]! * dx, row[1]! * dy, row[2]! * dz, offset[i]!]), 0, 0, 0, 1];
}
