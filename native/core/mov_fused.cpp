// Fused CPU MoV. Per image row it computes the window's logits for every position of the row
// into a small buffer, takes the softmax expectation and writes n numbers per position:
// memory stays O(input), not O(window x input) as in the reference. Backward recomputes
// the logits.
//
// Layout inside the kernel is (B, D, H, J, Dh, W): for one row (b, d, h) and head j, each
// channel is a contiguous run over W, so every inner loop runs over positions of the row and
// vectorises. 2D inputs run as D = 1.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/mov.h"
#include "core/mov_window.h"

namespace cover::core {
namespace {

struct Geometry {
  int64_t batch, depth, height, width, heads, headDim, dims;
  int64_t positions() const { return depth * height * width; }
  int64_t rows() const { return batch * depth * height; }
};

Geometry geometryOf(const torch::Tensor& q, int64_t heads) {
  const bool is3d = q.dim() == 5;
  return Geometry{q.size(0), is3d ? q.size(2) : 1, q.size(-2),  q.size(-1),
                  heads,     q.size(1) / heads,    is3d ? 3 : 2};
}

// (B, C, *S) -> (B, D, H, J, Dh, W) contiguous, with channel c = d * J + j.
torch::Tensor toKernelLayout(const torch::Tensor& x, const Geometry& g) {
  auto grouped = x.reshape({g.batch, g.headDim, g.heads, g.depth, g.height, g.width});
  return grouped.permute({0, 3, 4, 2, 1, 5}).contiguous();
}

// Inverse of toKernelLayout, back to (B, C, *S) with the input's spatial rank.
torch::Tensor fromKernelLayout(const torch::Tensor& x, const Geometry& g, at::IntArrayRef sizes) {
  return x.permute({0, 4, 3, 1, 2, 5}).reshape(sizes).contiguous();
}

// exp(x) for x <= 0 (logits minus their maximum), branch-free so that loops vectorise:
// x = n ln2 + r, exp(r) by Cephes' expf polynomial (about 1 ulp), 2^n by building the
// float's exponent. Arguments below -87 give ~1e-38 instead of less.
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

// One window offset and the part of a row it can use.
struct RowOffset {
  int64_t od, oh, ow;   // offset along D, H, W (od = 0 in 2D)
  double component[3];  // the offset in array-axis order (n components used)
};

std::vector<RowOffset> rowOffsets(const Geometry& g, int64_t radius) {
  std::vector<RowOffset> offsets;
  for (const auto& o : windowOffsets(g.dims, radius)) {
    const int64_t od = g.dims == 3 ? o[0] : 0;
    const int64_t oh = g.dims == 3 ? o[1] : o[0];
    const int64_t ow = g.dims == 3 ? o[2] : o[1];
    offsets.push_back({od, oh, ow, {double(o[0]), double(o[1]), double(o[2])}});
  }
  return offsets;
}

// Softmax over the window for every position of one row and one head. After compute(),
// prob[i * W + w] is the probability of offset i at position w (0 where x + o is off the
// grid) and expected[a * W + w] the expected offset.
template <typename scalar_t>
class RowSoftmax {
 public:
  RowSoftmax(const Geometry& g, const std::vector<RowOffset>& offsets)
      : prob(offsets.size() * static_cast<size_t>(g.width)),
        expected(3 * static_cast<size_t>(g.width)),
        g_(g),
        offsets_(offsets),
        rowMax_(static_cast<size_t>(g.width)),
        rowSum_(static_cast<size_t>(g.width)) {}

  // Whether offset i's target row exists for row (d, h).
  bool rowInside(size_t i, int64_t d, int64_t h) const {
    const int64_t td = d + offsets_[i].od, th = h + offsets_[i].oh;
    return td >= 0 && td < g_.depth && th >= 0 && th < g_.height;
  }

  // Positions w whose target w + ow is inside: [first, last), empty when |ow| >= W.
  void columns(size_t i, int64_t& first, int64_t& last) const {
    const int64_t ow = offsets_[i].ow;
    first = std::min<int64_t>(g_.width, std::max<int64_t>(0, -ow));
    last = std::max<int64_t>(first, std::min<int64_t>(g_.width, g_.width - ow));
  }

