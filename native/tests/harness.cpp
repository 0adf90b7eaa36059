#include "tests/harness.h"

#include <iostream>

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
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace cover::tests

// --list prints the test names; --run NAME runs one; no arguments runs all.
int main(int argc, char** argv) {
  using cover::tests::registry;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--list") {
    for (const auto& test : registry()) std::cout << test.name << "\n";
    return 0;
  }
  const std::string only = mode == "--run" && argc > 2 ? argv[2] : "";
  int failures = 0, ran = 0;
  for (const auto& test : registry()) {
    if (!only.empty() && test.name != only) continue;
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
