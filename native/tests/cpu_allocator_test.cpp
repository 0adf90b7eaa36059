// The package's CPU allocator (installed by the test runner as by the addon): byte counts,
// reuse of freed mappings, and the bound on what it keeps.
#include "core/cpu_allocator.h"

#include "tests/harness.h"

namespace {

using cover::core::cpuTensorMemory;
using cover::core::releaseCachedCpuMemory;
using cover::core::resetCpuTensorPeak;

constexpr int64_t kMiB = 1024 * 1024;

torch::Tensor floats(int64_t bytes) { return torch::empty({bytes / 4}, torch::kFloat32); }

TEST_CASE("cpu allocator: counts live tensor bytes and their peak, large and small") {
  EXPECT(cpuTensorMemory().installed);
  const int64_t before = cpuTensorMemory().liveBytes;
  auto large = floats(4 * kMiB);
  auto small = floats(256);
  EXPECT(cpuTensorMemory().liveBytes == before + 4 * kMiB + 256);
  resetCpuTensorPeak();
  floats(8 * kMiB).fill_(1.0);  // freed at the end of the statement
  EXPECT(cpuTensorMemory().liveBytes == before + 4 * kMiB + 256);
  EXPECT(cpuTensorMemory().peakBytes == before + 12 * kMiB + 256);
  large = torch::Tensor();
  small = torch::Tensor();
  EXPECT(cpuTensorMemory().liveBytes == before);
  EXPECT(torch::empty({0}).numel() == 0);  // zero bytes allocate nothing
  EXPECT(cpuTensorMemory().liveBytes == before);
}

TEST_CASE("cpu allocator: blocks are aligned and hold their data, through reuse") {
  for (int round = 0; round < 3; ++round) {
    for (const int64_t bytes : {int64_t{64}, int64_t{100 * 1024}, 3 * kMiB + 12}) {
      const auto x = torch::arange(bytes / 4, torch::kInt32);
      EXPECT(reinterpret_cast<uintptr_t>(x.data_ptr()) % 64 == 0);
      const int64_t n = x.numel();
      EXPECT(x.sum().item<int64_t>() == n * (n - 1) / 2);
    }
  }
}

TEST_CASE("cpu allocator: a freed mapping serves the next block of its length") {
  releaseCachedCpuMemory();
  EXPECT(cpuTensorMemory().cachedBytes == 0);
  auto first = floats(4 * kMiB);
  const void* address = first.data_ptr();
  first = torch::Tensor();
  const int64_t cached = cpuTensorMemory().cachedBytes;
  EXPECT(cached >= 4 * kMiB && cached <= 4 * kMiB + 64 * 1024);
  const auto second = floats(4 * kMiB);
  EXPECT(second.data_ptr() == address);
  EXPECT(cpuTensorMemory().cachedBytes == 0);
}

TEST_CASE("cpu allocator: live and cached bytes never exceed the most ever live") {
  releaseCachedCpuMemory();  // the mark restarts from what is alive now
  {
    const auto a = floats(2 * kMiB);
    const auto b = floats(16 * kMiB);
  }
  EXPECT(cpuTensorMemory().cachedBytes >= 18 * kMiB);  // both kept: exactly the mark
  // A block of a new length: keeping both beside it would exceed the mark, so the largest
  // cached mapping is unmapped, and only it.
  auto c = floats(4 * kMiB);
  EXPECT(cpuTensorMemory().cachedBytes >= 2 * kMiB);
  EXPECT(cpuTensorMemory().cachedBytes < 3 * kMiB);
  c = torch::Tensor();
  // A block larger than the mark raises it by its own size only: nothing stays cached.
  auto larger = floats(32 * kMiB);
  EXPECT(cpuTensorMemory().cachedBytes == 0);
  larger = torch::Tensor();
  EXPECT(releaseCachedCpuMemory() >= 32 * kMiB);
  EXPECT(cpuTensorMemory().cachedBytes == 0);
}

}  // namespace
