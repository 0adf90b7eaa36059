#include "addon/js_errors.h"

#include <c10/util/Exception.h>

namespace cover::addon {
namespace {

// LibTorch messages can carry internal context lines ("Exception raised from ...") and
// trailing whitespace; a JS user needs the first, human part.
std::string cleanTorchMessage(std::string message) {
  const auto raised = message.find("Exception raised from");
  if (raised != std::string::npos) message.erase(raised);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  return message.empty() ? "LibTorch raised an error without a message" : message;
}

}  // namespace

std::string currentExceptionMessage() {
  try {
    throw;
  } catch (const c10::Error& error) {
    return cleanTorchMessage(error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return "out of memory in native code; try smaller inputs";
  } catch (const std::exception& error) {
    return cleanTorchMessage(error.what());
  } catch (...) {
    return "unknown native error";
  }
}

}  // namespace cover::addon
