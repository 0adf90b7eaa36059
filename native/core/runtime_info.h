// What the process's LibTorch is and how it is set up: version, CUDA, threads, and which
// shared library files are actually mapped (to prove that only one LibTorch is loaded).
#pragma once

#include <string>
#include <vector>

namespace cover::core {

struct RuntimeInfo {
  std::string torchVersion;  // compile-time TORCH_VERSION of the headers built against
  bool cudaAvailable = false;
  int cudaDeviceCount = 0;
  std::vector<std::string> cudaDeviceNames;  // filled only in builds against CUDA LibTorch
  int numThreads = 0;                        // LibTorch intra-op threads
  int numInteropThreads = 0;                 // LibTorch inter-op threads
  std::string libtorchPath;  // file that holds LibTorch's CPU kernels, as mapped now
  std::vector<std::string> loadedTorchLibraries;  // every mapped libc10/libtorch* file
  std::string parallelBackend;                    // e.g. "OpenMP"
};

RuntimeInfo runtimeInfo();

// Sets LibTorch's intra-op thread count for the whole process (it is process-wide state).
void setNumThreads(int numThreads);

// Applies the default intra-op thread count the first time any environment (main thread,
// worker, jest context) loads the addon; later calls do nothing, so a worker that loads
// the addon never undoes a count the application chose.
void setDefaultNumThreadsOnce(int numThreads);

}  // namespace cover::core
