// MoV for a run of four neighbouring positions along W at a time: the arithmetic of the
// CUDA kernels for radius 1..4, written once for the device and the host, as mov_point.h is
// for one position (which stays for radius 0 and 5..8).
//
// Why runs: a window row (fixed z and y offsets) of four neighbouring positions touches the
// same 4 + 2r partner values per channel, so a thread that owns the run loads each of them
// once for 4 (2r + 1) multiply-adds, where one position per thread loads one value per
// multiply-add. On the device, when W is a multiple of 4 and the arrays are aligned, those
// values come as three 4-wide loads (x0 - 4 .. x0 + 7); elsewhere, and on the host, one at a
// time with a bounds test. The window's radius is a template parameter, so the logits of a
// row live in registers (nvcc -Xptxas -v: no stack frame, no spill).
#pragma once

#include <type_traits>

#include "cuda/mov_point.h"

namespace cover::mov_row {

using mov_point::Head;
using mov_point::Range;
using mov_point::Shape;

constexpr int kRun = 4;        // positions per run
constexpr int kMaxRadius = 4;  // the widest window whose partners fit in a segment
constexpr int kSegment = 12;   // partner values x0 - 4 .. x0 + 7 of a run at x0

// Whether runs serve this window (radius 1..4); radius 0 and 5..8 go one position at a time.
COVER_HD bool covers(const Shape& s) { return s.radius >= 1 && s.radius <= kMaxRadius; }

// Calls body(std::integral_constant<int, R>{}) for the window's radius R, one of 1..4.
template <typename Body>
void withRadius(int radius, Body body) {
  switch (radius) {
    case 1:
      body(std::integral_constant<int, 1>{});
      break;
    case 2:
      body(std::integral_constant<int, 2>{});
      break;
    case 3:
      body(std::integral_constant<int, 3>{});
      break;
    default:
      body(std::integral_constant<int, 4>{});
      break;
  }
}

// A run: image b, grid row (z, y), positions x0 .. x0 + 3 (those below W are real).
struct Run {
  int64_t b, z, y, x0;
};

COVER_HD int64_t runsPerRow(const Shape& s) { return (s.width + kRun - 1) / kRun; }
COVER_HD int64_t runsPerImage(const Shape& s) { return s.depth * s.height * runsPerRow(s); }

// Run `r` of image b, runs in row-major order with x fastest, so neighbouring threads
// read neighbouring memory.
COVER_HD Run runOf(const Shape& s, int64_t b, int64_t r) {
  const int64_t perRow = runsPerRow(s);
  const int64_t row = r / perRow;
  return {b, row / s.height, row % s.height, (r % perRow) * kRun};
}

// The first element of grid row (z, y).
COVER_HD int64_t rowStart(const Shape& s, int64_t z, int64_t y) {
  return (z * s.height + y) * s.width;
}

// Values x .. x + 3 of a row (x a multiple of 4), 0 outside [0, W).
template <typename T>
COVER_HD void loadFour(const T* row, int64_t x, int64_t width, bool vectorLoads, float out[4]) {
#if defined(__CUDA_ARCH__)
  // With W a multiple of 4, a group of four is wholly inside the row or wholly outside it.
  if (vectorLoads) {
    if (x < 0 || x >= width) {
      for (int i = 0; i < 4; ++i) out[i] = 0.0f;
    } else if constexpr (sizeof(T) == 4) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(row + x));
      out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
    } else {
      // Four bfloat16 values, element 0 in the low half of the first word.
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(row + x));
      out[0] = __uint_as_float(v.x << 16), out[1] = __uint_as_float(v.x & 0xffff0000u);
      out[2] = __uint_as_float(v.y << 16), out[3] = __uint_as_float(v.y & 0xffff0000u);
    }
    return;
  }
#endif
  for (int i = 0; i < 4; ++i) {
    out[i] = x + i >= 0 && x + i < width ? mov_point::load(row, x + i) : 0.0f;
  }
}

// Whether the pair of own position x0 + i and its partner at window x offset t - R (along
// `sign`) is inside the grid.
template <int R, int sign>
COVER_HD bool inside(const Shape& s, int64_t x0, int i, int t) {
  const int64_t partner = x0 + i + sign * (t - R);
  return x0 + i < s.width && partner >= 0 && partner < s.width;
}

