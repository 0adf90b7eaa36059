import fs from 'node:fs';
import path from 'node:path';
import { loadSafetensors, saveSafetensors, tensor } from '../../lib';
import { useTempDir } from '../tempDir';

/** A safetensors file written here byte by byte: header object, data, header length as given. */
function rawFile(header: object, data: Buffer, headerLength?: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  return Buffer.concat([length, json, data]);
}

const f32 = (count: number, begin: number) => ({
  dtype: 'F32',
  shape: [count],
  data_offsets: [begin, begin + 4 * count],
});

describe('safetensors format checks', () => {
  const tempDir = useTempDir('cover-safetensors-format');
  const load = (name: string, bytes: Buffer) => {
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, bytes);
    return loadSafetensors(file);
  };

  it('reads tensors stored in any order that tile the data', async () => {
    const data = Buffer.from(Float32Array.from([1, 2, 3]).buffer);
    const { tensors } = await load('reversed.safetensors', rawFile({ b: f32(1, 8), a: f32(2, 0) }, data));
    expect(tensors.a!.data).toEqual(Float32Array.from([1, 2]));
    expect(tensors.b!.data).toEqual(Float32Array.from([3]));
  });

  it('refuses gaps, overlaps, trailing bytes and a header length that lies', async () => {
    const data = Buffer.from(Float32Array.from([1, 2, 3, 4]).buffer);
    await expect(load('gap.safetensors', rawFile({ a: f32(1, 0), b: f32(2, 8) }, data))).rejects.toThrow(
      'no tensor holds data bytes 4 to 8; is the header length right?',
    );
    await expect(load('overlap.safetensors', rawFile({ a: f32(2, 0), b: f32(2, 4) }, data))).rejects.toThrow(
      'two tensors share the bytes from 4',
    );
    await expect(load('trailing.safetensors', rawFile({ a: f32(3, 0) }, data))).rejects.toThrow(
      'the tensors hold 12 bytes of data but the file has 16 after the header',
    );
    // A header padded with 8 spaces but a length that leaves them out: the data would shift by 8.
    const json = Buffer.from(`${JSON.stringify({ a: f32(2, 0) })}        `);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length - 8));
    await expect(load('short-length.safetensors', Buffer.concat([length, json, data.subarray(0, 8)]))).rejects.toThrow(
      'the tensors hold 8 bytes of data but the file has 16 after the header',
    );
  });

  it('refuses array metadata and a tensor named __proto__', async () => {
    const data = Buffer.from(Float32Array.from([1]).buffer);
    await expect(load('array-meta.safetensors', rawFile({ __metadata__: ['a'], a: f32(1, 0) }, data))).rejects.toThrow(
      '__metadata__ is not an object of strings',
    );
    const proto = Buffer.from(`{"__proto__": ${JSON.stringify(f32(1, 0))}}`);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(proto.length));
    await expect(load('proto.safetensors', Buffer.concat([length, proto, data]))).rejects.toThrow(
      'a tensor is named "__proto__"',
    );
  });

  it('writes nothing it could not read back, leaving the old file in place', async () => {
    const file = path.join(tempDir(), 'kept.safetensors');
    const good = tensor(Float32Array.from([1, 2]), [2]);
    await saveSafetensors(file, { good });
    const before = fs.readFileSync(file);
    const bad: Array<[Parameters<typeof saveSafetensors>[1], object, string]> = [
      [{ good }, { note: 5 }, 'Expected a string for metadata["note"] but received number'],
      [{ wrong: { dtype: 'float32', shape: [10], data: new Float32Array(5) } as never }, {}, 'Expected 10 elements'],
      [{ wrong: { dtype: 'float32', shape: [2], data: new Float64Array(2) } as never }, {}, 'tensors["wrong"].data'],
      [{ __metadata__: good }, {}, 'A tensor cannot be named "__metadata__"'],
      [{ wrong: { dtype: 'complex64', shape: [1], data: new Float32Array(2) } as never }, {}, 'tensors["wrong"].dtype'],
    ];
    for (const [tensors, metadata, message] of bad) {
      await expect(saveSafetensors(file, tensors, metadata as never)).rejects.toThrow(message);
      expect(fs.readFileSync(file)).toEqual(before);
    }
  });
});
