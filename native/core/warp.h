// Resampling of images and displacement fields in voxel units (COVER-SPEC section 2).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// Samples src (B, C, *S) at x + psi(x), psi (B, n, *S) in voxels, components in array-axis
// order; linear interpolation, zeros outside; warp(src, 0) == src exactly and integer shifts
// move content exactly. Runs warpByGridSampler.
torch::Tensor warp(const torch::Tensor& src, const torch::Tensor& psi);

// ATen's grid sampler (align_corners = true): one fused, vectorised kernel each way. Axes
// are zero-padded to 2^k + 1 voxels so that the normalisation by S - 1 is exact.
torch::Tensor warpByGridSampler(const torch::Tensor& src, const torch::Tensor& psi);

// The same function by one gather per corner in voxel coordinates: the plain reference the
// tests hold the sampler to. Slower, and it keeps (B, C, prod S) per corner for backward.
torch::Tensor warpByGather(const torch::Tensor& src, const torch::Tensor& psi);

// Linear x2 upsampling with align_corners = true (the values are not rescaled).
torch::Tensor up2(const torch::Tensor& field);

}  // namespace cover::core
