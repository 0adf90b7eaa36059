// A per-voxel linear probe of dense features: multinomial logistic regression on
// standardised features, fitted full-batch with Adam from zero weights. Fixed settings make
// scores of different encoders compare their features, not the fitting.
#pragma once

#include <torch/torch.h>

namespace cover::core {

struct LinearProbeSettings {
  int64_t iterations = 300;
  double learningRate = 0.05;
  double l2 = 1e-4;  // penalty on the weights (not the biases): l2 / 2 * |W|^2
};

struct LinearProbe {
  torch::Tensor mean;        // (C) of the training features
  torch::Tensor inverseStd;  // (C), 0 for channels that do not vary
  torch::Tensor weight;      // (K, C) on standardised features
  torch::Tensor bias;        // (K)
};

// features (N, C) float, labels (N) integers in [0, classes).
LinearProbe fitLinearProbe(const torch::Tensor& features, const torch::Tensor& labels,
                           int64_t classes, const LinearProbeSettings& settings);

// The most probable class of each row of features (N, C), or of each voxel of a feature map
// (1, C, *S) in row-major order, as uint8 (N).
torch::Tensor predictLinearProbe(const LinearProbe& probe, const torch::Tensor& features);

}  // namespace cover::core
