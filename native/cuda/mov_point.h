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
  COVER_HD int64_t side() const { return 2 * radius + 1; }
  COVER_HD int64_t windowSize() const {
    return dims == 3 ? side() * side() * side() : side() * side();
  }
};

// A voxel and a window offset along D, H, W (D parts are 0 in 2D).
struct Point {
  int64_t z, y, x;
};

COVER_HD Point pointOf(const Shape& s, int64_t p) {
  return {p / (s.height * s.width), (p / s.width) % s.height, p % s.width};
}

COVER_HD int64_t indexOf(const Shape& s, Point at) {
  return (at.z * s.height + at.y) * s.width + at.x;
}

// Offset i of the window in row-major order (last axis fastest), as the CPU code lists them.
COVER_HD Point offsetOf(const Shape& s, int64_t i) {
  const int64_t side = s.side(), r = s.radius;
  if (s.dims == 3) return {i / (side * side) - r, (i / side) % side - r, i % side - r};
  return {0, i / side - r, i % side - r};
}

// Component a of an offset in array-axis order: (D, H, W) in 3D, (H, W) in 2D.
COVER_HD float component(const Shape& s, Point o, int a) {
  if (s.dims == 2) return static_cast<float>(a == 0 ? o.y : o.x);
  return static_cast<float>(a == 0 ? o.z : (a == 1 ? o.y : o.x));
}

COVER_HD bool inside(const Shape& s, Point at) {
  return at.z >= 0 && at.z < s.depth && at.y >= 0 && at.y < s.height && at.x >= 0 && at.x < s.width;
}

COVER_HD Point plus(Point a, Point b) { return {a.z + b.z, a.y + b.y, a.x + b.x}; }
COVER_HD Point minus(Point a, Point b) { return {a.z - b.z, a.y - b.y, a.x - b.x}; }

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

// The scaled similarity of head j between q at position px and k at position py.
template <typename T>
COVER_HD float logit(const Shape& s, const T* q, const T* k, int64_t b, int64_t j, int64_t px,
                     int64_t py) {
  const int64_t P = s.positions();
  const int64_t first = (b * s.channels() + j) * P;
  const int64_t stride = s.heads * P;  // from channel d * J + j to (d + 1) * J + j
  float sum = 0.0f;
  for (int64_t d = 0; d < s.headDim; ++d) {
    sum += load(q, first + d * stride + px) * load(k, first + d * stride + py);
  }
  return sum * s.scale;
}

// The softmax over the window of head j at one position: its log-normaliser and the
// expected offset (components in array-axis order; unused ones 0).
struct Softmax {
  float logSum;
  float expected[3];
};

template <typename T>
COVER_HD Softmax softmaxAt(const Shape& s, const T* q, const T* k, int64_t b, int64_t j, Point at) {
  const int64_t px = indexOf(s, at);
  float maximum = -INFINITY, sum = 0.0f, weighted[3] = {0.0f, 0.0f, 0.0f};
  for (int64_t i = 0; i < s.windowSize(); ++i) {
    const Point o = offsetOf(s, i);
    const Point target = plus(at, o);
    if (!inside(s, target)) continue;  // excluded, as by the reference's -1000 logit
    const float l = logit(s, q, k, b, j, px, indexOf(s, target));
    // Online softmax: rescale what was summed so far when a larger logit arrives.
    float weight = 1.0f;
    if (l > maximum) {
      const float rescale = expOf(maximum - l);
      sum *= rescale;
      for (int a = 0; a < 3; ++a) weighted[a] *= rescale;
      maximum = l;
    } else {
      weight = expOf(l - maximum);
    }
    sum += weight;
    for (int a = 0; a < s.dims; ++a) weighted[a] += weight * component(s, o, a);
  }
  // The zero offset is always inside, so sum >= 1.
  Softmax result{maximum + logOf(sum), {0.0f, 0.0f, 0.0f}};
  for (int a = 0; a < s.dims; ++a) result.expected[a] = weighted[a] / sum;
  return result;
}

// Forward at position p of image b: the expected offset averaged over heads.
// out: (B, n, *S) float32.
template <typename T>
COVER_HD void forwardAt(const Shape& s, const T* q, const T* k, float* out, int64_t b, int64_t p) {
  const Point at = pointOf(s, p);
  float sum[3] = {0.0f, 0.0f, 0.0f};
  for (int64_t j = 0; j < s.heads; ++j) {
    const Softmax softmax = softmaxAt(s, q, k, b, j, at);
    for (int a = 0; a < s.dims; ++a) sum[a] += softmax.expected[a];
  }
  for (int a = 0; a < s.dims; ++a) {
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
  const Softmax softmax = softmaxAt(s, q, k, b, j, pointOf(s, p));
  float dot = 0.0f;
  for (int a = 0; a < s.dims; ++a) {
    dot += grad[(b * s.dims + a) * s.positions() + p] * softmax.expected[a];
  }
  const int64_t at = (b * s.heads + j) * s.positions() + p;
  logSum[at] = softmax.logSum;
  gradDotExpected[at] = dot;
}

// dLoss/dlogit of offset o at position px (head j), times the logit's scale, with
// out = mean over heads of E: p_o (G . o - G . E) / J * scale.
COVER_HD float logitGradient(const Shape& s, const float* grad, const float* logSum,
                             const float* gradDotExpected, int64_t b, int64_t j, int64_t px,
                             Point o, float logitValue) {
  const int64_t at = (b * s.heads + j) * s.positions() + px;
  float gradDotOffset = 0.0f;
  for (int a = 0; a < s.dims; ++a) {
    gradDotOffset += grad[(b * s.dims + a) * s.positions() + px] * component(s, o, a);
  }
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
  const int64_t P = s.positions();
  const int64_t first = (b * s.channels() + j) * P;
  const int64_t stride = s.heads * P;
  const T* partner = forKeys ? q : k;  // what the logit gradient multiplies
  for (int64_t d0 = 0; d0 < s.headDim; d0 += kChannelsPerPass) {
    const int64_t count = s.headDim - d0 < kChannelsPerPass ? s.headDim - d0 : kChannelsPerPass;
    float sum[kChannelsPerPass] = {};
    for (int64_t i = 0; i < s.windowSize(); ++i) {
      const Point o = offsetOf(s, i);
      const Point other = forKeys ? minus(at, o) : plus(at, o);
      if (!inside(s, other)) continue;
      const int64_t po = indexOf(s, other);
      // The pair is (query position px, key position px + o).
      const int64_t px = forKeys ? po : p;
      const float l = logit(s, q, k, b, j, px, forKeys ? p : po);
      const float g = logitGradient(s, grad, logSum, gradDotExpected, b, j, px, o, l);
      for (int64_t d = 0; d < count; ++d)
        sum[d] += g * load(partner, first + (d0 + d) * stride + po);
    }
    for (int64_t d = 0; d < count; ++d) out[first + (d0 + d) * stride + p] = sum[d];
  }
}

}  // namespace cover::mov_point
