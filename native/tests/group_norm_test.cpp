// GroupNorm as the backbone computes it (core/group_norm.cpp), against float64.
#include "core/group_norm.h"

#include <ATen/autocast_mode.h>

#include "core/unet.h"
#include "tests/harness.h"

namespace {

namespace F = torch::nn::functional;

// A GroupNorm(2, 16) module with the given weight and bias.
torch::nn::AnyModule groupNormWith(const torch::Tensor& weight, const torch::Tensor& bias) {
  auto norm = cover::core::makeGroupNorm(2, 16);
  torch::NoGradGuard noGrad;
  norm.ptr()->named_parameters()["weight"].copy_(weight);
  norm.ptr()->named_parameters()["bias"].copy_(bias);
  return norm;
}

// LibTorch's CPU GroupNorm for channels-last input sums in float32 voxel after voxel (an
// error of 8e-4 on this map); the 3D backbone runs on channels-last maps on the CPU.
TEST_CASE("group norm: a channels-last 3D map is normalised as precisely as a contiguous one") {
  torch::manual_seed(3);
  const auto reference = torch::randn({2, 16, 12, 10, 14}, torch::kFloat64) * 0.5 + 10.0;
  const auto weight = torch::rand({16}, torch::kFloat64) + 0.5;
  const auto bias = torch::randn({16}, torch::kFloat64);
  const auto gradOutput = torch::randn_like(reference);
  const auto exact = [&](const torch::Tensor& x) {
    return F::group_norm(x, F::GroupNormFuncOptions(2).weight(weight).bias(bias));
  };
  auto input = reference.to(torch::kFloat32)
                   .contiguous(torch::MemoryFormat::ChannelsLast3d)
                   .requires_grad_(true);
  auto norm = groupNormWith(weight, bias);
  auto normWeight = norm.ptr()->named_parameters()["weight"];
  const auto output = norm.forward(input);
  EXPECT(output.is_contiguous(torch::MemoryFormat::ChannelsLast3d));
  EXPECT_CLOSE(output.to(torch::kFloat64), exact(reference), 2e-5);
  output.backward(gradOutput.to(torch::kFloat32));
  // Gradients of the exact normalisation, in float64.
  auto exactInput = reference.clone().requires_grad_(true);
  auto exactWeight = weight.clone().requires_grad_(true);
  F::group_norm(exactInput, F::GroupNormFuncOptions(2).weight(exactWeight).bias(bias))
      .backward(gradOutput);
  EXPECT_RELATIVE(input.grad().to(torch::kFloat64), exactInput.grad(), 1e-4);
  EXPECT_RELATIVE(normWeight.grad().to(torch::kFloat64), exactWeight.grad(), 1e-4);
}

// Under bf16 autocast the backbone's maps arrive bfloat16 on CUDA: they stay so (half the
// memory of float32 activations), while statistics and gradients are float32 arithmetic on
// them. The arithmetic is the same on the CPU, where it is checked here.
TEST_CASE("group norm: a bfloat16 map stays bfloat16, normalised and differentiated in float32") {
  torch::manual_seed(4);
  // Exactly representable in bfloat16, so float64 on the same values is the reference.
  const auto reference = (torch::randn({3, 16, 9, 11}, torch::kFloat64) * 2.0 + 5.0)
                             .to(torch::kBFloat16)
                             .to(torch::kFloat64);
  const auto gradOutput = torch::randn_like(reference).to(torch::kBFloat16).to(torch::kFloat64);
  auto weight = (torch::rand({16}) + 0.5).requires_grad_(true);
  auto bias = torch::randn({16}).requires_grad_(true);
  auto input = reference.to(torch::kBFloat16).requires_grad_(true);
  const auto output = cover::core::bfloat16GroupNorm(input, weight, bias, 2, 1e-5);
  EXPECT(output.scalar_type() == torch::kBFloat16);
  auto exactInput = reference.clone().requires_grad_(true);
  auto exactWeight = weight.detach().to(torch::kFloat64).requires_grad_(true);
  auto exactBias = bias.detach().to(torch::kFloat64).requires_grad_(true);
  const auto exact =
      F::group_norm(exactInput, F::GroupNormFuncOptions(2).weight(exactWeight).bias(exactBias));
  // Rounded once, to bfloat16's 8 bits: at most half a unit in the last place.
  const auto error = (output.to(torch::kFloat64) - exact).abs() / exact.abs().clamp_min(1e-3);
  EXPECT(error.max().item<double>() <= 1.0 / 256);
  output.backward(gradOutput.to(torch::kBFloat16));
  exact.backward(gradOutput);
  EXPECT(input.grad().scalar_type() == torch::kBFloat16);
  EXPECT_RELATIVE(input.grad().to(torch::kFloat64), exactInput.grad(), 1e-2);
  // The parameters' gradients are float32 sums of exact bfloat16 values: float32 precise
  // (statistics kept in bfloat16, as LibTorch's own bfloat16 GroupNorm on CUDA keeps
  // them, would be off by ~4e-3).
  EXPECT(weight.grad().scalar_type() == torch::kFloat32);
  EXPECT_RELATIVE(weight.grad().to(torch::kFloat64), exactWeight.grad(), 1e-4);
  EXPECT_RELATIVE(bias.grad().to(torch::kFloat64), exactBias.grad(), 1e-4);
}

// CUDA's autocast runs group_norm in float32; the backbone's blocks must still hand on
// bfloat16 maps, or every layer keeps float32 copies besides the bfloat16 ones.
TEST_CASE("cuda: under bf16 autocast a backbone block's maps stay bfloat16") {
  cover::tests::requireCuda();
  for (int dims : {2, 3}) {
    torch::manual_seed(6);
    cover::core::DoubleConv block(dims, 8, 16);
    block->to(torch::kCUDA);
    std::vector<int64_t> shape{2, 8, 16, 16};
    if (dims == 3) shape.push_back(16);
    const auto input = torch::rand(shape, torch::kCUDA);
    const auto full = block->forward(input);
    torch::Tensor mixed;
    {
      at::autocast::set_autocast_enabled(torch::kCUDA, true);
      at::autocast::set_autocast_dtype(torch::kCUDA, at::kBFloat16);
      mixed = block->forward(input);
      at::autocast::set_autocast_enabled(torch::kCUDA, false);
      at::autocast::clear_cache();
    }
    EXPECT(full.scalar_type() == torch::kFloat32);
    EXPECT(mixed.scalar_type() == torch::kBFloat16);
    EXPECT(((mixed.to(torch::kFloat32) - full).norm() / full.norm()).item<double>() < 2e-2);
    mixed.to(torch::kFloat32).square().sum().backward();
    for (const auto& p : block->parameters()) {
      EXPECT(p.grad().scalar_type() == torch::kFloat32);
      EXPECT(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
}

}  // namespace
