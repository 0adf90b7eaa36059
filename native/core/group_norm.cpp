#include "core/group_norm.h"

namespace cover::core {
namespace {

// Both functions below keep the map in its own dtype (bfloat16 under bf16 autocast) and
// compute in computeType: statistics, normalisation and backward. They save {input, mean,
// rstd, weight} and the group count; groupNormBackward is their common backward, LibTorch's
// GroupNorm backward given those statistics, on copies in computeType made for the moment.
torch::ScalarType computeType(const torch::Tensor& map) {
  const auto type = map.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? torch::kFloat32 : type;
}

torch::autograd::variable_list groupNormBackward(torch::autograd::AutogradContext* ctx,
                                                 const torch::Tensor& gradOutput) {
  const auto saved = ctx->get_saved_variables();
  const auto& stored = saved[0];
  const auto input = stored.to(computeType(stored));  // no copy for a float32 map
  const int64_t batch = input.size(0);
  const int64_t channels = input.size(1);
  auto [gradInput, gradWeight, gradBias] = at::native_group_norm_backward(
      gradOutput.to(input.scalar_type()).contiguous(input.suggest_memory_format()), input, saved[1],
      saved[2], saved[3], batch, channels, input.numel() / (batch * channels),
      ctx->saved_data["groups"].toInt(),
      {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2)});
  if (gradInput.defined()) gradInput = gradInput.to(stored.scalar_type());
  return {gradInput, gradWeight, gradBias, torch::Tensor(), torch::Tensor()};
}

// GroupNorm of a channels-last map with its statistics from LibTorch's Welford reduction
// (per-channel mean and variance, combined per group by the law of total variance), and
// LibTorch's own GroupNorm backward given those statistics. LibTorch's CPU GroupNorm kernel
// for channels-last input sums in float32 one voxel after another, so its error grows with
// the map (2e-3 on a 2 x 16 x 32^3 map over a zero background, against 4e-7 for a
// contiguous one), and the 3D backbone runs channels-last on the CPU. Converting each map
// to contiguous and back instead would cost two copies per layer.
class ChannelsLastGroupNorm : public torch::autograd::Function<ChannelsLastGroupNorm> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t groups, double eps) {
    const auto x = input.to(computeType(input));  // keeps the layout; no copy for float32
    const int64_t batch = x.size(0);
    const int64_t channels = x.size(1);
    const auto [variance, mean] = torch::var_mean(x, {2, 3, 4}, /*correction=*/0);
    const auto channelMean = mean.view({batch, groups, -1});
    const auto groupMean = channelMean.mean(2);  // (B, G); every channel has as many voxels
    const auto groupVariance =
        (variance.view({batch, groups, -1}) + (channelMean - groupMean.unsqueeze(2)).square())
            .mean(2);
    const auto rstd = (groupVariance + eps).rsqrt();
    const auto perChannel = [&](const torch::Tensor& perGroup) {
      return perGroup.unsqueeze(2)
          .expand({batch, groups, channels / groups})
          .reshape({batch, channels});
    };
    const auto scale = perChannel(rstd) * weight;             // (B, C)
    const auto shift = bias - perChannel(groupMean) * scale;  // (B, C)
    ctx->save_for_backward({input, groupMean, rstd, weight});
    ctx->saved_data["groups"] = groups;
    return torch::addcmul(shift.view({batch, channels, 1, 1, 1}), x,
                          scale.view({batch, channels, 1, 1, 1}))
        .to(input.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    return groupNormBackward(ctx, gradOutputs[0]);
  }
};

// GroupNorm of a contiguous bfloat16 map that stays bfloat16 (bfloat16GroupNorm below).
// Autocast on CUDA runs group_norm in float32, so under bf16 autocast every layer kept a
// float32 copy of its input for GroupNorm's backward, a float32 output for LeakyReLU's and a
// bfloat16 copy of that for the next convolution's: 10 bytes per activation against float32
// training's 8. Here the layer keeps its bfloat16 input and output, 4. LibTorch's own
// bfloat16 GroupNorm on CUDA would also store the statistics in bfloat16 and want the weight
// in bfloat16; these stay float32. The output is rounded to bfloat16 where the next
// convolution would have rounded it anyway.
class Bfloat16GroupNorm : public torch::autograd::Function<Bfloat16GroupNorm> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t groups, double eps) {
    const int64_t batch = input.size(0);
    const int64_t channels = input.size(1);
    auto [output, mean, rstd] =
        at::native_group_norm(input.to(torch::kFloat32), weight, bias, batch, channels,
                              input.numel() / (batch * channels), groups, eps);
    ctx->save_for_backward({input, mean, rstd, weight});
    ctx->saved_data["groups"] = groups;
    return output.to(input.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    return groupNormBackward(ctx, gradOutputs[0]);
  }
};

// torch::nn::GroupNorm (same parameters and state_dict names) that normalises channels-last
// 3D CPU maps with ChannelsLastGroupNorm and bfloat16 CUDA maps (the backbone's under bf16
// autocast) with Bfloat16GroupNorm. The CPU's autocast leaves group_norm in the map's
// dtype, and LibTorch's CPU kernel keeps float32 statistics for a contiguous bfloat16 map.
class PreciseGroupNormImpl : public torch::nn::GroupNormImpl {
 public:
  using torch::nn::GroupNormImpl::GroupNormImpl;
  torch::Tensor forward(const torch::Tensor& input) {
    // An empty map (batch 0) has nothing to normalise; LibTorch's module handles it.
    if (!options.affine() || input.numel() == 0) return torch::nn::GroupNormImpl::forward(input);
    if (input.dim() == 5 && input.is_cpu() &&
        input.suggest_memory_format() == torch::MemoryFormat::ChannelsLast3d)
      return ChannelsLastGroupNorm::apply(input, weight, bias, options.num_groups(), options.eps());
    if (input.is_cuda() && input.scalar_type() == torch::kBFloat16 &&
        weight.scalar_type() == torch::kFloat32)
      return bfloat16GroupNorm(input, weight, bias, options.num_groups(), options.eps());
    return torch::nn::GroupNormImpl::forward(input);
  }
};
TORCH_MODULE(PreciseGroupNorm);

}  // namespace

torch::Tensor bfloat16GroupNorm(const torch::Tensor& input, const torch::Tensor& weight,
                                const torch::Tensor& bias, int64_t groups, double eps) {
  return Bfloat16GroupNorm::apply(input.contiguous(), weight, bias, groups, eps);
}

torch::nn::AnyModule makeGroupNorm(int64_t groups, int64_t channels) {
  return torch::nn::AnyModule(PreciseGroupNorm(torch::nn::GroupNormOptions(groups, channels)));
}

}  // namespace cover::core