// The scaled logits of one window row for a run: L[i][t] pairs own position x0 + i of
// `ownRow` with partner x0 + i + sign (t - R) of `partnerRow`. For sign +1 the own array is
// q and the partner k (the run's own windows); for sign -1 the own array is k and the
// partner q (the windows that reach the run). Pairs outside the grid get a meaningless
// value; callers mask them with inside().
template <int R, int sign, typename T>
COVER_HD void rowLogits(const Shape& s, const T* own, const T* partner, Head h, int64_t ownRow,
                        int64_t partnerRow, int64_t x0, bool vectorLoads,
                        float logits[kRun][2 * R + 1]) {
  for (int i = 0; i < kRun; ++i) {
    for (int t = 0; t <= 2 * R; ++t) logits[i][t] = 0.0f;
  }
  for (int64_t d = 0; d < s.headDim; ++d) {
    const int64_t channel = h.first + d * h.stride;
    float mine[kRun], segment[kSegment];
    loadFour(own + channel + ownRow, x0, s.width, vectorLoads, mine);
    for (int c = 0; c < 3; ++c) {
      loadFour(partner + channel + partnerRow, x0 - 4 + 4 * c, s.width, vectorLoads,
               segment + 4 * c);
    }
    for (int i = 0; i < kRun; ++i) {
      for (int t = 0; t <= 2 * R; ++t) logits[i][t] += mine[i] * segment[4 + i + sign * (t - R)];
    }
  }
  for (int i = 0; i < kRun; ++i) {
    for (int t = 0; t <= 2 * R; ++t) logits[i][t] *= s.scale;
  }
}

// The window rows (z, y offsets) of a run at (z, y) whose partner row is inside the grid.
struct Rows {
  Range z, y;
};

template <int R>
COVER_HD Rows rowsOf(const Shape& s, const Run& at, int sign) {
  return {mov_point::rangeAlong(at.z, s.depth, s.dims == 3 ? R : 0, sign),
          mov_point::rangeAlong(at.y, s.height, R, sign)};
}

// The softmax of head h over the window of each position of a run: its log-normaliser and
// expected offset (components in array-axis order; unused ones 0), as mov_point::softmaxAt.
struct RunSoftmax {
  float logSum[kRun];
  float expected[3][kRun];
};

template <int R, typename T>
COVER_HD RunSoftmax softmaxRun(const Shape& s, const T* q, const T* k, Head h, const Run& at,
                               bool vectorLoads) {
  float maximum[kRun], sum[kRun], wz[kRun], wy[kRun], wx[kRun];
  for (int i = 0; i < kRun; ++i) {
    maximum[i] = -INFINITY, sum[i] = 0.0f, wz[i] = 0.0f, wy[i] = 0.0f, wx[i] = 0.0f;
  }
  const Rows rows = rowsOf<R>(s, at, +1);
  const int64_t ownRow = rowStart(s, at.z, at.y);
  for (int oz = rows.z.lo; oz <= rows.z.hi; ++oz) {
    for (int oy = rows.y.lo; oy <= rows.y.hi; ++oy) {
      float logits[kRun][2 * R + 1];
      rowLogits<R, +1>(s, q, k, h, ownRow, rowStart(s, at.z + oz, at.y + oy), at.x0, vectorLoads,
                       logits);
      for (int i = 0; i < kRun; ++i) {
        // Online softmax, one rescale per window row: the row's largest logit first.
        float rowMax = maximum[i];
        for (int t = 0; t <= 2 * R; ++t) {
          if (inside<R, +1>(s, at.x0, i, t) && logits[i][t] > rowMax) rowMax = logits[i][t];
        }
        if (rowMax > maximum[i]) {
          const float rescale = mov_point::expOf(maximum[i] - rowMax);  // 0 at the first row
          sum[i] *= rescale, wz[i] *= rescale, wy[i] *= rescale, wx[i] *= rescale;
          maximum[i] = rowMax;
        }
        for (int t = 0; t <= 2 * R; ++t) {
          if (!inside<R, +1>(s, at.x0, i, t)) continue;
          const float weight = mov_point::expOf(logits[i][t] - maximum[i]);
          sum[i] += weight;
          wz[i] += weight * static_cast<float>(oz);
          wy[i] += weight * static_cast<float>(oy);
          wx[i] += weight * static_cast<float>(t - R);
        }
      }
    }
  }
  RunSoftmax out;
  for (int i = 0; i < kRun; ++i) {
    // Real positions have their zero offset inside, so sum >= 1; the others are never read.
    const float total = sum[i] > 0.0f ? sum[i] : 1.0f;
    out.logSum[i] = maximum[i] + mov_point::logOf(total);
    const float e[3] = {wz[i] / total, wy[i] / total, wx[i] / total};
    for (int a = 0; a < 3; ++a) out.expected[a][i] = s.dims == 3 ? e[a] : (a < 2 ? e[a + 1] : 0.0f);
  }
  return out;
}

