// CUDA MoV: one thread per (image, position) in forward and per (image, head, position) in
// backward, each running the per-position functions of mov_point.h. Nothing per window
// offset is stored: forward keeps only the output, backward keeps two floats per head and
// position and recomputes the logits.
#include <cuda_runtime.h>

#include "cuda/mov_kernels.h"

namespace cover::cuda {
namespace {

using mov_point::Shape;

constexpr int kThreads = 256;

int blocksFor(int64_t work) {
  // Grid-stride loops cover any remainder; 65535 x 256 threads keep every SM busy.
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

// Runs body(n) for n in [0, work) over the whole grid.
template <typename Body>
__device__ void gridStride(int64_t work, Body body) {
  for (int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; n < work;
       n += int64_t(gridDim.x) * blockDim.x) {
    body(n);
  }
}

template <typename T>
__global__ void forwardKernel(Shape s, const T* q, const T* k, float* out) {
  const int64_t P = s.positions();
  gridStride(s.batch * P, [&](int64_t n) { mov_point::forwardAt(s, q, k, out, n / P, n % P); });
}

// Backward kernels: n runs over (b, j, p) with p fastest, so neighbouring threads read
// neighbouring voxels.
template <typename T>
__global__ void statsKernel(Shape s, const T* q, const T* k, const float* grad, float* logSum,
                            float* gradDotExpected) {
  const int64_t P = s.positions();
  gridStride(s.batch * s.heads * P, [&](int64_t n) {
    mov_point::backwardStatsAt(s, q, k, grad, logSum, gradDotExpected, n / (s.heads * P),
                               (n / P) % s.heads, n % P);
  });
}

template <bool forKeys, typename T>
__global__ void gradKernel(Shape s, const T* q, const T* k, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* out) {
  const int64_t P = s.positions();
  gridStride(s.batch * s.heads * P, [&](int64_t n) {
    mov_point::gradAt<forKeys>(s, q, k, grad, logSum, gradDotExpected, out, n / (s.heads * P),
                               (n / P) % s.heads, n % P);
  });
}

const char* lastError() {
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

// Calls `launch` with q and k as their element type.
template <typename Launch>
const char* withType(const MovInputs& in, Launch launch) {
  if (in.bfloat16) {
    launch(static_cast<const uint16_t*>(in.q), static_cast<const uint16_t*>(in.k));
  } else {
    launch(static_cast<const float*>(in.q), static_cast<const float*>(in.k));
  }
  return lastError();
}

}  // namespace

const char* launchMovForward(const MovInputs& in, float* out, void* stream) {
  const auto s = in.shape;
  return withType(in, [&](auto q, auto k) {
    forwardKernel<<<blocksFor(s.batch * s.positions()), kThreads, 0,
                    static_cast<cudaStream_t>(stream)>>>(s, q, k, out);
  });
}

const char* launchMovBackwardStats(const MovInputs& in, const float* grad, float* logSum,
                                   float* gradDotExpected, void* stream) {
  const auto s = in.shape;
  return withType(in, [&](auto q, auto k) {
    statsKernel<<<blocksFor(s.batch * s.heads * s.positions()), kThreads, 0,
                  static_cast<cudaStream_t>(stream)>>>(s, q, k, grad, logSum, gradDotExpected);
  });
}

const char* launchMovGradQ(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradQ, void* stream) {
  const auto s = in.shape;
  return withType(in, [&](auto q, auto k) {
    gradKernel<false>
        <<<blocksFor(s.batch * s.heads * s.positions()), kThreads, 0,
           static_cast<cudaStream_t>(stream)>>>(s, q, k, grad, logSum, gradDotExpected, gradQ);
  });
}

const char* launchMovGradK(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradK, void* stream) {
  const auto s = in.shape;
  return withType(in, [&](auto q, auto k) {
    gradKernel<true>
        <<<blocksFor(s.batch * s.heads * s.positions()), kThreads, 0,
           static_cast<cudaStream_t>(stream)>>>(s, q, k, grad, logSum, gradDotExpected, gradK);
  });
}

}  // namespace cover::cuda
