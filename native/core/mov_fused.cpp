// Fused CPU MoV. Per position and head it computes the window's logits into a small stack
// buffer, takes the softmax expectation and writes n numbers: memory stays O(input), not
// O(window x input) as in the reference. Backward recomputes the logits.
//
// Layout inside the kernel is channels-last with heads split out, (B, D, H, W, J, Dh), so
// each dot product runs over Dh contiguous values. 2D inputs run as D = 1.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/mov.h"
#include "core/mov_window.h"

namespace cover::core {
namespace {

constexpr int64_t kMaxWindow = 17 * 17 * 17;  // radius 8 in 3D

struct Geometry {
  int64_t batch, depth, height, width, heads, headDim, dims;
  int64_t positions() const { return depth * height * width; }
};

// (B, C, *S) -> (B, D, H, W, J, Dh) contiguous, with channel c = d * J + j.
torch::Tensor toKernelLayout(const torch::Tensor& x, const Geometry& g) {
  auto grouped = x.reshape({g.batch, g.headDim, g.heads, g.depth, g.height, g.width});
  return grouped.permute({0, 3, 4, 5, 2, 1}).contiguous();
}

// Inverse of toKernelLayout, back to (B, C, *S) with the input's spatial rank.
torch::Tensor fromKernelLayout(const torch::Tensor& x, const Geometry& g, at::IntArrayRef sizes) {
  return x.permute({0, 5, 4, 1, 2, 3}).reshape(sizes).contiguous();
}

Geometry geometryOf(const torch::Tensor& q, int64_t heads) {
  const bool is3d = q.dim() == 5;
  return Geometry{q.size(0), is3d ? q.size(2) : 1, q.size(-2),  q.size(-1),
                  heads,     q.size(1) / heads,    is3d ? 3 : 2};
}

template <typename scalar_t>
inline scalar_t dot(const scalar_t* a, const scalar_t* b, int64_t n) {
  scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// exp(x) for x <= 0 (logits minus their maximum), branch-free so that loops over the window
// vectorise: x = n ln2 + r, exp(r) by Cephes' expf polynomial (about 1 ulp), 2^n by
// building the float's exponent. Arguments below -87 give ~1e-38 instead of less.
inline float expNonPositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = static_cast<float>(static_cast<int32_t>(x * 1.44269504088896341f - 0.5f));
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

inline double expNonPositive(double x) { return std::exp(x); }  // float64 is for checks

// Window offsets with the flat element stride of each, for one geometry.
template <typename scalar_t>
struct Window {
  std::vector<Offset> offsets;
  std::vector<int64_t> strides;         // element offset of k(x + o) relative to k(x)
  std::vector<scalar_t> components[3];  // offsets per array axis, as numbers
  int64_t size() const { return static_cast<int64_t>(offsets.size()); }
};

template <typename scalar_t>
Window<scalar_t> makeWindow(const Geometry& g, int64_t radius) {
  Window<scalar_t> window{windowOffsets(g.dims, radius), {}, {}};
  const int64_t rowStride = g.heads * g.headDim;
  for (const auto& o : window.offsets) {
    const int64_t od = g.dims == 3 ? o[0] : 0;
    const int64_t oh = g.dims == 3 ? o[1] : o[0];
    const int64_t ow = g.dims == 3 ? o[2] : o[1];
    window.strides.push_back(((od * g.height + oh) * g.width + ow) * rowStride);
    for (int a = 0; a < 3; ++a) window.components[a].push_back(static_cast<scalar_t>(o[a]));
  }
  return window;
}

// Softmax over the in-bounds window for one (position, head): `probability` for all W
// (0 outside) and the expected offset in `expected` (array-axis components).
template <typename scalar_t>
struct PositionSoftmax {
  scalar_t probability[kMaxWindow];
  scalar_t inside[kMaxWindow];  // 1 or 0
  scalar_t expected[3];

  // Marks which offsets stay on the grid; returns false when all do (interior position).
  bool markInside(const Window<scalar_t>& window, const Geometry& g, int64_t radius, int64_t d,
                  int64_t h, int64_t w) {
    const bool interior = (g.dims == 2 || (d >= radius && d < g.depth - radius)) && h >= radius &&
                          h < g.height - radius && w >= radius && w < g.width - radius;
    if (interior) return false;
    for (int64_t i = 0; i < window.size(); ++i) {
      const auto& o = window.offsets[i];
      const int64_t td = d + (g.dims == 3 ? o[0] : 0);
      const int64_t th = h + (g.dims == 3 ? o[1] : o[0]);
      const int64_t tw = w + (g.dims == 3 ? o[2] : o[1]);
      const bool in =
          td >= 0 && td < g.depth && th >= 0 && th < g.height && tw >= 0 && tw < g.width;
      inside[i] = in ? scalar_t(1) : scalar_t(0);
    }
    return true;
  }

  void compute(const scalar_t* qRow, const scalar_t* kRow, const Window<scalar_t>& window,
               const Geometry& g, bool border, scalar_t scale) {
    const int64_t count = window.size();
    scalar_t maxLogit = -std::numeric_limits<scalar_t>::infinity();
    for (int64_t i = 0; i < count; ++i) {
      if (border && inside[i] == scalar_t(0)) {
        probability[i] = -std::numeric_limits<scalar_t>::infinity();
        continue;
      }
      probability[i] = scale * dot(qRow, kRow + window.strides[i], g.headDim);
      maxLogit = std::max(maxLogit, probability[i]);
    }
    scalar_t total = 0;
#pragma omp simd reduction(+ : total)
    for (int64_t i = 0; i < count; ++i) {
      probability[i] = expNonPositive(probability[i] - maxLogit);
      total += probability[i];
    }
    if (border) {
      total = 0;
#pragma omp simd reduction(+ : total)
      for (int64_t i = 0; i < count; ++i) {
        probability[i] *= inside[i];
        total += probability[i];
      }
    }
    const scalar_t inverse = scalar_t(1) / total;
    scalar_t e0 = 0, e1 = 0, e2 = 0;
    const scalar_t* c0 = window.components[0].data();
    const scalar_t* c1 = window.components[1].data();
    const scalar_t* c2 = window.components[2].data();
#pragma omp simd reduction(+ : e0, e1, e2)
    for (int64_t i = 0; i < count; ++i) {
      probability[i] *= inverse;
      e0 += probability[i] * c0[i];
      e1 += probability[i] * c1[i];
      e2 += probability[i] * c2[i];
    }
    expected[0] = e0;
    expected[1] = e1;
    expected[2] = e2;
  }
};

template <typename scalar_t>
void forwardKernel(const torch::Tensor& qk, const torch::Tensor& kk, torch::Tensor& out,
                   const Geometry& g, int64_t radius) {
  const auto window = makeWindow<scalar_t>(g, radius);
  const scalar_t scale = scalar_t(1) / std::sqrt(static_cast<scalar_t>(g.headDim));
  const scalar_t* q = qk.data_ptr<scalar_t>();
  const scalar_t* k = kk.data_ptr<scalar_t>();
  scalar_t* o = out.data_ptr<scalar_t>();  // (B, n, D*H*W)
  const int64_t positions = g.positions();
  const int64_t rowStride = g.heads * g.headDim;

  at::parallel_for(0, g.batch * positions, 64, [&](int64_t begin, int64_t end) {
    PositionSoftmax<scalar_t> softmax;
    for (int64_t index = begin; index < end; ++index) {
      const int64_t b = index / positions;
      const int64_t p = index % positions;
      const int64_t d = p / (g.height * g.width);
      const int64_t h = (p / g.width) % g.height;
      const int64_t w = p % g.width;
      scalar_t sum[3] = {0, 0, 0};
      const bool border = softmax.markInside(window, g, radius, d, h, w);
      for (int64_t j = 0; j < g.heads; ++j) {
        const int64_t row = index * rowStride + j * g.headDim;
        softmax.compute(q + row, k + row, window, g, border, scale);
        for (int a = 0; a < g.dims; ++a) sum[a] += softmax.expected[a];
      }
      for (int a = 0; a < g.dims; ++a) o[(b * g.dims + a) * positions + p] = sum[a] / g.heads;
    }
  });
}

// Backward. grad_k receives contributions at x + o from every x in the window, so
// positions are split into slabs along the outer spatial axis, at least 2r thick; even
// slabs run in parallel first, then odd ones, and no two running slabs write the same row.
template <typename scalar_t>
void backwardKernel(const torch::Tensor& qk, const torch::Tensor& kk, const torch::Tensor& gradOut,
                    torch::Tensor& gradQ, torch::Tensor& gradK, const Geometry& g, int64_t radius) {
  const auto window = makeWindow<scalar_t>(g, radius);
  const int64_t count = window.size();
  const scalar_t scale = scalar_t(1) / std::sqrt(static_cast<scalar_t>(g.headDim));
  const scalar_t* q = qk.data_ptr<scalar_t>();
  const scalar_t* k = kk.data_ptr<scalar_t>();
  const scalar_t* go = gradOut.data_ptr<scalar_t>();  // (B, n, D*H*W)
  scalar_t* gq = gradQ.data_ptr<scalar_t>();
  scalar_t* gk = gradK.data_ptr<scalar_t>();
  const int64_t positions = g.positions();
  const int64_t rowStride = g.heads * g.headDim;

  const bool slabOnDepth = g.dims == 3;
  const int64_t outer = slabOnDepth ? g.depth : g.height;
  const int64_t inner = positions / outer;  // positions per outer index
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t thickness = std::max<int64_t>(std::max<int64_t>(2 * radius, 1),
                                              (outer + 2 * threads - 1) / (2 * threads));
  const int64_t slabs = (outer + thickness - 1) / thickness;

  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t slabsThisPhase = (slabs - parity + 1) / 2;
    at::parallel_for(0, g.batch * slabsThisPhase, 1, [&](int64_t begin, int64_t end) {
      PositionSoftmax<scalar_t> softmax;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / slabsThisPhase;
        const int64_t slab = 2 * (task % slabsThisPhase) + parity;
        const int64_t first = slab * thickness * inner;
        const int64_t last = std::min(outer, (slab + 1) * thickness) * inner;
        for (int64_t p = first; p < last; ++p) {
          const int64_t index = b * positions + p;
          const int64_t d = p / (g.height * g.width);
          const int64_t h = (p / g.width) % g.height;
          const int64_t w = p % g.width;
          scalar_t gradV[3] = {0, 0, 0};
          for (int a = 0; a < g.dims; ++a)
            gradV[a] = go[(b * g.dims + a) * positions + p] / g.heads;
          const bool border = softmax.markInside(window, g, radius, d, h, w);
          for (int64_t j = 0; j < g.heads; ++j) {
            const int64_t row = index * rowStride + j * g.headDim;
            softmax.compute(q + row, k + row, window, g, border, scale);
            // dL/dlogit_i = p_i * gradV . (o_i - E[o]) * scale (zero outside, where p_i = 0).
            const scalar_t base = gradV[0] * softmax.expected[0] + gradV[1] * softmax.expected[1] +
                                  gradV[2] * softmax.expected[2];
            const scalar_t* c0 = window.components[0].data();
            const scalar_t* c1 = window.components[1].data();
            const scalar_t* c2 = window.components[2].data();
            scalar_t* gradLogit = softmax.probability;  // reused in place
#pragma omp simd
            for (int64_t i = 0; i < count; ++i) {
              gradLogit[i] *=
                  (gradV[0] * c0[i] + gradV[1] * c1[i] + gradV[2] * c2[i] - base) * scale;
            }
            const scalar_t* qRow = q + row;
            scalar_t* gqRow = gq + row;
            for (int64_t i = 0; i < count; ++i) {
              const scalar_t weight = gradLogit[i];
              if (weight == scalar_t(0)) continue;
              const int64_t target = row + window.strides[i];
              scalar_t* gkRow = gk + target;
              const scalar_t* kRow = k + target;
#pragma omp simd
              for (int64_t c = 0; c < g.headDim; ++c) {
                gqRow[c] += weight * kRow[c];
                gkRow[c] += weight * qRow[c];
              }
            }
          }
        }
      }
    });
  }
}

class MovFunction : public torch::autograd::Function<MovFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, int64_t heads, int64_t radius) {
    ctx->save_for_backward({q, k});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["radius"] = radius;
    const Geometry g = geometryOf(q, heads);
    auto qk = toKernelLayout(q, g);
    auto kk = toKernelLayout(k, g);
    std::vector<int64_t> outSizes{g.batch, g.dims};
    for (int64_t i = 2; i < q.dim(); ++i) outSizes.push_back(q.size(i));
    auto out = torch::empty(outSizes, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "movFused.forward",
                               [&] { forwardKernel<scalar_t>(qk, kk, out, g, radius); });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& q = saved[0];
    const auto& k = saved[1];
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const int64_t radius = ctx->saved_data["radius"].toInt();
    const Geometry g = geometryOf(q, heads);
    auto qk = toKernelLayout(q, g);
    auto kk = toKernelLayout(k, g);
    auto gradOut = grads[0].contiguous();
    auto gradQ = torch::zeros_like(qk);
    auto gradK = torch::zeros_like(kk);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "movFused.backward", [&] {
      backwardKernel<scalar_t>(qk, kk, gradOut, gradQ, gradK, g, radius);
    });
    return {fromKernelLayout(gradQ, g, q.sizes()), fromKernelLayout(gradK, g, k.sizes()),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor movFused(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                       int64_t radius) {
  checkMovInputs(q, k, heads, radius);
  TORCH_CHECK(q.device().is_cpu(), "the fused MoV kernel runs on CPU tensors; got ", q.device());
  return MovFunction::apply(q, k, heads, radius);
}

}  // namespace cover::core
