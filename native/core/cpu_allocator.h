#pragma once
// LibTorch's CPU allocator for this package: large tensors in mappings of their own.
//
// glibc serves a block from a mapping of its own only above its mmap threshold, and it
// raises that threshold each time such a block is freed (up to 32 MiB), so from the second
// training step on the large activations come from the heap, which fragments and keeps the
// freed space: a 3D step's peak RSS grew 20-25% over its first steps. This allocator maps
// every CPU tensor of 128 KiB or more on its own and unmaps it when freed, so the process
// holds what its live tensors need; smaller ones come from malloc as before. It also counts
// the bytes of live CPU tensors, and their peak, which the trainer reports.
//
// Only LibTorch's CPU allocations change: Node's own heap keeps glibc's settings.
#include <cstdint>

namespace cover::core {

struct CpuTensorMemory {
  bool installed = false;   // false: LibTorch's default allocator (counts stay 0)
  int64_t liveBytes = 0;    // bytes of CPU tensors alive now
  int64_t peakBytes = 0;    // the most alive at once since the last resetCpuTensorPeak()
  int64_t cachedBytes = 0;  // freed mappings kept for reuse
};

// Makes this allocator LibTorch's CPU allocator for the process, once; later calls do
// nothing. COVER_TORCH_CPU_ALLOCATOR=libtorch in the environment keeps LibTorch's own.
// Tensors allocated before keep their own deleter, so installing late is safe.
void installCpuAllocator();

CpuTensorMemory cpuTensorMemory();

// Starts a new peak from what is alive now.
void resetCpuTensorPeak();

// Returns every cached mapping to the system (when a model is disposed, or on request);
// returns the bytes released.
int64_t releaseCachedCpuMemory();

}  // namespace cover::core
