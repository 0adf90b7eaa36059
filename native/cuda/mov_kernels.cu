// CUDA MoV. Windows of radius 1..4: one thread per (image, run of four positions along W) in
// forward and per (image, head, run) in backward, running the functions of mov_row.h with
// the radius as a template parameter. Wider windows, or when asked: one thread per position,
// running those of mov_point.h. Nothing per window offset is stored: forward keeps only the
// output, backward keeps two floats per head and position and recomputes the logits.
#include <cuda_runtime.h>

#include "cuda/mov_kernels.h"
#include "cuda/mov_row.h"

namespace cover::cuda {
namespace {

using mov_point::Shape;

constexpr int kThreads = 256;
// The run kernels hold a window row of logits per position in registers (100-180 per
// thread): smaller blocks let several share a multiprocessor.
constexpr int kRowThreads = 128;

int blocksFor(int64_t work, int threads = kThreads) {
  // Grid-stride loops cover any remainder; 65535 blocks keep every SM busy.
  const int64_t blocks = (work + threads - 1) / threads;
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

// The same, four positions per thread. vectorLoads: W is a multiple of 4 and q, k are
// aligned for 4-wide loads.
template <int R, typename T>
__global__ void forwardRowsKernel(Shape s, const T* q, const T* k, float* out, bool vectorLoads) {
  const int64_t runs = mov_row::runsPerImage(s);
  gridStride(s.batch * runs, [&](int64_t n) {
    mov_row::forwardRun<R>(s, q, k, out, n / runs, n % runs, vectorLoads);
  });
}

template <int R, typename T>
__global__ void statsRowsKernel(Shape s, const T* q, const T* k, const float* grad, float* logSum,
                                float* gradDotExpected, bool vectorLoads) {
  const int64_t runs = mov_row::runsPerImage(s);
  gridStride(s.batch * s.heads * runs, [&](int64_t n) {
    mov_row::backwardStatsRun<R>(s, q, k, grad, logSum, gradDotExpected, n / (s.heads * runs),
                                 (n / runs) % s.heads, n % runs, vectorLoads);
  });
}

template <int R, bool forKeys, typename T>
__global__ void gradRowsKernel(Shape s, const T* q, const T* k, const float* grad,
                               const float* logSum, const float* gradDotExpected, float* out,
                               bool vectorLoads) {
  const int64_t runs = mov_row::runsPerImage(s);
  gridStride(s.batch * s.heads * runs, [&](int64_t n) {
    mov_row::gradRun<R, forKeys>(s, q, k, grad, logSum, gradDotExpected, out, n / (s.heads * runs),
                                 (n / runs) % s.heads, n % runs, vectorLoads);
  });
}

bool byRows(const MovInputs& in) { return !in.perPosition && mov_row::covers(in.shape); }

bool vectorLoadsFor(const MovInputs& in) {
  const uintptr_t bytes = in.bfloat16 ? 8 : 16;  // four elements
  return in.shape.width % mov_row::kRun == 0 && reinterpret_cast<uintptr_t>(in.q) % bytes == 0 &&
         reinterpret_cast<uintptr_t>(in.k) % bytes == 0;
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
  const auto cudaStream = static_cast<cudaStream_t>(stream);
  if (byRows(in)) {
    return withType(in, [&](auto q, auto k) {
      mov_row::withRadius(s.radius, [&](auto radius) {
        forwardRowsKernel<decltype(radius)::value>
            <<<blocksFor(s.batch * mov_row::runsPerImage(s), kRowThreads), kRowThreads, 0,
               cudaStream>>>(s, q, k, out, vectorLoadsFor(in));
      });
    });
  }
  return withType(in, [&](auto q, auto k) {
    forwardKernel<<<blocksFor(s.batch * s.positions()), kThreads, 0,
                    static_cast<cudaStream_t>(stream)>>>(s, q, k, out);
  });
}

const char* launchMovBackwardStats(const MovInputs& in, const float* grad, float* logSum,
                                   float* gradDotExpected, void* stream) {
  const auto s = in.shape;
  if (byRows(in)) {
    return withType(in, [&](auto q, auto k) {
      mov_row::withRadius(s.radius, [&](auto radius) {
        statsRowsKernel<decltype(radius)::value>
            <<<blocksFor(s.batch * s.heads * mov_row::runsPerImage(s), kRowThreads), kRowThreads, 0,
               static_cast<cudaStream_t>(stream)>>>(s, q, k, grad, logSum, gradDotExpected,
                                                    vectorLoadsFor(in));
      });
    });
  }
  return withType(in, [&](auto q, auto k) {
    statsKernel<<<blocksFor(s.batch * s.heads * s.positions()), kThreads, 0,
                  static_cast<cudaStream_t>(stream)>>>(s, q, k, grad, logSum, gradDotExpected);
  });
}

namespace {

template <bool forKeys>
const char* launchGrad(const MovInputs& in, const float* grad, const float* logSum,
                       const float* gradDotExpected, float* out, void* stream) {
  const auto s = in.shape;
  const auto cudaStream = static_cast<cudaStream_t>(stream);
  if (byRows(in)) {
    return withType(in, [&](auto q, auto k) {
      mov_row::withRadius(s.radius, [&](auto radius) {
        gradRowsKernel<decltype(radius)::value, forKeys>
            <<<blocksFor(s.batch * s.heads * mov_row::runsPerImage(s), kRowThreads), kRowThreads, 0,
               cudaStream>>>(s, q, k, grad, logSum, gradDotExpected, out, vectorLoadsFor(in));
      });
    });
  }
  return withType(in, [&](auto q, auto k) {
    gradKernel<forKeys><<<blocksFor(s.batch * s.heads * s.positions()), kThreads, 0, cudaStream>>>(
        s, q, k, grad, logSum, gradDotExpected, out);
  });
}

}  // namespace

const char* launchMovGradQ(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradQ, void* stream) {
  return launchGrad<false>(in, grad, logSum, gradDotExpected, gradQ, stream);
}

const char* launchMovGradK(const MovInputs& in, const float* grad, const float* logSum,
                           const float* gradDotExpected, float* gradK, void* stream) {
  return launchGrad<true>(in, grad, logSum, gradDotExpected, gradK, stream);
}

}  // namespace cover::cuda
