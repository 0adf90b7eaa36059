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

// Collapse indicator: the share of the features' energy that varies across positions,
// E||f(x) - mean f||^2 / E||f(x)||^2 per image, averaged. 0 means every position has the same
// feature (collapse); random features give about 1. Unlike the cosine of f(x) to the mean,
// it is not close to 1 merely because LeakyReLU features are mostly positive.
torch::Tensor featureVariation(const torch::Tensor& features);

}  // namespace cover::core
