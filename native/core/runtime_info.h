// What the process's LibTorch is and how it is set up: version, CUDA, threads, and which
// shared library files are actually mapped (to prove that only one LibTorch is loaded).
#pragma once

#include <cstdint>
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

// Bytes of CUDA tensors on one device, as LibTorch's caching allocator counts them: alive
// now, the most alive at once since the last reset (or the process's start), and reserved
// from the driver (alive plus cached for reuse).
struct CudaTensorMemory {
  int64_t liveBytes = 0;
  int64_t peakBytes = 0;
  int64_t reservedBytes = 0;
};

// Reads the counts of CUDA device `device` (all 0 before the process's first CUDA tensor),
// then restarts the peak from what is alive when `resetPeak`. Throws a c10::Error that says why
// where there is no such device (a CPU build, no GPU, an index past the last device).
CudaTensorMemory cudaTensorMemory(int device, bool resetPeak);

// The process's intra-op thread budget: what setNumThreads() chose. LibTorch's count is
// per calling thread (an OpenMP team belongs to the thread that forks it), so every thread
// that runs LibTorch work applies the budget itself: see ThreadShare.
int threadBudget();

// Sets the budget and applies it on the calling thread. Work that starts afterwards on any
// executor uses it.
void setNumThreads(int numThreads);

// For the duration of one piece of work on a worker thread: counts the thread as busy and
// sets its intra-op count to its share of the budget (budget / busy threads, at least 1),
// so two models stepping at once split the cores instead of oversubscribing them.
class ThreadShare {
 public:
  ThreadShare();
  ~ThreadShare();
  ThreadShare(const ThreadShare&) = delete;
  ThreadShare& operator=(const ThreadShare&) = delete;
};

// Applies the default intra-op thread count the first time any environment (main thread,
// worker, jest context) loads the addon; later calls do nothing, so a worker that loads
// the addon never undoes a count the application chose.
void setDefaultNumThreadsOnce(int numThreads);

}  // namespace cover::core
