#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cover::bench {

struct Measurement {
  double medianMs;
  double peakExtraMb;  // peak RSS of the first run above the RSS before it
};

double nowMs();
void resetPeakMemory();
double peakMemoryMb();
double currentMemoryMb();
// Runs once (measuring peak extra memory), then `repeats` times for the median time.
Measurement measure(const std::function<void()>& run, int repeats);

// One JSON object: the strings, then the numbers (non-finite ones as null, which JSON has
// for them).
std::string jsonObject(const std::vector<std::pair<std::string, double>>& numbers,
                       const std::vector<std::pair<std::string, std::string>>& strings);

// Scenario name -> function returning one JSON object (as text).
const std::map<std::string, std::function<std::string()>>& scenarios();

}  // namespace cover::bench
