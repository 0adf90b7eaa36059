#include "core/cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/alignment.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cover::core {
namespace {

// Blocks this large or larger get a mapping of their own (glibc's initial threshold).
constexpr size_t kMappedBlockBytes = 128 * 1024;
// Mappings this large are offered transparent huge pages: 512x fewer page faults.
constexpr size_t kHugePageBytes = 2 * 1024 * 1024;
// Each block starts with a header holding its size (which also says whether it is mapped);
// the data after it keeps c10's alignment.
constexpr size_t kHeaderBytes = c10::gAlignment;
static_assert(kHeaderBytes >= sizeof(size_t), "the header holds the size");

std::atomic<int64_t> liveBytes{0};
std::atomic<int64_t> peakBytes{0};
std::atomic<bool> installed{false};

size_t mappedLength(size_t bytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + kHeaderBytes + page - 1) / page * page;
}

// Freed mappings kept for reuse by a later block of the same length: a training step
// allocates the same shapes every step, and a fresh mapping costs page faults and zeroing
// (2D steps ran 35% slower without reuse). The cache never lets the mappings held (live and
// cached) exceed the most ever live at once: a miss first unmaps cached blocks to make room.
// So the process holds at most its peak of live tensors, without glibc's fragmentation.
class MappingCache {
 public:
  void* take(size_t length) {
    std::vector<std::pair<size_t, void*>> evicted;
    void* reused = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_ += length;
      mostLive_ = std::max(mostLive_, live_);
      const auto found = cached_.find(length);
      if (found != cached_.end()) {
        reused = found->second;
        cached_.erase(found);
        cachedBytes_ -= length;
      } else {
        // Largest first: fewest unmaps to make room.
        while (cachedBytes_ > 0 && live_ + cachedBytes_ > mostLive_) {
          const auto largest = std::prev(cached_.end());
          evicted.push_back(*largest);
          cachedBytes_ -= largest->first;
          cached_.erase(largest);
        }
      }
    }
    for (const auto& [evictedLength, base] : evicted) munmap(base, evictedLength);
    if (reused != nullptr) return reused;
    void* base = map(length);
    if (base == nullptr && unmapAll() > 0) base = map(length);
    if (base == nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_ -= length;
    }
    return base;
  }

  void give(void* base, size_t length) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ -= length;
    cached_.emplace(length, base);
    cachedBytes_ += length;
  }

  // Unmaps every cached block and restarts the mark from what is live now; returns the bytes
  // unmapped.
  size_t unmapAll() {
    std::multimap<size_t, void*> cached;
    size_t bytes = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cached.swap(cached_);
      bytes = cachedBytes_;
      cachedBytes_ = 0;
      mostLive_ = live_;
    }
    for (const auto& [length, base] : cached) munmap(base, length);
    return bytes;
  }

  size_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cachedBytes_;
  }

 private:
  static void* map(size_t length) {
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    if (length >= kHugePageBytes) madvise(base, length, MADV_HUGEPAGE);
    return base;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> cached_;  // length -> mapping
  size_t cachedBytes_ = 0;
  size_t live_ = 0;      // bytes of mappings in use
  size_t mostLive_ = 0;  // the most ever in use at once (since the last unmapAll)
};

MappingCache& mappingCache() {
  static auto* cache = new MappingCache();  // never destroyed: tensors may outlive statics
  return *cache;
}

void count(int64_t delta, void* data) {
  const int64_t now = liveBytes.fetch_add(delta) + delta;
  int64_t peak = peakBytes.load();
  while (now > peak && !peakBytes.compare_exchange_weak(peak, now)) {
  }
  if (c10::memoryProfilingEnabled()) {
    c10::reportMemoryUsageToProfiler(data, delta, now, now, c10::Device(c10::DeviceType::CPU));
  }
}

void freeBlock(void* data) {
  if (data == nullptr) return;
  char* base = static_cast<char*>(data) - kHeaderBytes;
  size_t bytes = 0;
  std::memcpy(&bytes, base, sizeof bytes);
  count(-static_cast<int64_t>(bytes), data);
  if (bytes >= kMappedBlockBytes) {
    mappingCache().give(base, mappedLength(bytes));
  } else {
    std::free(base);
  }
}

class CpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (bytes == 0) return {nullptr, nullptr, &freeBlock, cpu};
    const bool mapped = bytes >= kMappedBlockBytes;
    void* base = nullptr;
    if (mapped) {
      base = mappingCache().take(mappedLength(bytes));
    } else if (posix_memalign(&base, c10::gAlignment, bytes + kHeaderBytes) != 0) {
      base = nullptr;
    }
    TORCH_CHECK_WITH(OutOfMemoryError, base != nullptr, "out of CPU memory: could not allocate ",
                     bytes, " bytes for a tensor (", liveBytes.load(),
                     " bytes of tensors are alive)");
    std::memcpy(base, &bytes, sizeof bytes);
    void* data = static_cast<char*>(base) + kHeaderBytes;
    count(static_cast<int64_t>(bytes), data);
    return {data, data, &freeBlock, cpu};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &freeBlock; }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

}  // namespace

void installCpuAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* choice = std::getenv("COVER_TORCH_CPU_ALLOCATOR");
    if (choice != nullptr && std::string(choice) == "libtorch") return;
    static CpuAllocator allocator;
    // Priority 1 wins over LibTorch's default (0) and leaves room for a deliberate override.
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
    installed = c10::GetCPUAllocator() == &allocator;
  });
}

CpuTensorMemory cpuTensorMemory() {
  return CpuTensorMemory{installed.load(), liveBytes.load(), peakBytes.load(),
                         static_cast<int64_t>(mappingCache().cachedBytes())};
}

void resetCpuTensorPeak() { peakBytes.store(liveBytes.load()); }

int64_t releaseCachedCpuMemory() { return static_cast<int64_t>(mappingCache().unmapAll()); }

}  // namespace cover::core
