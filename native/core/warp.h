// Resampling of images and displacement fields in voxel units (COVER-SPEC section 2).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// Samples src (B, C, *S) at x + psi(x), psi (B, n, *S) in voxels, components in array-axis
// order; linear interpolation, zeros outside. In 2D this is ATen's grid sampler
// (align_corners = true, positions normalised by S - 1): one fused, vectorised kernel each
// way, where warpByGather materialises (B, C, prod S) per corner under autograd. The
// normalisation round trip costs float rounding only (|warp(x, 0) - x| ~ 1e-7 |x| in float32).
torch::Tensor warp(const torch::Tensor& src, const torch::Tensor& psi);

// The same function computed in voxel coordinates with one gather per corner: exact for
// integer shifts. Used in 3D, where ATen's CPU grid sampler runs one thread per batch item,
// and wherever a side is 1 voxel (S - 1 = 0 cannot normalise).
torch::Tensor warpByGather(const torch::Tensor& src, const torch::Tensor& psi);

// Linear x2 upsampling with align_corners = true (the values are not rescaled).
torch::Tensor up2(const torch::Tensor& field);

}  // namespace cover::core
