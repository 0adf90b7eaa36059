// MoV by runs of positions (cuda/mov_row.h) or one position at a time (cuda/mov_point.h),
// with its autograd function: the CUDA kernels on CUDA tensors, the same functions in a loop
// on CPU tensors. The CPU path is slow and exists so that the kernels' arithmetic is tested
// everywhere; the CPU model uses movFused.
#include <ATen/Parallel.h>

#include "core/mov.h"
#include "core/mov_window.h"
#include "cuda/mov_point.h"
#include "cuda/mov_row.h"

#if defined(COVER_TORCH_CUDA)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/mov_kernels.h"
#endif

namespace cover::core {
namespace {

using mov_point::Shape;

Shape shapeOf(const torch::Tensor& q, int64_t heads, int64_t radius) {
  const bool is3d = q.dim() == 5;
  const int64_t headDim = q.size(1) / heads;
  return Shape{q.size(0),
               heads,
               headDim,
               is3d ? q.size(2) : 1,
               q.size(-2),
               q.size(-1),
               is3d ? 3 : 2,
               static_cast<int>(radius),
               static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)))};
}

float* floats(torch::Tensor& t) { return t.data_ptr<float>(); }
const float* floats(const torch::Tensor& t) { return t.data_ptr<float>(); }

// Calls body(qData, kData) with float32 or bfloat16-bit pointers.
template <typename Body>
void withElements(const torch::Tensor& q, const torch::Tensor& k, Body body) {
  if (q.scalar_type() == torch::kBFloat16) {
    body(reinterpret_cast<const uint16_t*>(q.data_ptr<at::BFloat16>()),
         reinterpret_cast<const uint16_t*>(k.data_ptr<at::BFloat16>()));
  } else {
    body(q.data_ptr<float>(), k.data_ptr<float>());
  }
}

// Runs body(n) for n in [0, count) on the CPU's intra-op threads.
template <typename Body>
void forEachPoint(int64_t count, Body body) {
  at::parallel_for(0, count, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) body(n);
  });
}

// Whether the functions of cuda/mov_row.h serve this call (the kernels decide the same way).
bool byRuns(const Shape& s, MovLoop loop) { return loop == MovLoop::runs && mov_row::covers(s); }

#if defined(COVER_TORCH_CUDA)
cuda::MovInputs inputsOf(const Shape& s, const torch::Tensor& q, const torch::Tensor& k,
                         MovLoop loop) {
  return {s, q.data_ptr(), k.data_ptr(), q.scalar_type() == torch::kBFloat16,
          loop == MovLoop::positions};
}

void check(const char* error, const char* what) {
  TORCH_CHECK(error == nullptr, "the CUDA MoV ", what, " kernel failed: ", error);
}

void* streamOf(const torch::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}
#endif

void requireCudaKernels(const torch::Tensor& q) {
#if !defined(COVER_TORCH_CUDA)
  TORCH_CHECK(!q.is_cuda(),
              "this build of cover-torch has no CUDA kernels (it was built against a CPU "
              "LibTorch); rebuild it against a CUDA LibTorch to run MoV on ",
              q.device());
#endif
}

torch::Tensor runForward(const Shape& s, const torch::Tensor& q, const torch::Tensor& k,
                         MovLoop loop) {
  std::vector<int64_t> sizes{s.batch, s.dims};
  for (int64_t i = 2; i < q.dim(); ++i) sizes.push_back(q.size(i));
  auto out = torch::empty(sizes, q.options().dtype(torch::kFloat32));
  requireCudaKernels(q);
  if (q.is_cuda()) {
#if defined(COVER_TORCH_CUDA)
    const c10::cuda::CUDAGuard guard(q.device());
    check(cuda::launchMovForward(inputsOf(s, q, k, loop), floats(out), streamOf(q)), "forward");
#endif
    return out;
  }
  withElements(q, k, [&](auto qData, auto kData) {
    float* o = floats(out);
    if (byRuns(s, loop)) {
      const int64_t runs = mov_row::runsPerImage(s);
      mov_row::withRadius(s.radius, [&](auto radius) {
        forEachPoint(s.batch * runs, [&](int64_t n) {
          mov_row::forwardRun<decltype(radius)::value>(s, qData, kData, o, n / runs, n % runs,
                                                       false);
        });
      });
      return;
    }
    forEachPoint(s.batch * s.positions(), [&](int64_t n) {
      mov_point::forwardAt(s, qData, kData, o, n / s.positions(), n % s.positions());
    });
  });
  return out;
}

struct Gradients {
  torch::Tensor q, k;  // float32, (B, C, *S)
};

