// GPU scenarios (names start with "cuda-"), present in builds against a CUDA LibTorch.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace cover::bench {

// Empty without CUDA kernels in the build.
std::map<std::string, std::function<std::string()>> cudaScenarios();

}  // namespace cover::bench