// Forward for run `r` of image b: the expected offset averaged over heads, as
// mov_point::forwardAt.
template <int R, typename T>
COVER_HD void forwardRun(const Shape& s, const T* q, const T* k, float* out, int64_t b, int64_t r,
                         bool vectorLoads) {
  const Run at = runOf(s, b, r);
  float sum[3][kRun] = {};
  for (int64_t j = 0; j < s.heads; ++j) {
    const RunSoftmax softmax = softmaxRun<R>(s, q, k, mov_point::headOf(s, b, j), at, vectorLoads);
    for (int a = 0; a < 3; ++a) {
      for (int i = 0; i < kRun; ++i) sum[a][i] += softmax.expected[a][i];
    }
  }
  const int64_t first = rowStart(s, at.z, at.y) + at.x0;
  for (int a = 0; a < 3; ++a) {
    for (int i = 0; i < kRun; ++i) {
      if (a < s.dims && at.x0 + i < s.width) {
        out[(b * s.dims + a) * s.positions() + first + i] = sum[a][i] / static_cast<float>(s.heads);
      }
    }
  }
}

// Backward statistics (log-normaliser, G . E) of head j for run `r` of image b, as
// mov_point::backwardStatsAt.
template <int R, typename T>
COVER_HD void backwardStatsRun(const Shape& s, const T* q, const T* k, const float* grad,
                               float* logSum, float* gradDotExpected, int64_t b, int64_t j,
                               int64_t r, bool vectorLoads) {
  const Run at = runOf(s, b, r);
  const RunSoftmax softmax = softmaxRun<R>(s, q, k, mov_point::headOf(s, b, j), at, vectorLoads);
  const int64_t P = s.positions();
  const int64_t first = rowStart(s, at.z, at.y) + at.x0;
  for (int i = 0; i < kRun; ++i) {
    if (at.x0 + i >= s.width) continue;
    float dot = 0.0f;
    for (int a = 0; a < 3; ++a) {
      if (a < s.dims) dot += grad[(b * s.dims + a) * P + first + i] * softmax.expected[a][i];
    }
    const int64_t stat = (b * s.heads + j) * P + first + i;
    logSum[stat] = softmax.logSum[i];
    gradDotExpected[stat] = dot;
  }
}

// What a query position contributes to the logit gradient: its statistics and G.
struct QueryStats {
  float logSum, gradDotExpected, grad[3];  // grad in array-axis order; unused ones 0
};

COVER_HD QueryStats queryStats(const Shape& s, const float* grad, const float* logSum,
                               const float* gradDotExpected, int64_t b, int64_t j, int64_t p) {
  const int64_t P = s.positions();
  const int64_t stat = (b * s.heads + j) * P + p;
  QueryStats out{logSum[stat], gradDotExpected[stat], {0.0f, 0.0f, 0.0f}};
  for (int a = 0; a < 3; ++a) {
    if (a < s.dims) out.grad[a] = grad[(b * s.dims + a) * P + p];
  }
  return out;
}

// dLoss/dlogit times the logit's scale, as mov_point::logitGradient.
COVER_HD float logitGradient(const Shape& s, const QueryStats& query, int oz, int oy, int ox,
                             float logit) {
  const float gradDotOffset = s.dims == 3
                                  ? query.grad[0] * oz + query.grad[1] * oy + query.grad[2] * ox
                                  : query.grad[0] * oy + query.grad[1] * ox;
  return mov_point::expOf(logit - query.logSum) * (gradDotOffset - query.gradDotExpected) *
         s.scale / static_cast<float>(s.heads);
}

