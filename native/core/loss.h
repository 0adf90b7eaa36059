// COVER's losses (COVER-SPEC section 3) and the collapse indicator.
#pragma once

#include <torch/torch.h>

namespace cover::core {

// sum_x eps(x) * sum_axes |predicted - target| / sum_x eps(x), over the batch too.
torch::Tensor vectorLoss(const torch::Tensor& predicted, const torch::Tensor& target,
                         const torch::Tensor& mask);

// 1 - sum_x eps(x) cos(fixed(x), warp(moving, target)(x)) / sum_x eps(x); cosine over
// channels after L2 normalisation with eps 1e-12. Warps with the ground-truth field.
torch::Tensor consistencyLoss(const torch::Tensor& fixedFeatures,
                              const torch::Tensor& movingFeatures, const torch::Tensor& target,
                              const torch::Tensor& mask);

// Mean cosine similarity of each position's feature to the image's mean feature: near 1
// means every position has the same direction (collapse).
torch::Tensor collapseIndicator(const torch::Tensor& features);

}  // namespace cover::core