  // q, k point at head j of the batch element (layout B, D, H, J, Dh, W).
  void compute(const scalar_t* q, const scalar_t* k, int64_t d, int64_t h, int64_t j,
               scalar_t scale) {
    const int64_t W = g_.width;
    const scalar_t* qRow = q + rowOffset(d, h, j);
    std::fill(rowMax_.begin(), rowMax_.end(), -std::numeric_limits<scalar_t>::infinity());
    for (size_t i = 0; i < offsets_.size(); ++i) {
      scalar_t* logits = prob.data() + i * W;
      std::fill(logits, logits + W, -std::numeric_limits<scalar_t>::infinity());
      if (!rowInside(i, d, h)) continue;
      int64_t first, last;
      columns(i, first, last);
      const int64_t ow = offsets_[i].ow;
      const scalar_t* kRow = k + rowOffset(d + offsets_[i].od, h + offsets_[i].oh, j) + ow;
      std::fill(logits + first, logits + last, scalar_t(0));
      for (int64_t c = 0; c < g_.headDim; ++c) {
        const scalar_t* qc = qRow + c * W;
        const scalar_t* kc = kRow + c * W;
#pragma omp simd
        for (int64_t w = first; w < last; ++w) logits[w] += qc[w] * kc[w];
      }
      scalar_t* rowMax = rowMax_.data();
#pragma omp simd
      for (int64_t w = first; w < last; ++w) {
        logits[w] *= scale;
        rowMax[w] = std::max(rowMax[w], logits[w]);
      }
    }
    std::fill(rowSum_.begin(), rowSum_.end(), scalar_t(0));
    scalar_t* rowMax = rowMax_.data();
    scalar_t* rowSum = rowSum_.data();
    for (size_t i = 0; i < offsets_.size(); ++i) {
      scalar_t* p = prob.data() + i * W;
      if (!rowInside(i, d, h)) {
        std::fill(p, p + W, scalar_t(0));
        continue;
      }
      int64_t first, last;
      columns(i, first, last);
      std::fill(p, p + first, scalar_t(0));
      std::fill(p + last, p + W, scalar_t(0));
#pragma omp simd
      for (int64_t w = first; w < last; ++w) {
        p[w] = expNonPositive(p[w] - rowMax[w]);
        rowSum[w] += p[w];
      }
    }
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) rowSum[w] = scalar_t(1) / rowSum[w];
    std::fill(expected.begin(), expected.end(), scalar_t(0));
    for (size_t i = 0; i < offsets_.size(); ++i) {
      scalar_t* p = prob.data() + i * W;
      const scalar_t c0 = offsets_[i].component[0], c1 = offsets_[i].component[1],
                     c2 = offsets_[i].component[2];
      scalar_t* e0 = expected.data();
      scalar_t* e1 = e0 + W;
      scalar_t* e2 = e1 + W;
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) {
        p[w] *= rowSum[w];
        e0[w] += p[w] * c0;
        e1[w] += p[w] * c1;
        e2[w] += p[w] * c2;
      }
    }
  }

  int64_t rowOffset(int64_t d, int64_t h, int64_t j) const {
    return ((d * g_.height + h) * g_.heads + j) * g_.headDim * g_.width;
  }

  std::vector<scalar_t> prob;
  std::vector<scalar_t> expected;

 private:
  const Geometry& g_;
  const std::vector<RowOffset>& offsets_;
  std::vector<scalar_t> rowMax_;
  std::vector<scalar_t> rowSum_;
};

template <typename scalar_t>
void forwardKernel(const torch::Tensor& qk, const torch::Tensor& kk, torch::Tensor& out,
                   const Geometry& g, int64_t radius) {
  const auto offsets = rowOffsets(g, radius);
  const scalar_t scale = scalar_t(1) / std::sqrt(static_cast<scalar_t>(g.headDim));
  const int64_t perImage = g.positions() * g.heads * g.headDim;
  const scalar_t* q = qk.data_ptr<scalar_t>();
  const scalar_t* k = kk.data_ptr<scalar_t>();
  scalar_t* o = out.data_ptr<scalar_t>();  // (B, n, D, H, W)
  const int64_t W = g.width;

  at::parallel_for(0, g.rows(), 1, [&](int64_t begin, int64_t end) {
    RowSoftmax<scalar_t> softmax(g, offsets);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / (g.depth * g.height);
      const int64_t d = (row / g.height) % g.depth;
      const int64_t h = row % g.height;
      const scalar_t* qb = q + b * perImage;
      const scalar_t* kb = k + b * perImage;
      scalar_t* outRow[3];
      for (int a = 0; a < g.dims; ++a) {
        outRow[a] = o + ((b * g.dims + a) * g.depth * g.height + d * g.height + h) * W;
        std::fill(outRow[a], outRow[a] + W, scalar_t(0));
      }
      for (int64_t j = 0; j < g.heads; ++j) {
        softmax.compute(qb, kb, d, h, j, scale);
        for (int a = 0; a < g.dims; ++a) {
          const scalar_t* e = softmax.expected.data() + a * W;
          const scalar_t inverseHeads = scalar_t(1) / g.heads;
#pragma omp simd
          for (int64_t w = 0; w < W; ++w) outRow[a][w] += e[w] * inverseHeads;
        }
      }
    }
  });
}

