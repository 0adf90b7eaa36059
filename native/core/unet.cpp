#include "core/unet.h"

#include <cmath>

namespace cover::core {
namespace {

torch::Tensor maxPool(int dims, const torch::Tensor& x) {
  return dims == 2 ? torch::max_pool2d(x, 2) : torch::max_pool3d(x, 2);
}

// Linear x2 upsampling with align_corners = false, as in the U-Net's decoder.
torch::Tensor upsample(int dims, const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto options = F::InterpolateFuncOptions()
                     .scale_factor(std::vector<double>(dims, 2.0))
                     .mode(dims == 2 ? F::InterpolateFuncOptions::mode_t(torch::kBilinear)
                                     : F::InterpolateFuncOptions::mode_t(torch::kTrilinear))
                     .align_corners(false);
  return F::interpolate(x, options);
}

// Kaiming-normal weights (fan in, gain sqrt 2) and LibTorch's default bias,
// U(-1/sqrt(fan in), 1/sqrt(fan in)), both drawn from `generator`.
void initializeConv(torch::Tensor& weight, torch::Tensor& bias, at::Generator& generator) {
  const double fanIn = static_cast<double>(weight[0].numel());
  weight.normal_(0.0, std::sqrt(2.0 / fanIn), generator);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(fanIn);
    bias.uniform_(-bound, bound, generator);
  }
}

// A stage of the backbone: a block on one input or, in the decoder, the block on the skip
// concatenated with the upsampled coarser map, inputs (skip, coarse).
torch::Tensor runStage(DoubleConvImpl& block, int dims, at::TensorList inputs) {
  if (inputs.size() == 1) return block.forward(inputs[0]);
  return block.forwardConcatenated(inputs[0], upsample(dims, inputs[1]));
}

// A stage run without saving its activations; backward runs it again with autograd on and
// differentiates that. Only the stage's inputs are kept: in the decoder the skip and the
// coarser map, not the upsampled map. The parameters are inputs, so their gradients flow
// (and the output requires grad) even when no stage input does.
class RecomputedStage : public torch::autograd::Function<RecomputedStage> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, at::TensorList inputs,
                               DoubleConvImpl* block, int64_t dims, at::TensorList parameters) {
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
    ctx->saved_data["dims"] = dims;
    c10::List<bool> requiresGrad;
    for (const auto& input : inputs) requiresGrad.push_back(input.requires_grad());
    ctx->saved_data["requiresGrad"] = requiresGrad;
    ctx->save_for_backward(inputs.vec());
    (void)parameters;
    return runStage(*block, static_cast<int>(dims), inputs);  // autograd is off in here
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    auto* block = reinterpret_cast<DoubleConvImpl*>(ctx->saved_data["block"].toInt());
    const auto dims = static_cast<int>(ctx->saved_data["dims"].toInt());
    const auto requiresGrad = ctx->saved_data["requiresGrad"].toBoolList();
    const auto saved = ctx->get_saved_variables();
    std::vector<torch::Tensor> inputs;
    torch::autograd::variable_list wrt;
    for (size_t i = 0; i < saved.size(); ++i) {
      inputs.push_back(saved[i].detach().requires_grad_(requiresGrad.get(i)));
      if (requiresGrad.get(i)) wrt.push_back(inputs.back());
    }
    torch::Tensor output;
    {
      torch::AutoGradMode enabled(true);
      output = runStage(*block, dims, inputs);
    }
    const auto parameters = block->parameters();
    const size_t inputGrads = wrt.size();
    wrt.insert(wrt.end(), parameters.begin(), parameters.end());
    auto grads = torch::autograd::grad({output}, wrt, {gradOutputs[0]}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    // One gradient per forward argument, the tensor lists flattened.
    torch::autograd::variable_list result;
    size_t next = 0;
    for (size_t i = 0; i < saved.size(); ++i)
      result.push_back(requiresGrad.get(i) ? grads[next++] : torch::Tensor());
    result.push_back(torch::Tensor());  // block
    result.push_back(torch::Tensor());  // dims
    result.insert(result.end(), grads.begin() + static_cast<std::ptrdiff_t>(inputGrads),
                  grads.end());
    return result;
  }
};

}  // namespace

torch::nn::AnyModule makeConv(int dims, int64_t in, int64_t out, int64_t kernel) {
  const int64_t padding = kernel / 2;
  if (dims == 2)
    return torch::nn::AnyModule(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(padding)));
  return torch::nn::AnyModule(
      torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).padding(padding)));
}

