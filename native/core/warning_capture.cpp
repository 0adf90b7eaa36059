#include "core/warning_capture.h"

#include <deque>
#include <mutex>

namespace cover::core {
namespace {

// Bounded, so an application that never drains the warnings does not grow without end.
constexpr size_t kMaxKept = 256;

std::mutex keptMutex;
std::deque<std::string> kept;
size_t dropped = 0;

class KeepingHandler : public c10::WarningHandler {
 public:
  void process(const c10::Warning& warning) override {
    std::lock_guard<std::mutex> lock(keptMutex);
    if (kept.size() == kMaxKept) {
      kept.pop_front();
      ++dropped;
    }
    kept.push_back(warning.msg());
  }
};

KeepingHandler handler;

}  // namespace

WarningCapture::WarningCapture() : guard_(&handler) {}

CapturedWarnings takeCapturedWarnings() {
  std::lock_guard<std::mutex> lock(keptMutex);
  CapturedWarnings result{{kept.begin(), kept.end()}, dropped};
  kept.clear();
  dropped = 0;
  return result;
}

}  // namespace cover::core
