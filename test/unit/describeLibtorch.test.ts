import fs from 'node:fs';
import path from 'node:path';
import { describeLibtorch } from '../../scripts/libtorch/describeLibtorch';
import { makeFakeLibtorch, makeTempDir } from './fakeLibtorch';

describe('describeLibtorch', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('describe');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a pip torch package (CPU)', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.13.0+cpu' });
    expect(describeLibtorch(folder)).toEqual({
      folder: fs.realpathSync(folder),
      libDir: path.join(fs.realpathSync(folder), 'lib'),
      version: '2.13.0+cpu',
      flavour: 'cpu',
      cudaVersion: null,
    });
  });

  it('reads a pip torch package built for CUDA', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.14.1+cu130', cuda: '13.0' });
    expect(describeLibtorch(folder)).toMatchObject({ flavour: 'cu130', cudaVersion: '13.0' });
  });

  it('reads an unpacked libtorch archive and derives the flavour from its library files', () => {
    const folder = makeFakeLibtorch(dir, { version: '2.13.0', kind: 'archive', cuda: '12.8', name: 'libtorch' });
    expect(describeLibtorch(folder)).toMatchObject({ version: '2.13.0', flavour: 'cuda' });
    const cpu = makeFakeLibtorch(dir, { version: '2.13.0+cpu', kind: 'archive', name: 'cpu' });
    expect(describeLibtorch(cpu)).toMatchObject({ flavour: 'cpu', cudaVersion: null });
  });

  it('says what is missing', () => {
    expect(() => describeLibtorch(path.join(dir, 'nope'))).toThrow(/does not exist/);
    fs.mkdirSync(path.join(dir, 'empty'));
    expect(() => describeLibtorch(path.join(dir, 'empty'))).toThrow(
      /share\/cmake\/Torch\/TorchConfig.cmake is missing/,
    );
  });
});
