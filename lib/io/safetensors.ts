import fs from 'node:fs/promises';
import { DTYPES, TYPED_ARRAY_CONSTRUCTORS } from '../native/binding';
import { assertTensor, type DType, type Tensor } from '../tensor';
import { writeFileAtomic } from './writeFileAtomic';

/**
 * The safetensors format: 8-byte little-endian header length, a JSON header mapping names to
 * { dtype, shape, data_offsets } (plus optional "__metadata__" of strings), then the raw
 * little-endian data. PyTorch reads it with `safetensors.torch.load_file`.
 */

/** `__metadata__` is the format's; `__proto__` cannot be a plain object's key. */
const RESERVED_NAMES = ['__metadata__', '__proto__'];

const FROM_SAFETENSORS: Record<string, DType> = Object.fromEntries(
  (Object.keys(DTYPES) as DType[]).map((dtype) => [DTYPES[dtype].safetensors, dtype]),
);
/**
 * Writes named tensors (and string metadata) to `file` atomically. Everything is checked
 * first: the write replaces the file, so it must never replace a good one with one that
 * cannot be read back.
 */
export async function saveSafetensors(
  file: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors))
    throw new TypeError('Expected tensors as an object of tensors by name, e.g. { weight: tensor(...) }');
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new TypeError('Expected metadata as an object of strings by key');
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string')
      throw new TypeError(`Expected a string for metadata["${key}"] but received ${typeof value}`);
  }
  for (const [name, tensor] of Object.entries(tensors)) {
    if (RESERVED_NAMES.includes(name))
      throw new RangeError(`A tensor cannot be named "${name}" in a safetensors file (a reserved name)`);
    assertTensor(tensor, `tensors["${name}"]`);
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    header[name] = {
      dtype: DTYPES[tensor.dtype].safetensors,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + bytes.byteLength],
    };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  // The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  await writeFileAtomic(file, [length, headerBytes, ...chunks]);
}

/** Reads a safetensors file; every problem is an Error that names the file. */
export async function loadSafetensors(
  file: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const bytes = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`Cannot read ${file}: ${error.message}`);
  });
  const fail = (why: string): never => {
    throw new Error(`${file} is not a valid safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail('shorter than its 8-byte header length');
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.byteLength - 8) fail(`header length ${headerLength} exceeds the file size`);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch {
    return fail('the header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    fail('the header is not a JSON object of tensors');
  const entries = header as Record<string, unknown>;
  const dataStart = 8 + headerLength;
  const metadata = entries.__metadata__ ?? {};
  if (
    typeof metadata !== 'object' ||
    metadata === null ||
    Array.isArray(metadata) ||
    Object.values(metadata).some((value) => typeof value !== 'string')
  )
    fail('__metadata__ is not an object of strings');
  const tensors: Record<string, Tensor> = {};
  const spans: Array<[number, number]> = [];
  const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  for (const [name, entry] of Object.entries(entries)) {
    if (name === '__metadata__') continue;
    if (name === '__proto__') fail('a tensor is named "__proto__"');
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    const ours =
      typeof dtype === 'string' && Object.hasOwn(FROM_SAFETENSORS, dtype) ? FROM_SAFETENSORS[dtype] : undefined;
    if (!ours)
      fail(`tensor "${name}" has dtype ${String(dtype)}; supported: ${Object.keys(FROM_SAFETENSORS).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isCount))
      fail(`tensor "${name}" has shape ${JSON.stringify(shape)}, expected an array of non-negative integers`);
    const ArrayType = TYPED_ARRAY_CONSTRUCTORS[ours as DType];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every(isCount) ||
      offsets[1] - offsets[0] !== count * ArrayType.BYTES_PER_ELEMENT ||
      dataStart + offsets[1] > bytes.byteLength
    ) {
      fail(`tensor "${name}" has data offsets that do not match its shape or the file size`);
    }
    const [begin, end] = offsets as [number, number];
    spans.push([begin, end]);
    // Copy into an aligned buffer of its own: file offsets need not be element-aligned.
    const copy = new ArrayBuffer(count * ArrayType.BYTES_PER_ELEMENT);
    new Uint8Array(copy).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { dtype: ours as DType, shape: shape as number[], data: new ArrayType(copy, 0, count) } as Tensor;
  }
  checkSpans(spans, bytes.byteLength - dataStart, fail);
  return { tensors, metadata: metadata as Record<string, string> };
}

/**
 * The tensors' byte ranges must tile the data section, as the format requires: no gap (a
 * header length that lies shifts every tensor by the gap), no overlap (tensors would share
 * bytes), nothing after the last one.
 */
function checkSpans(spans: Array<[number, number]>, dataBytes: number, fail: (why: string) => never): void {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let next = 0;
  for (const [begin, end] of spans) {
    if (begin !== next)
      fail(
        begin < next
          ? `two tensors share the bytes from ${begin}`
          : `no tensor holds data bytes ${next} to ${begin}; is the header length right?`,
      );
    next = end;
  }
  if (next !== dataBytes) fail(`the tensors hold ${next} bytes of data but the file has ${dataBytes} after the header`);
}

/**
 * The `__metadata__` of a safetensors file, from its header alone (the tensors are not read);
 * {} when the file has none or is not a readable safetensors file.
 */
export async function readSafetensorsMetadata(file: string): Promise<Record<string, string>> {
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return {};
  try {
    const length = Buffer.alloc(8);
    await handle.read(length, 0, 8, 0);
    const headerLength = Number(length.readBigUInt64LE(0));
    if (!(headerLength > 0 && headerLength <= 100_000_000)) return {};
    const header = Buffer.alloc(headerLength);
    await handle.read(header, 0, headerLength, 8);
    const metadata = (JSON.parse(header.toString('utf8')) as { __metadata__?: unknown }).__metadata__;
    return typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)
      ? (metadata as Record<string, string>)
      : {};
  } catch {
    return {};
  } finally {
    await handle.close();
  }
}
