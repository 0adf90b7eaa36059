// Benchmark scenarios for the core library, one per process (bench/run.js starts each in a
// fresh process so peak-memory figures do not leak between scenarios).
//   cover_torch_bench --list            names of the scenarios
//   cover_torch_bench <scenario>        runs one, prints one JSON line
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "bench/scenarios.h"
#include "core/cpu_allocator.h"

namespace cover::bench {

double nowMs() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

namespace {

int64_t statusKb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

}  // namespace

void resetPeakMemory() { std::ofstream("/proc/self/clear_refs") << "5"; }

double peakMemoryMb() { return static_cast<double>(statusKb("VmHWM")) / 1024.0; }
double currentMemoryMb() { return static_cast<double>(statusKb("VmRSS")) / 1024.0; }

std::string jsonObject(const std::vector<std::pair<std::string, double>>& numbers,
                       const std::vector<std::pair<std::string, std::string>>& strings) {
  std::ostringstream out;
  out << "{";
  const char* separator = "";
  for (const auto& [key, value] : strings) {
    out << separator << "\"" << key << "\":\"" << value << "\"";
    separator = ",";
  }
  for (const auto& [key, value] : numbers) {
    out << separator << "\"" << key << "\":";
    if (std::isfinite(value)) {
      out << value;
    } else {
      out << "null";
    }
    separator = ",";
  }
  out << "}";
  return out.str();
}

Measurement measure(const std::function<void()>& run, int repeats) {
  // Peak memory of the first run, above what the process held before it. (Freed memory of
  // earlier runs could otherwise hide inside the baseline.)
  const double before = currentMemoryMb();
  resetPeakMemory();
  run();
  const double peakExtra = peakMemoryMb() - before;
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const double start = nowMs();
    run();
    times.push_back(nowMs() - start);
  }
  std::sort(times.begin(), times.end());
  return Measurement{times[times.size() / 2], peakExtra};
}

}  // namespace cover::bench

int main(int argc, char** argv) {
  const auto& scenarios = cover::bench::scenarios();
  cover::core::installCpuAllocator();  // as the addon does
  const std::string name = argc > 1 ? argv[1] : "--list";
  if (name == "--list") {
    for (const auto& [key, _] : scenarios) std::cout << key << "\n";
    return 0;
  }
  const auto found = scenarios.find(name);
  if (found == scenarios.end()) {
    std::cerr << "unknown scenario " << name << "; --list shows them\n";
    return 2;
  }
  try {
    std::cout << found->second() << std::endl;
  } catch (const c10::Error& error) {
    std::cerr << error.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
