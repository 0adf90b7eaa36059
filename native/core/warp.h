// Resampling of images and displacement fields in voxel units (COVER-SPEC section 2).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// Samples src (B, C, *S) at x + psi(x), psi (B, n, *S) in voxels, components in array-axis
// order; linear interpolation, zeros outside. Computed in voxel coordinates directly, so
// warp(src, 0) == src exactly and integer shifts move content exactly.
torch::Tensor warp(const torch::Tensor& src, const torch::Tensor& psi);

// Linear x2 upsampling with align_corners = true (the values are not rescaled).
torch::Tensor up2(const torch::Tensor& field);

}  // namespace cover::core
