#pragma once

#include <functional>
#include <map>
#include <string>

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

// Scenario name -> function returning one JSON object (as text).
const std::map<std::string, std::function<std::string()>>& scenarios();

}  // namespace cover::bench
