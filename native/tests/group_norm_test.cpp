// GroupNorm as the backbone computes it (core/group_norm.cpp), against float64.
#include "core/group_norm.h"

#include <ATen/autocast_mode.h>

#include <functional>

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

// A bfloat16 map, normalised by `normalise` (weight and bias are its parameters), against
// float64 GroupNorm(2) on the same (bfloat16-exact) values.
void expectBfloat16GroupNorm(const torch::Tensor& map,
                             const std::function<torch::Tensor(const torch::Tensor&)>& normalise,
                             torch::Tensor weight, torch::Tensor bias) {
  const auto reference = map.to(torch::kFloat64);
  const auto gradOutput = torch::randn_like(reference).to(torch::kBFloat16).to(torch::kFloat64);
  auto input = map.detach().requires_grad_(true);
  const auto output = normalise(input);
  EXPECT(output.scalar_type() == torch::kBFloat16);
  EXPECT(output.suggest_memory_format() == map.suggest_memory_format());
  auto exactInput = reference.clone().requires_grad_(true);
  auto exactWeight = weight.detach().to(torch::kFloat64).requires_grad_(true);
  auto exactBias = bias.detach().to(torch::kFloat64).requires_grad_(true);
  const auto exact =
      F::group_norm(exactInput, F::GroupNormFuncOptions(2).weight(exactWeight).bias(exactBias));
  // Rounded once, to bfloat16's 8 significant bits (at most 1/256 relative), on top of
  // float32 arithmetic.
  const auto error = (output.to(torch::kFloat64) - exact).abs() / exact.abs().clamp_min(1e-3);
  EXPECT(error.max().item<double>() <= 1.1 / 256);
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

// Under bf16 autocast the backbone's maps arrive bfloat16: they stay so (half the memory of
// float32 activations), while statistics and gradients are float32 arithmetic on them. On
// CUDA through bfloat16GroupNorm (its arithmetic is the same on the CPU, checked here); on
// the CPU the 3D backbone's channels-last maps through the module.
TEST_CASE("group norm: a bfloat16 map stays bfloat16, normalised and differentiated in float32") {
  torch::manual_seed(4);
  const auto bfloat16Map = [](std::vector<int64_t> shape) {
    return (torch::randn(shape) * 2.0 + 5.0).to(torch::kBFloat16);
  };
  auto weight = (torch::rand({16}) + 0.5).requires_grad_(true);
  auto bias = torch::randn({16}).requires_grad_(true);
  expectBfloat16GroupNorm(
      bfloat16Map({3, 16, 9, 11}),
      [&](const torch::Tensor& x) {
        return cover::core::bfloat16GroupNorm(x, weight, bias, 2, 1e-5);
      },
      weight, bias);
  auto norm = groupNormWith(weight.detach(), bias.detach());
  const auto parameters = norm.ptr()->named_parameters();
  expectBfloat16GroupNorm(
      bfloat16Map({2, 16, 6, 7, 5}).contiguous(torch::MemoryFormat::ChannelsLast3d),
      [&](const torch::Tensor& x) { return norm.forward(x); }, parameters["weight"],
      parameters["bias"]);
}

// bf16 autocast on CUDA for a scope, restoring what was set before (also when a test fails).
class CudaBf16Autocast {
 public:
  CudaBf16Autocast()
      : wasEnabled_(at::autocast::is_autocast_enabled(torch::kCUDA)),
        previousDtype_(at::autocast::get_autocast_dtype(torch::kCUDA)) {
    at::autocast::set_autocast_enabled(torch::kCUDA, true);
    at::autocast::set_autocast_dtype(torch::kCUDA, at::kBFloat16);
  }
  ~CudaBf16Autocast() {
    at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(torch::kCUDA, wasEnabled_);
    at::autocast::set_autocast_dtype(torch::kCUDA, previousDtype_);
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool wasEnabled_;
  at::ScalarType previousDtype_;
};

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
    const auto gradientsOf = [&](const torch::Tensor& output) {
      block->zero_grad();
      output.to(torch::kFloat32).square().sum().backward();
      std::vector<torch::Tensor> grads;
      for (const auto& p : block->parameters()) grads.push_back(p.grad().clone());
      return grads;
    };
    const auto full = block->forward(input);
    const auto fullGrads = gradientsOf(full);
    torch::Tensor mixed;
    {
      CudaBf16Autocast autocast;
      mixed = block->forward(input);
    }
    EXPECT(full.scalar_type() == torch::kFloat32);
    EXPECT(mixed.scalar_type() == torch::kBFloat16);
    EXPECT(((mixed.to(torch::kFloat32) - full).norm() / full.norm()).item<double>() < 2e-2);
    // Float32 gradients of the float32 weights, as the float32 block's to bf16's precision.
    const auto mixedGrads = gradientsOf(mixed);
    for (size_t i = 0; i < fullGrads.size(); ++i) {
      EXPECT(mixedGrads[i].scalar_type() == torch::kFloat32);
      const auto error = (mixedGrads[i] - fullGrads[i]).norm() / fullGrads[i].norm();
      EXPECT(error.item<double>() < 5e-2);
    }
  }
}

}  // namespace
