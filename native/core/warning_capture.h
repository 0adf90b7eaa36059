// LibTorch's own warnings (TORCH_WARN), kept for the application's logger instead of being
// printed to stderr. LibTorch's warning handler is per thread: each piece of work on a
// worker thread holds a WarningCapture, and the JS side drains what was kept.
#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <string>
#include <vector>

namespace cover::core {

class WarningCapture {
 public:
  WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;

 private:
  c10::WarningUtils::WarningHandlerGuard guard_;
};

struct CapturedWarnings {
  std::vector<std::string> messages;  // oldest first
  size_t dropped = 0;                 // older ones that did not fit in the buffer
};

// Everything kept since the last call (process-wide, from every thread), and clears it.
CapturedWarnings takeCapturedWarnings();

}  // namespace cover::core
