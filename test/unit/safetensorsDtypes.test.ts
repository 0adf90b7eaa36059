import fs from 'node:fs';
import path from 'node:path';
import { loadSafetensors, saveSafetensors, tensor } from '../../lib';
import { useTempDir } from '../tempDir';

describe('safetensors dtypes', () => {
  const tempDir = useTempDir('cover-safetensors-dtypes');

  it('writes float16 tensors as F16 and reads them back bit for bit', async () => {
    const file = path.join(tempDir(), 'half.safetensors');
    const halves = tensor(Uint16Array.from([0x3c00, 0x8000, 0x7c00, 0x0001, 0x7bff, 0x7e00]), [2, 3]);
    await saveSafetensors(file, { features: halves });
    const bytes = fs.readFileSync(file);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header.features).toMatchObject({ dtype: 'F16', shape: [2, 3] });
    const { tensors } = await loadSafetensors(file);
    expect(tensors.features!.dtype).toBe('float16');
    expect(tensors.features!.data).toEqual(halves.data);
  });

  it('refuses tensors or metadata that are not objects by name, writing nothing', async () => {
    const file = path.join(tempDir(), 'refused.safetensors');
    const one = tensor(new Float32Array(2), [2]);
    await expect(saveSafetensors(file, [one] as never)).rejects.toThrow(
      'Expected tensors as an object of tensors by name',
    );
    await expect(saveSafetensors(file, { one }, null as never)).rejects.toThrow('Expected metadata as an object');
    expect(fs.existsSync(file)).toBe(false);
  });
});
