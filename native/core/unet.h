// The U-Net backbone, 2D or 3D, with PyTorch state_dict names
// (inc, down1..down4, up1..up4; each block is `double_conv` = conv, GN, act, conv, GN, act).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "core/group_norm.h"
#include "core/model_options.h"

namespace cover::core {

// [conv k3 -> GroupNorm(C/8) -> LeakyReLU(0.2)] x 2, registered as "double_conv" (0..5).
class DoubleConvImpl : public torch::nn::Module {
 public:
  DoubleConvImpl(int dims, int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x) { return layers_->forward(x); }

  // forward(cat({first, second}, 1)) without building the concatenation: the first
  // convolution is linear in its input, so it is the sum of the convolutions of each part
  // with its slice of the weight. Neither the concatenated map nor its gradient (the widest
  // maps of a decoder level) is ever allocated.
  torch::Tensor forwardConcatenated(const torch::Tensor& first, const torch::Tensor& second);

 private:
  torch::nn::Sequential layers_;
};
TORCH_MODULE(DoubleConv);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const ModelOptions& options);

  // Returns the decoder pyramid fine to coarse: F1 (full), F2 (1/2), F3 (1/4), F4 (1/8), F5
  // (bottleneck, 1/16). Each spatial size of the input must be divisible by 16.
  std::vector<torch::Tensor> forward(const torch::Tensor& image);

  // With autograd on, keep only each block's inputs and output and run the block again in
  // backward (activation recomputation): the saved activations of the convolutions,
  // GroupNorms and LeakyReLUs, and the decoder's concatenations, most of a step's memory,
  // are not kept, for one more forward pass of the backbone in backward. Results are
  // identical.
  void setRecompute(bool recompute) { recompute_ = recompute; }
  bool recompute() const { return recompute_; }

 private:
  // The block on its inputs: (x), or (skip, coarse) for a decoder block, which concatenates
  // the skip with the upsampled coarse map first.
  torch::Tensor runBlock(DoubleConv& block, at::TensorList inputs);

  int dims_;
  bool recompute_ = false;
  DoubleConv inc_{nullptr};
  std::vector<DoubleConv> downConv_;  // downN.maxpool_conv.1 (index 0 is the max-pool)
  std::vector<DoubleConv> upConv_;    // upN.conv
};
TORCH_MODULE(UNet);

// The layers shared by the backbone and the projections, in 2D or 3D (and makeGroupNorm,
// core/group_norm.h).
torch::nn::AnyModule makeConv(int dims, int64_t in, int64_t out, int64_t kernel);

// Kaiming-normal conv weights (PyTorch's kaiming_normal_ defaults), conv biases as LibTorch
// draws them, GroupNorm weight 1, bias 0; every draw from `generator`, so a model's weights
// depend on its own seed only, never on other threads using the process-wide generator.
void initializeWeights(torch::nn::Module& module, at::Generator& generator);

}  // namespace cover::core
