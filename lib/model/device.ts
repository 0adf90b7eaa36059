/** What the loaded binary's manifest says about its LibTorch. */
interface LibtorchFlavour {
  version: string;
  flavour: string;
  folder: string;
}

/**
 * Fails early, in JS, when a CUDA device is asked of a binary built against a CPU-only
 * LibTorch: the message says what was found and how to get a CUDA build. Whether a GPU is
 * actually present is checked natively when the model is built (on its own thread).
 */
export function assertDeviceSupported(device: string, libtorch: LibtorchFlavour): void {
  if (!device.startsWith('cuda') || libtorch.flavour !== 'cpu') return;
  throw new Error(
    [
      `device '${device}' needs a CUDA build of cover-torch, but this one is built against LibTorch ${libtorch.version} (CPU only) at ${libtorch.folder}.`,
      'Rebuild against a complete CUDA LibTorch (it needs the CUDA toolkit, nvcc, to build the kernels), e.g.',
      "  LIBTORCH=/path/to/libtorch-cuda npm rebuild cover-torch   (an unpacked LibTorch, or python -c 'import torch, os; print(os.path.dirname(torch.__file__))' of a CUDA torch)",
      '  node_modules/cover-torch/scripts/provisionCudaTorch.sh DIR   (torch 2.14 for CUDA 13 with the NVIDIA libraries it needs; a bare --no-deps wheel lacks them)',
      "  LIBTORCH=DIR/torch COVER_TORCH_TORCH_SPEC='torch==2.14.*' npm rebuild cover-torch",
      "or use device: 'cpu' (or 'auto', which takes CUDA only where it exists).",
    ].join('\n'),
  );
}