void initializeWeights(torch::nn::Module& module, at::Generator& generator) {
  torch::NoGradGuard noGrad;
  // Walks children() recursively: modules() needs shared_from_this, which is not available
  // while a module is still being constructed.
  for (auto& child : module.children()) {
    initializeWeights(*child, generator);
    if (auto* conv2 = child->as<torch::nn::Conv2d>()) {
      initializeConv(conv2->weight, conv2->bias, generator);
    } else if (auto* conv3 = child->as<torch::nn::Conv3d>()) {
      initializeConv(conv3->weight, conv3->bias, generator);
    } else if (auto* norm = child->as<torch::nn::GroupNorm>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
}

torch::Tensor DoubleConvImpl::forwardConcatenated(const torch::Tensor& first,
                                                  const torch::Tensor& second) {
  auto it = layers_->begin();
  torch::Tensor weight, bias;
  if (auto* conv2 = it->ptr()->as<torch::nn::Conv2d>()) {
    weight = conv2->weight;
    bias = conv2->bias;
  } else {
    auto* conv3 = it->ptr()->as<torch::nn::Conv3d>();
    weight = conv3->weight;
    bias = conv3->bias;
  }
  const int64_t split = first.size(1);
  // Stride 1, padding 1: the block's 3x3(x3) convolutions as makeConv builds them.
  const auto convolve = [&](const torch::Tensor& x, const torch::Tensor& w,
                            const torch::Tensor& b) {
    return x.dim() == 4 ? torch::conv2d(x, w, b, 1, 1) : torch::conv3d(x, w, b, 1, 1);
  };
  auto x = convolve(first, weight.narrow(1, 0, split), bias) +
           convolve(second, weight.narrow(1, split, weight.size(1) - split), {});
  for (++it; it != layers_->end(); ++it) x = it->forward(x);
  return x;
}

DoubleConvImpl::DoubleConvImpl(int dims, int64_t in, int64_t out) {
  for (int i = 0; i < 2; ++i) {
    layers_->push_back(makeConv(dims, i == 0 ? in : out, out, 3));
    layers_->push_back(makeGroupNorm(out / 8, out));
    // In place: the normalised map is needed by nothing else, and LeakyReLU's backward
    // (slope > 0) reads the sign from its output, so one activation per layer is not kept.
    layers_->push_back(
        torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
  }
  register_module("double_conv", layers_);
}

UNetImpl::UNetImpl(const ModelOptions& options) : dims_(options.dims) {
  const auto& c = options.channels;
  inc_ = register_module("inc", DoubleConv(dims_, options.inChannels, c[0]));
  for (int i = 0; i < 4; ++i) {
    // downN.maxpool_conv = [max-pool, DoubleConv]; the pool has no parameters.
    torch::nn::Sequential maxpoolConv;
    const int dims = dims_;
    maxpoolConv->push_back(
        torch::nn::Functional([dims](torch::Tensor x) { return maxPool(dims, x); }));
    downConv_.push_back(DoubleConv(dims_, c[i], c[i + 1]));
    maxpoolConv->push_back(downConv_.back());
    auto down = std::make_shared<torch::nn::Module>();
    down->register_module("maxpool_conv", maxpoolConv);
    register_module("down" + std::to_string(i + 1), down);
  }
  for (int i = 0; i < 4; ++i) {
    // upN concatenates the skip (c[3-i]) with the upsampled coarser map (width c[4-i]).
    upConv_.push_back(DoubleConv(dims_, c[4 - i] + c[3 - i], c[3 - i]));
    auto up = std::make_shared<torch::nn::Module>();
    up->register_module("conv", upConv_.back());
    register_module("up" + std::to_string(i + 1), up);
  }
}

torch::Tensor UNetImpl::runBlock(DoubleConv& block, at::TensorList inputs) {
  if (!recompute_ || !torch::GradMode::is_enabled()) return runStage(*block, dims_, inputs);
  const auto parameters = block->parameters();
  return RecomputedStage::apply(inputs, block.get(), static_cast<int64_t>(dims_),
                                at::TensorList(parameters));
}

std::vector<torch::Tensor> UNetImpl::forward(const torch::Tensor& image) {
  std::vector<torch::Tensor> skips{runBlock(inc_, {image})};
  for (auto& down : downConv_) skips.push_back(runBlock(down, {maxPool(dims_, skips.back())}));
  // skips: x1 (full) .. x5 (1/16). Decoder outputs coarse to fine, collected fine to coarse.
  std::vector<torch::Tensor> pyramid(5);
  pyramid[4] = skips[4];
  torch::Tensor x = skips[4];
  for (int i = 0; i < 4; ++i) {
    x = runBlock(upConv_[i], {skips[3 - i], x});
    pyramid[3 - i] = x;
  }
  return pyramid;
}

}  // namespace cover::core