// The gradient of q (forKeys false) or k (forKeys true) for head j's channels at run `r` of
// image b, written into `out` (B, C, *S) float32, as mov_point::gradAt: for q the logit
// gradients of the run's windows times k at the partners; for k, gathered from every query
// whose window reaches the run, times q at that query.
template <int R, bool forKeys, typename T>
COVER_HD void gradRun(const Shape& s, const T* q, const T* k, const float* grad,
                      const float* logSum, const float* gradDotExpected, float* out, int64_t b,
                      int64_t j, int64_t r, bool vectorLoads) {
  constexpr int sign = forKeys ? -1 : +1;
  constexpr int kPass = static_cast<int>(mov_point::kChannelsPerPass);
  const Run at = runOf(s, b, r);
  const Head h = mov_point::headOf(s, b, j);
  const T* own = forKeys ? k : q;
  const T* partner = forKeys ? q : k;
  const int64_t ownRow = rowStart(s, at.z, at.y);
  const Rows rows = rowsOf<R>(s, at, sign);
  // For q the queries are the run's own positions: their statistics once.
  QueryStats mine[kRun];
  if (!forKeys) {
    for (int i = 0; i < kRun; ++i) {
      mine[i] = at.x0 + i < s.width
                    ? queryStats(s, grad, logSum, gradDotExpected, b, j, ownRow + at.x0 + i)
                    : QueryStats{0.0f, 0.0f, {0.0f, 0.0f, 0.0f}};
    }
  }
  for (int64_t d0 = 0; d0 < s.headDim; d0 += kPass) {
    float sum[kRun][kPass] = {};
    for (int oz = rows.z.lo; oz <= rows.z.hi; ++oz) {
      for (int oy = rows.y.lo; oy <= rows.y.hi; ++oy) {
        const int64_t partnerRow = rowStart(s, at.z + sign * oz, at.y + sign * oy);
        float g[kRun][2 * R + 1];
        rowLogits<R, sign>(s, own, partner, h, ownRow, partnerRow, at.x0, vectorLoads, g);
        if (forKeys) {
          // Query x0 + i - (t - R) is segment entry 4 + i - (t - R): each query's statistics
          // once, for every pair that has it.
          for (int e = 4 - R; e <= 7 + R; ++e) {
            const int64_t x = at.x0 - 4 + e;
            if (x < 0 || x >= s.width) continue;
            const QueryStats query =
                queryStats(s, grad, logSum, gradDotExpected, b, j, partnerRow + x);
            for (int i = 0; i < kRun; ++i) {
              const int t = 4 + i + R - e;
              if (t >= 0 && t <= 2 * R) g[i][t] = logitGradient(s, query, oz, oy, t - R, g[i][t]);
            }
          }
        } else {
          for (int i = 0; i < kRun; ++i) {
            for (int t = 0; t <= 2 * R; ++t)
              g[i][t] = logitGradient(s, mine[i], oz, oy, t - R, g[i][t]);
          }
        }
        for (int i = 0; i < kRun; ++i) {
          for (int t = 0; t <= 2 * R; ++t) {
            if (!inside<R, sign>(s, at.x0, i, t)) g[i][t] = 0.0f;
          }
        }
        for (int dd = 0; dd < kPass; ++dd) {
          if (d0 + dd >= s.headDim) continue;  // a guard, not a break: sum stays in registers
          float segment[kSegment];
          const T* channel = partner + h.first + (d0 + dd) * h.stride + partnerRow;
          for (int c = 0; c < 3; ++c) {
            loadFour(channel, at.x0 - 4 + 4 * c, s.width, vectorLoads, segment + 4 * c);
          }
          for (int i = 0; i < kRun; ++i) {
            for (int t = 0; t <= 2 * R; ++t)
              sum[i][dd] += g[i][t] * segment[4 + i + sign * (t - R)];
          }
        }
      }
    }
    for (int dd = 0; dd < kPass; ++dd) {
      if (d0 + dd >= s.headDim) continue;
      float* channel = out + h.first + (d0 + dd) * h.stride + ownRow + at.x0;
      for (int i = 0; i < kRun; ++i) {
        if (at.x0 + i < s.width) channel[i] = sum[i][dd];
      }
    }
  }
}

}  // namespace cover::mov_row
