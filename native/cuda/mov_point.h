// MoV for one position at a time: the arithmetic of the CUDA kernels, written once for the
// device and the host. The CUDA kernels (mov_kernels.cu) run these functions one thread per
// position; core/mov_pointwise.cpp runs the very same functions on the CPU, which is how
// they are tested against the reference on machines without a GPU.
//
// Tensors are plain (B, C, *S) arrays (2D as D = 1), channel c = d * J + j for head j;
// inputs are float32 or bfloat16 (its raw 16 bits), arithmetic is float32. Nothing is kept
// per window offset: the softmax is taken online (running maximum, sum and expectation),
// and backward recomputes the logits from q and k.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define COVER_HD __host__ __device__ __forceinline__
#else
#define COVER_HD inline
#endif

namespace cover::mov_point {

struct Shape {
  int64_t batch, heads, headDim, depth, height, width;
  int dims;     // 2 or 3
  int radius;   // window (2r+1)^dims
  float scale;  // 1 / sqrt(headDim)

  COVER_HD int64_t channels() const { return heads * headDim; }
  COVER_HD int64_t positions() const { return depth * height * width; }
};

// A voxel along D, H, W (z is 0 in 2D).
struct Point {
  int64_t z, y, x;
};

COVER_HD Point pointOf(const Shape& s, int64_t p) {
  return {p / (s.height * s.width), (p / s.width) % s.height, p % s.width};
}

COVER_HD int64_t indexOf(const Shape& s, Point at) {
  return (at.z * s.height + at.y) * s.width + at.x;
}

// The offsets o in [-r, r] along one axis of n voxels for which at + sign * o is inside.
// Offsets are small, so they are ints: fewer registers than 64-bit values on a GPU.
struct Range {
  int lo, hi;
};

COVER_HD Range rangeAlong(int64_t at, int64_t n, int r, int sign) {
  const int64_t lo = sign > 0 ? -at : at - (n - 1);
  const int64_t hi = sign > 0 ? n - 1 - at : at;
  return {static_cast<int>(lo > -r ? lo : -r), static_cast<int>(hi < r ? hi : r)};
}

// An offset of the window along D, H, W (oz is 0 in 2D).
struct Offset {
  int z, y, x;
};

// Calls visit(o, partner) for each offset o of the window at `at` whose partner at + sign * o
// lies inside the grid (offsets that leave it are excluded, as by the reference's -1000
// logit), partner being that voxel's index, in row-major order (last axis fastest). The
// clipped ranges are worked out once, so the loop over the window does no division and no
// bounds test: on a GPU, 64-bit division is a long subroutine, and decoding each offset
// from its index would cost more than the logit it serves.
template <typename Visit>
COVER_HD void forEachOffset(const Shape& s, Point at, int sign, Visit&& visit) {
  const Range z = rangeAlong(at.z, s.depth, s.dims == 3 ? s.radius : 0, sign);
  const Range y = rangeAlong(at.y, s.height, s.radius, sign);
  const Range x = rangeAlong(at.x, s.width, s.radius, sign);
  for (int oz = z.lo; oz <= z.hi; ++oz) {
    for (int oy = y.lo; oy <= y.hi; ++oy) {
      const int64_t row = indexOf(s, {at.z + sign * oz, at.y + sign * oy, at.x});
      for (int ox = x.lo; ox <= x.hi; ++ox) visit(Offset{oz, oy, ox}, row + sign * ox);
    }
  }
}

COVER_HD float load(const float* data, int64_t i) { return data[i]; }

// bfloat16 is the upper half of a float32.
COVER_HD float load(const uint16_t* data, int64_t i) {
  const uint32_t bits = static_cast<uint32_t>(data[i]) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

COVER_HD float expOf(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);
#else
  return std::exp(x);
#endif
}

COVER_HD float logOf(float x) {
#if defined(__CUDA_ARCH__)
  return __logf(x);
#else
  return std::log(x);
#endif
}

// Where head j of image b lives in a (B, C, *S) array: channel d * J + j at position p is
// element first + d * stride + p.
struct Head {
  int64_t first, stride;
};

COVER_HD Head headOf(const Shape& s, int64_t b, int64_t j) {
  return {(b * s.channels() + j) * s.positions(), s.heads * s.positions()};
}

// The scaled similarity of head h between q at position px and k at position py.
template <typename T>
COVER_HD float logit(const Shape& s, const T* q, const T* k, Head h, int64_t px, int64_t py) {
  const T* qAt = q + h.first + px;
  const T* kAt = k + h.first + py;
  float sum = 0.0f;
  for (int64_t d = 0; d < s.headDim; ++d) sum += load(qAt, d * h.stride) * load(kAt, d * h.stride);
  return sum * s.scale;
}

// The softmax over the window of head j at one position: its log-normaliser and the
// expected offset (components in array-axis order; unused ones 0).
struct Softmax {
  float logSum;
  float expected[3];
};

template <typename T>
COVER_HD Softmax softmaxAt(const Shape& s, const T* q, const T* k, Head h, Point at) {
  const int64_t px = indexOf(s, at);
  // Running maximum, sum and weighted offsets along z, y, x. Scalars and loops of fixed
  // length throughout: an array indexed by a bound known only at run time would live in a
  // GPU thread's local memory (off-chip) instead of registers.
  float maximum = -INFINITY, sum = 0.0f, wz = 0.0f, wy = 0.0f, wx = 0.0f;
  forEachOffset(s, at, +1, [&](Offset o, int64_t target) {
    const float l = logit(s, q, k, h, px, target);
    // Online softmax: rescale what was summed so far when a larger logit arrives.
    float weight = 1.0f;
    if (l > maximum) {
      const float rescale = expOf(maximum - l);
      sum *= rescale;
      wz *= rescale;
      wy *= rescale;
      wx *= rescale;
      maximum = l;
    } else {
      weight = expOf(l - maximum);
    }
    sum += weight;
    wz += weight * static_cast<float>(o.z);  // o.z is 0 in 2D
    wy += weight * static_cast<float>(o.y);
    wx += weight * static_cast<float>(o.x);
  });
  // The zero offset is always inside, so sum >= 1.
  if (s.dims == 3) return {maximum + logOf(sum), {wz / sum, wy / sum, wx / sum}};
  return {maximum + logOf(sum), {wy / sum, wx / sum, 0.0f}};
}

// Forward at position p of image b: the expected offset averaged over heads.
// out: (B, n, *S) float32.
template <typename T>
COVER_HD void forwardAt(const Shape& s, const T* q, const T* k, float* out, int64_t b, int64_t p) {
  const Point at = pointOf(s, p);
  float sum[3] = {0.0f, 0.0f, 0.0f};
  for (int64_t j = 0; j < s.heads; ++j) {
    const Softmax softmax = softmaxAt(s, q, k, headOf(s, b, j), at);
    for (int a = 0; a < 3; ++a) sum[a] += softmax.expected[a];  // unused components are 0
  }
  for (int a = 0; a < 3; ++a) {
    if (a < s.dims)
      out[(b * s.dims + a) * s.positions() + p] = sum[a] / static_cast<float>(s.heads);
  }
}

// What backward needs of each (image, head, position), from the upstream gradient G
// (B, n, *S) float32: the log-normaliser, and G . E (E the head's expected offset).
// logSum, gradDotExpected: (B, J, *S) float32.
template <typename T>
COVER_HD void backwardStatsAt(const Shape& s, const T* q, const T* k, const float* grad,
                              float* logSum, float* gradDotExpected, int64_t b, int64_t j,
                              int64_t p) {
  const Softmax softmax = softmaxAt(s, q, k, headOf(s, b, j), pointOf(s, p));
  float dot = 0.0f;
  for (int a = 0; a < 3; ++a) {
    if (a < s.dims) dot += grad[(b * s.dims + a) * s.positions() + p] * softmax.expected[a];
  }
  const int64_t at = (b * s.heads + j) * s.positions() + p;
  logSum[at] = softmax.logSum;
  gradDotExpected[at] = dot;
}

// dLoss/dlogit of offset o at position px (head j), times the logit's scale, with
// out = mean over heads of E: p_o (G . o - G . E) / J * scale.
COVER_HD float logitGradient(const Shape& s, const float* grad, const float* logSum,
                             const float* gradDotExpected, int64_t b, int64_t j, int64_t px,
                             Offset o, float logitValue) {
  const int64_t P = s.positions();
  const int64_t at = (b * s.heads + j) * P + px;
  const float* g = grad + b * s.dims * P + px;  // G's components in array-axis order
  const float gradDotOffset =
      s.dims == 3 ? g[0] * o.z + g[P] * o.y + g[2 * P] * o.x : g[0] * o.y + g[P] * o.x;
  const float probability = expOf(logitValue - logSum[at]);
  return probability * (gradDotOffset - gradDotExpected[at]) * s.scale /
         static_cast<float>(s.heads);
}

// Channels accumulated per pass in the gradient functions; wider heads take several passes
// (each recomputes the logits), narrower ones use part of it.
constexpr int64_t kChannelsPerPass = 8;

// The gradient of q (forKeys false) or of k (forKeys true) for head j's channels at
// position p, written (not accumulated) into `out` (B, C, *S) float32. For q: the logit
// gradients of p's own window times k at p + o. For k: every position x = p - o whose window
// reaches p contributes its logit gradient times q at x; gathered, not scattered, so no two
// threads write one value.
template <bool forKeys, typename T>
COVER_HD void gradAt(const Shape& s, const T* q, const T* k, const float* grad, const float* logSum,
                     const float* gradDotExpected, float* out, int64_t b, int64_t j, int64_t p) {
  const Point at = pointOf(s, p);
  const Head h = headOf(s, b, j);
  const T* partner = forKeys ? q : k;  // what the logit gradient multiplies
  for (int64_t d0 = 0; d0 < s.headDim; d0 += kChannelsPerPass) {
    const int64_t count = s.headDim - d0 < kChannelsPerPass ? s.headDim - d0 : kChannelsPerPass;
    // Fixed-length loops with a guard, so that sum stays in registers on a GPU.
    float sum[kChannelsPerPass] = {};
    forEachOffset(s, at, forKeys ? -1 : +1, [&](Offset o, int64_t other) {
      // The pair is (query position px, key position px + o).
      const int64_t px = forKeys ? other : p;
      const float l = logit(s, q, k, h, px, forKeys ? p : other);
      const float g = logitGradient(s, grad, logSum, gradDotExpected, b, j, px, o, l);
      const T* partnerAt = partner + h.first + d0 * h.stride + other;
      for (int64_t d = 0; d < kChannelsPerPass; ++d) {
        if (d < count) sum[d] += g * load(partnerAt, d * h.stride);
      }
    });
    for (int64_t d = 0; d < kChannelsPerPass; ++d) {
      if (d < count) out[h.first + (d0 + d) * h.stride + p] = sum[d];
    }
  }
}

}  // namespace cover::mov_point