// The backward statistics and both gradients on the CPU, as the CUDA kernels compute them.
template <typename T>
void backwardOnCpu(const Shape& s, MovLoop loop, const T* q, const T* k, const float* grad,
                   float* logSum, float* gradDotExpected, float* gradQ, float* gradK) {
  if (byRuns(s, loop)) {
    const int64_t runs = mov_row::runsPerImage(s);
    mov_row::withRadius(s.radius, [&](auto radius) {
      constexpr int R = decltype(radius)::value;
      // n runs over (b, j, run), runs fastest, as in the CUDA kernels.
      forEachPoint(s.batch * s.heads * runs, [&](int64_t n) {
        const int64_t b = n / (s.heads * runs), j = (n / runs) % s.heads, r = n % runs;
        mov_row::backwardStatsRun<R>(s, q, k, grad, logSum, gradDotExpected, b, j, r, false);
      });
      forEachPoint(s.batch * s.heads * runs, [&](int64_t n) {
        const int64_t b = n / (s.heads * runs), j = (n / runs) % s.heads, r = n % runs;
        mov_row::gradRun<R, false>(s, q, k, grad, logSum, gradDotExpected, gradQ, b, j, r, false);
        mov_row::gradRun<R, true>(s, q, k, grad, logSum, gradDotExpected, gradK, b, j, r, false);
      });
    });
    return;
  }
  const int64_t P = s.positions();
  const int64_t count = s.batch * s.heads * P;
  // n runs over (b, j, p), p fastest, as in the CUDA kernels.
  forEachPoint(count, [&](int64_t n) {
    mov_point::backwardStatsAt(s, q, k, grad, logSum, gradDotExpected, n / (s.heads * P),
                               (n / P) % s.heads, n % P);
  });
  forEachPoint(count, [&](int64_t n) {
    const int64_t b = n / (s.heads * P), j = (n / P) % s.heads, p = n % P;
    mov_point::gradAt<false>(s, q, k, grad, logSum, gradDotExpected, gradQ, b, j, p);
    mov_point::gradAt<true>(s, q, k, grad, logSum, gradDotExpected, gradK, b, j, p);
  });
}

Gradients runBackward(const Shape& s, MovLoop loop, const torch::Tensor& q, const torch::Tensor& k,
                      const torch::Tensor& grad) {
  std::vector<int64_t> statSizes{s.batch, s.heads};
  for (int64_t i = 2; i < q.dim(); ++i) statSizes.push_back(q.size(i));
  const auto floatOptions = q.options().dtype(torch::kFloat32);
  auto logSum = torch::empty(statSizes, floatOptions);
  auto gradDotExpected = torch::empty(statSizes, floatOptions);
  Gradients out{torch::empty(q.sizes(), floatOptions), torch::empty(k.sizes(), floatOptions)};
  requireCudaKernels(q);
  if (q.is_cuda()) {
#if defined(COVER_TORCH_CUDA)
    const c10::cuda::CUDAGuard guard(q.device());
    const auto in = inputsOf(s, q, k, loop);
    void* stream = streamOf(q);
    check(cuda::launchMovBackwardStats(in, floats(grad), floats(logSum), floats(gradDotExpected),
                                       stream),
          "backward statistics");
    check(cuda::launchMovGradQ(in, floats(grad), floats(logSum), floats(gradDotExpected),
                               floats(out.q), stream),
          "q gradient");
    check(cuda::launchMovGradK(in, floats(grad), floats(logSum), floats(gradDotExpected),
                               floats(out.k), stream),
          "k gradient");
#endif
    return out;
  }
  withElements(q, k, [&](auto qData, auto kData) {
    backwardOnCpu(s, loop, qData, kData, floats(grad), floats(logSum), floats(gradDotExpected),
                  floats(out.q), floats(out.k));
  });
  return out;
}

class PointwiseMovFunction : public torch::autograd::Function<PointwiseMovFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, int64_t heads, int64_t radius,
                               MovLoop loop) {
    const auto qc = q.contiguous();
    const auto kc = k.contiguous();
    ctx->save_for_backward({qc, kc});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["radius"] = radius;
    ctx->saved_data["loop"] = static_cast<int64_t>(loop);
    return runForward(shapeOf(qc, heads, radius), qc, kc, loop).to(q.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& q = saved[0];
    const auto& k = saved[1];
    const auto s = shapeOf(q, ctx->saved_data["heads"].toInt(), ctx->saved_data["radius"].toInt());
    const auto grad = grads[0].to(torch::kFloat32).contiguous();
    const auto loop = static_cast<MovLoop>(ctx->saved_data["loop"].toInt());
    const auto gradients = runBackward(s, loop, q, k, grad);
    return {gradients.q.to(q.scalar_type()), gradients.k.to(k.scalar_type()), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor movPointwise(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                           int64_t radius, MovLoop loop) {
  checkMovInputs(q, k, heads, radius);
  TORCH_CHECK(q.scalar_type() == torch::kFloat32 || q.scalar_type() == torch::kBFloat16,
              "the pointwise MoV takes float32 or bfloat16 inputs; got ", q.scalar_type());
  TORCH_CHECK(q.device() == k.device(), "MoV expects q and k on one device, got ", q.device(),
              " and ", k.device());
  return PointwiseMovFunction::apply(q, k, heads, radius, loop);
}

bool movCudaKernelsBuilt() {
#if defined(COVER_TORCH_CUDA)
  return true;
#else
  return false;
#endif
}

}  // namespace cover::core
