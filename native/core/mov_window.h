// The MoV window shared by the reference and the fused kernel.
#pragma once

#include <torch/torch.h>

#include <array>
#include <vector>

namespace cover::core {

using Offset = std::array<int64_t, 3>;  // components in array-axis order; unused ones 0

// All offsets of {-r..r}^dims in row-major order (last axis fastest).
std::vector<Offset> windowOffsets(int64_t dims, int64_t radius);

// (W, dims) tensor of the offsets.
torch::Tensor offsetTensor(const std::vector<Offset>& offsets, const torch::TensorOptions& options);

// Throws c10::Error that says what is wrong with the MoV inputs.
void checkMovInputs(const torch::Tensor& q, const torch::Tensor& k, int64_t heads, int64_t radius);

}  // namespace cover::core