// Backward. grad_k receives contributions at x + o from every x in the window, so rows are
// split into slabs along the outer spatial axis (D in 3D, H in 2D), at least 2r thick; even
// slabs run in parallel first, then odd ones, so no two running slabs write the same row.
template <typename scalar_t>
void backwardKernel(const torch::Tensor& qk, const torch::Tensor& kk, const torch::Tensor& gradOut,
                    torch::Tensor& gradQ, torch::Tensor& gradK, const Geometry& g, int64_t radius) {
  const auto offsets = rowOffsets(g, radius);
  const scalar_t scale = scalar_t(1) / std::sqrt(static_cast<scalar_t>(g.headDim));
  const int64_t perImage = g.positions() * g.heads * g.headDim;
  const scalar_t* q = qk.data_ptr<scalar_t>();
  const scalar_t* k = kk.data_ptr<scalar_t>();
  const scalar_t* go = gradOut.data_ptr<scalar_t>();  // (B, n, D, H, W)
  scalar_t* gq = gradQ.data_ptr<scalar_t>();
  scalar_t* gk = gradK.data_ptr<scalar_t>();
  const int64_t W = g.width;

  const int64_t outer = g.dims == 3 ? g.depth : g.height;
  const int64_t rowsPerOuter = g.dims == 3 ? g.height : 1;
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t thickness = std::max<int64_t>(std::max<int64_t>(2 * radius, 1),
                                              (outer + 2 * threads - 1) / (2 * threads));
  const int64_t slabs = (outer + thickness - 1) / thickness;

  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t slabsThisPhase = (slabs - parity + 1) / 2;
    at::parallel_for(0, g.batch * slabsThisPhase, 1, [&](int64_t begin, int64_t end) {
      RowSoftmax<scalar_t> softmax(g, offsets);
      std::vector<scalar_t> gradV(3 * static_cast<size_t>(W)), base(static_cast<size_t>(W));
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / slabsThisPhase;
        const int64_t slab = 2 * (task % slabsThisPhase) + parity;
        const int64_t firstRow = slab * thickness * rowsPerOuter;
        const int64_t lastRow = std::min(outer, (slab + 1) * thickness) * rowsPerOuter;
        const scalar_t* qb = q + b * perImage;
        const scalar_t* kb = k + b * perImage;
        scalar_t* gqb = gq + b * perImage;
        scalar_t* gkb = gk + b * perImage;
        for (int64_t r = firstRow; r < lastRow; ++r) {
          // r indexes rows (d, h) of this image: d = r / H, h = r % H (2D: d = 0, h = r).
          const int64_t d = g.dims == 3 ? r / g.height : 0;
          const int64_t h = g.dims == 3 ? r % g.height : r;
          for (int a = 0; a < 3; ++a) {
            scalar_t* gv = gradV.data() + a * W;
            if (a >= g.dims) {
              std::fill(gv, gv + W, scalar_t(0));
              continue;
            }
            const scalar_t* src =
                go + ((b * g.dims + a) * g.depth * g.height + d * g.height + h) * W;
            for (int64_t w = 0; w < W; ++w) gv[w] = src[w] / g.heads;
          }
          for (int64_t j = 0; j < g.heads; ++j) {
            softmax.compute(qb, kb, d, h, j, scale);
            // dL/dlogit_i(w) = p_i(w) * (gradV(w) . o_i - gradV(w) . E(w)) * scale.
            const scalar_t* e = softmax.expected.data();
            const scalar_t* gv = gradV.data();
#pragma omp simd
            for (int64_t w = 0; w < W; ++w) {
              base[w] = gv[w] * e[w] + gv[W + w] * e[W + w] + gv[2 * W + w] * e[2 * W + w];
            }
            const scalar_t* qRow = qb + softmax.rowOffset(d, h, j);
            scalar_t* gqRow = gqb + softmax.rowOffset(d, h, j);
            for (size_t i = 0; i < offsets.size(); ++i) {
              if (!softmax.rowInside(i, d, h)) continue;
              int64_t first, last;
              softmax.columns(i, first, last);
              scalar_t* gradLogit = softmax.prob.data() + i * W;  // reused in place
              const scalar_t c0 = offsets[i].component[0], c1 = offsets[i].component[1],
                             c2 = offsets[i].component[2];
#pragma omp simd
              for (int64_t w = first; w < last; ++w) {
                gradLogit[w] *=
                    (gv[w] * c0 + gv[W + w] * c1 + gv[2 * W + w] * c2 - base[w]) * scale;
              }
              const int64_t ow = offsets[i].ow;
              const int64_t target =
                  softmax.rowOffset(d + offsets[i].od, h + offsets[i].oh, j) + ow;
              const scalar_t* kRow = kb + target;
              scalar_t* gkRow = gkb + target;
              for (int64_t c = 0; c < g.headDim; ++c) {
                const scalar_t* kc = kRow + c * W;
                const scalar_t* qc = qRow + c * W;
                scalar_t* gqc = gqRow + c * W;
                scalar_t* gkc = gkRow + c * W;
#pragma omp simd
                for (int64_t w = first; w < last; ++w) {
                  gqc[w] += gradLogit[w] * kc[w];
                  gkc[w] += gradLogit[w] * qc[w];
                }
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
