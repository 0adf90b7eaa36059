#include "core/runtime_info.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#ifdef COVER_TORCH_CUDA
// The runtime API and the caching allocator's counts alone: ATen/cuda/CUDAContext.h would
// pull in cuBLAS and cuSPARSE headers, which a pip torch keeps in its NVIDIA wheels, not in
// the CUDA toolkit.
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace cover::core {
namespace {

// The shared object that defines at::get_num_threads, i.e. libtorch_cpu as loaded.
std::string libraryDefiningTorchSymbols() {
  Dl_info info{};
  auto symbol = reinterpret_cast<void*>(&at::get_num_threads);
  if (dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

bool isTorchLibrary(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.rfind("libc10.so", 0) == 0 || name.rfind("libc10_cuda.so", 0) == 0 ||
         name.rfind("libtorch.so", 0) == 0 || name.rfind("libtorch_cpu.so", 0) == 0 ||
         name.rfind("libtorch_cuda.so", 0) == 0;
}

// Reads /proc/self/maps (Linux) for every mapped LibTorch file; two copies of libc10 in the
// list means two LibTorch installations were mixed into one process.
std::vector<std::string> mappedTorchLibraries() {
  std::set<std::string> found;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto pathStart = line.find('/');
    if (pathStart == std::string::npos) continue;
    std::string path = line.substr(pathStart);
    if (isTorchLibrary(path)) found.insert(path);
  }
  return {found.begin(), found.end()};
}

std::string parallelBackendName() {
#if AT_PARALLEL_OPENMP
  return "OpenMP";
#elif AT_PARALLEL_NATIVE
  return "native";
#else
  return "unknown";
#endif
}

std::atomic<int> budget{0};       // 0 until the first setNumThreads
std::atomic<int> busyThreads{0};  // threads inside a ThreadShare now

// at::set_num_threads also clears oneDNN's primitive cache: only call it on a change.
void applyOnThisThread(int threads) {
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.torchVersion = TORCH_VERSION;
  info.cudaAvailable = torch::cuda::is_available();
  info.cudaDeviceCount = static_cast<int>(torch::cuda::device_count());
#ifdef COVER_TORCH_CUDA
  for (int device = 0; device < info.cudaDeviceCount; ++device) {
    cudaDeviceProp properties{};
    const bool known = cudaGetDeviceProperties(&properties, device) == cudaSuccess;
    info.cudaDeviceNames.emplace_back(known ? properties.name : "unknown");
  }
#endif
  info.numThreads = at::get_num_threads();
  info.numInteropThreads = at::get_num_interop_threads();
  info.libtorchPath = libraryDefiningTorchSymbols();
  info.loadedTorchLibraries = mappedTorchLibraries();
  info.parallelBackend = parallelBackendName();
  return info;
}

CudaTensorMemory cudaTensorMemory(int device, bool resetPeak) {
#ifdef COVER_TORCH_CUDA
  const int count = static_cast<int>(torch::cuda::device_count());
  TORCH_CHECK(count > 0, "no CUDA device: this LibTorch sees no GPU on this machine");
  TORCH_CHECK(device >= 0 && device < count, "no CUDA device ", device, ": this machine has ",
              count, " (cuda:0", count > 1 ? " to cuda:" + std::to_string(count - 1) : "", ")");
  namespace allocator = c10::cuda::CUDACachingAllocator;
  // Before the process's first CUDA tensor the allocator is not set up (it has no state per
  // device to read) and holds nothing. Setting CUDA up here would cost a context on the GPU.
  if (!allocator::get()->initialized()) return {};
  const auto index = static_cast<c10::DeviceIndex>(device);
  const auto stats = allocator::getDeviceStats(index);
  const size_t aggregate = 0;  // StatType::AGGREGATE (all pools), first in every version
  CudaTensorMemory memory;
  memory.liveBytes = stats.allocated_bytes[aggregate].current;
  memory.peakBytes = stats.allocated_bytes[aggregate].peak;
  memory.reservedBytes = stats.reserved_bytes[aggregate].current;
  if (resetPeak) allocator::resetPeakStats(index);
  return memory;
#else
  (void)device;
  (void)resetPeak;
  TORCH_CHECK(false,
              "CUDA memory needs a CUDA build of cover-torch, but this one is built "
              "against LibTorch ",
              TORCH_VERSION, " (CPU only)");
#endif
}

int threadBudget() {
  const int chosen = budget.load();
  return chosen > 0 ? chosen : at::get_num_threads();
}

void setNumThreads(int numThreads) {
  TORCH_CHECK(numThreads >= 1, "number of threads must be at least 1, got ", numThreads);
  budget.store(numThreads);
  applyOnThisThread(numThreads);
}

ThreadShare::ThreadShare() {
  const int busy = ++busyThreads;
  applyOnThisThread(std::max(1, threadBudget() / busy));
}

ThreadShare::~ThreadShare() { --busyThreads; }

void setDefaultNumThreadsOnce(int numThreads) {
  static std::once_flag applied;
  std::call_once(applied, [numThreads] { setNumThreads(numThreads); });
}

}  // namespace cover::core
