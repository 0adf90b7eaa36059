// The backbone's GroupNorm: torch::nn::GroupNorm's parameters and state_dict names, with two
// ways of computing it where LibTorch's own falls short (group_norm.cpp says which).
#pragma once

#include <torch/torch.h>

namespace cover::core {

// GroupNorm(groups, channels) with an affine weight (1) and bias (0).
torch::nn::AnyModule makeGroupNorm(int64_t groups, int64_t channels);

}  // namespace cover::core
