// Launches of the CUDA MoV kernels (mov_kernels.cu). No LibTorch here, so that nvcc compiles
// the kernels in seconds; core/mov_pointwise.cpp owns the tensors and calls these.
#pragma once

#include <cstdint>

#include "cuda/mov_point.h"

namespace cover::cuda {

// The inputs of every launch: q and k (B, C, *S), float32 or bfloat16 bits, on the device.
// Windows of radius 1..4 run four positions per thread (cuda/mov_row.h) unless
// `perPosition` asks for one position per thread (cuda/mov_point.h), which radius 0 and
// 5..8 use.
struct MovInputs {
  mov_point::Shape shape;
  const void* q;
  const void* k;
  bool bfloat16;
  bool perPosition;
};

// Each returns an error text, or nullptr when the launch succeeded. `stream` is a
// cudaStream_t.
const char* launchMovForward(const MovInputs& in, float* out, void* stream);
const char* launchMovBackwardStats(const MovInputs& in, const float* grad, float* logSum,
                                   float* gradDotExpected, void* stream);
const char* launchMovGradQ(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradQ, void* stream);
const char* launchMovGradK(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradK, void* stream);

}  // namespace cover::cuda
