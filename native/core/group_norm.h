// The backbone's GroupNorm: torch::nn::GroupNorm's parameters and state_dict names, with two
// ways of computing it where LibTorch's own falls short (group_norm.cpp says which).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// GroupNorm(groups, channels) with an affine weight (1) and bias (0).
torch::nn::AnyModule makeGroupNorm(int64_t groups, int64_t channels);

// GroupNorm of a bfloat16 map (B, C, ...) that stays bfloat16: float32 statistics,
// normalisation and backward, float32 weight and bias and their gradients. The module above
// takes it for bfloat16 CUDA maps, where autocast would otherwise run group_norm in float32.
torch::Tensor bfloat16GroupNorm(const torch::Tensor& input, const torch::Tensor& weight,
                                const torch::Tensor& bias, int64_t groups, double eps);

}  // namespace cover::core
