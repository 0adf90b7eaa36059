import fs from 'node:fs';
import path from 'node:path';
import { cudaDefines } from '../../scripts/cudaDefines';
import { useTempDir } from '../tempDir';

describe('CMake definitions for a CUDA LibTorch', () => {
  const tempDir = useTempDir('cover-cuda-defines');
  const touch = (file: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
    return file;
  };

  it('are none for a CPU LibTorch', () => {
    expect(cudaDefines({ folder: '/x/torch', flavour: 'cpu' }, {}, '/nowhere')).toEqual({});
  });

  it('name the toolkit holding nvcc and the nvrtc of the NVIDIA wheels beside a pip torch', () => {
    const root = tempDir();
    const toolkit = path.join(root, 'cuda-13.0');
    const nvcc = touch(path.join(toolkit, 'bin', 'nvcc'));
    touch(path.join(root, 'site', 'nvidia', 'cu13', 'lib', 'libnvrtc-builtins.so.13.0'));
    const nvrtc = touch(path.join(root, 'site', 'nvidia', 'cu13', 'lib', 'libnvrtc.so.13'));
    const torch = path.join(root, 'site', 'torch');
    fs.mkdirSync(torch);
    expect(cudaDefines({ folder: torch, flavour: 'cu130' }, { CUDA_HOME: toolkit, PATH: '' }, '/nowhere')).toEqual({
      CMAKE_CUDA_COMPILER: nvcc,
      CUDA_TOOLKIT_ROOT_DIR: toolkit,
      CUDAToolkit_ROOT: toolkit,
      TORCH_CUDA_ARCH_LIST: '8.0;9.0',
      CUDA_nvrtc_LIBRARY: nvrtc,
    });
  });

  it('say what is missing when no nvcc is found', () => {
    expect(() => cudaDefines({ folder: '/x/torch', flavour: 'cu130' }, { PATH: '' }, '/nowhere')).toThrow(
      "The LibTorch at /x/torch is a CUDA build (cu130); building against it needs the CUDA toolkit's nvcc, " +
        'found in none of CUDACXX, CUDA_HOME/bin, /nowhere/bin or PATH.',
    );
  });
});
