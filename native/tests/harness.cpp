#include "tests/harness.h"

#include <algorithm>
#include <iostream>

#include "core/cpu_allocator.h"

namespace cover::tests {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> cases;
  return cases;
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) {
    std::ostringstream message;
    message << "shapes differ: " << a.sizes() << " vs " << b.sizes();
    throw Failure(message.str());
  }
  if (a.numel() == 0) return 0.0;
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64))
      .abs()
      .max()
      .item<double>();
}

double maxRelativeDiff(const torch::Tensor& actual, const torch::Tensor& expected) {
  const double scale =
      expected.numel() == 0 ? 0.0 : expected.to(torch::kFloat64).abs().max().item<double>();
  return maxAbsDiff(actual, expected) / std::max(scale, 1e-12);
}

void requireCuda() {
  if (!torch::cuda::is_available()) {
    throw Failure("needs a CUDA device, and this machine or LibTorch has none");
  }
}

}  // namespace cover::tests

// --list prints the test names; --run NAME runs one; --cuda-available prints yes or no;
// --skip-cuda runs all but the "cuda: " tests; no arguments runs all.
int main(int argc, char** argv) {
  using cover::tests::registry;
  cover::core::installCpuAllocator();  // as the addon does
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--list") {
    for (const auto& test : registry()) std::cout << test.name << "\n";
    return 0;
  }
  if (mode == "--cuda-available") {
    std::cout << (torch::cuda::is_available() ? "yes" : "no") << "\n";
    return 0;
  }
  const std::string only = mode == "--run" && argc > 2 ? argv[2] : "";
  const bool skipCuda = mode == "--skip-cuda";
  int failures = 0, ran = 0;
  for (const auto& test : registry()) {
    if (!only.empty() && test.name != only) continue;
    if (skipCuda && test.name.rfind("cuda: ", 0) == 0) continue;
    ++ran;
    try {
      torch::manual_seed(0);
      test.body();
      std::cout << "ok   " << test.name << "\n";
    } catch (const std::exception& error) {
      ++failures;
      std::cout << "FAIL " << test.name << "\n  " << error.what() << "\n";
    }
  }
  if (ran == 0) {
    std::cout << "no test named " << only << "\n";
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
