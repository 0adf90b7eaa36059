// MoV (mixture of vectors): for each position, a softmax over a (2r+1)^n window of
// query-key similarities per head, read out as the expected offset, averaged over heads.
//   q, k: (B, C, *S), C divisible by `heads`; channel c belongs to head c mod heads.
//   returns (B, n, *S): offsets in voxels, components in array-axis order.
// Offsets whose target x + o falls outside the grid are excluded (logit -1000).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// Built from LibTorch ops; materialises all logits. Kept as the reference for tests.
torch::Tensor movReference(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                           int64_t radius);

// Fused CPU kernel with its own autograd function: forward keeps no logits, backward
// recomputes them. float32 and float64.
torch::Tensor movFused(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                       int64_t radius);

// How the CUDA kernels share out the positions: runs of four along W per thread
// (cuda/mov_row.h; radius 1..4, radius 0 and 5..8 one position per thread), or one position per
// thread at every radius (cuda/mov_point.h; the earlier kernels, kept for comparison).
enum class MovLoop { runs, positions };

// The arithmetic of the CUDA kernels: on CUDA tensors the kernels (in builds against a CUDA
// LibTorch), on CPU tensors the same functions in a loop, for tests. float32 and bfloat16
// inputs, float32 arithmetic; forward keeps no logits, backward recomputes them and keeps
// two floats per head and position.
torch::Tensor movPointwise(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                           int64_t radius, MovLoop loop = MovLoop::runs);

// Whether this build has the CUDA MoV kernels.
bool movCudaKernelsBuilt();

// The logit given to offsets outside the grid.
constexpr double kMovOutsideLogit = -1000.0;

}  // namespace cover::core
