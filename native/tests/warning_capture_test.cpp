// LibTorch warnings raised while a WarningCapture is held are kept (and only then).
#include "core/warning_capture.h"

#include "tests/harness.h"

namespace {

using cover::core::takeCapturedWarnings;
using cover::core::WarningCapture;

TEST_CASE("warnings: kept while captured, in order, and drained once") {
  takeCapturedWarnings();  // start empty
  {
    const WarningCapture capture;
    TORCH_WARN("first ", 1);
    TORCH_WARN("second");
  }
  TORCH_WARN("outside any capture: printed by LibTorch, not kept");
  const auto taken = takeCapturedWarnings();
  EXPECT(taken.messages.size() == 2);
  EXPECT(taken.messages[0] == "first 1");
  EXPECT(taken.messages[1] == "second");
  EXPECT(taken.dropped == 0);
  EXPECT(takeCapturedWarnings().messages.empty());
}

TEST_CASE("warnings: the buffer keeps the newest 256 and counts the rest") {
  takeCapturedWarnings();
  {
    const WarningCapture capture;
    for (int i = 0; i < 300; ++i) TORCH_WARN("warning ", i);
  }
  const auto taken = takeCapturedWarnings();
  EXPECT(taken.messages.size() == 256);
  EXPECT(taken.messages.front() == "warning 44");
  EXPECT(taken.dropped == 44);
}

}  // namespace
