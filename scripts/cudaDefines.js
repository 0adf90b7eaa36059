'use strict';
// The CMake definitions a CUDA LibTorch needs to build against: the CUDA toolkit holding nvcc
// (torch's CMake files look for it, and it compiles native/cuda), nvrtc (from the NVIDIA
// wheels beside a pip torch, where torch's CMake files do not look), and the GPU
// architectures. None for a CPU LibTorch. scripts/gpu-check.sh does the same in bash for
// machines without Node.
const fs = require('node:fs');
const path = require('node:path');

/** Architectures of the kernels: Ampere (A100) and Hopper (H100, H200), plus PTX. */
const TORCH_CUDA_ARCH_LIST = '8.0;9.0';

/**
 * @param {{ folder: string, flavour: string }} libtorch
 * @param {NodeJS.ProcessEnv} env
 * @param {string} defaultToolkit  where the toolkit is when nothing in env says
 * @returns {Record<string, string>}
 */
function cudaDefines(libtorch, env, defaultToolkit = '/usr/local/cuda') {
  if (libtorch.flavour === 'cpu') return {};
  const nvcc = findNvcc(env, defaultToolkit);
  if (!nvcc) {
    throw new Error(
      `The LibTorch at ${libtorch.folder} is a CUDA build (${libtorch.flavour}); building against it needs ` +
        `the CUDA toolkit's nvcc, found in none of CUDACXX, CUDA_HOME/bin, ${defaultToolkit}/bin or PATH. ` +
        'Install the CUDA 13 toolkit (or set CUDA_HOME), or point LIBTORCH at a CPU LibTorch.',
    );
  }
  const root = path.dirname(path.dirname(fs.realpathSync(nvcc)));
  const nvrtc = findNvrtc(path.join(libtorch.folder, '..', 'nvidia')) ?? findNvrtc(path.join(root, 'lib64'));
  return {
    CMAKE_CUDA_COMPILER: nvcc,
    CUDA_TOOLKIT_ROOT_DIR: root,
    CUDAToolkit_ROOT: root,
    TORCH_CUDA_ARCH_LIST,
    ...(nvrtc ? { CUDA_nvrtc_LIBRARY: nvrtc } : {}),
  };
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} defaultToolkit
 */
function findNvcc(env, defaultToolkit) {
  const candidates = [
    env.CUDACXX,
    env.CUDA_HOME && path.join(env.CUDA_HOME, 'bin', 'nvcc'),
    path.join(defaultToolkit, 'bin', 'nvcc'),
    ...(env.PATH ?? '').split(path.delimiter).map((dir) => dir && path.join(dir, 'nvcc')),
  ];
  return candidates.find((file) => file && fs.existsSync(file));
}

/**
 * The first libnvrtc.so* under `dir` (not its builtins), searched a few levels deep.
 * @param {string} dir
 * @param {number} depth
 * @returns {string | undefined}
 */
function findNvrtc(dir, depth = 3) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const library = entries.find((e) => /^libnvrtc\.so(\.\d+)*$/.test(e.name));
  if (library) return path.join(dir, library.name);
  if (depth === 0) return undefined;
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const found = findNvrtc(path.join(dir, entry.name), depth - 1);
    if (found) return found;
  }
  return undefined;
}

module.exports = { cudaDefines, TORCH_CUDA_ARCH_LIST };
