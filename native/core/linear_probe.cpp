#include "core/linear_probe.h"

namespace cover::core {
namespace {

torch::Tensor standardise(const LinearProbe& probe, const torch::Tensor& features) {
  return (features.to(torch::kFloat32) - probe.mean) * probe.inverseStd;
}

}  // namespace

LinearProbe fitLinearProbe(const torch::Tensor& features, const torch::Tensor& labels,
                           int64_t classes, const LinearProbeSettings& settings) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) > 0,
              "probe features must be (N, C) with N > 0, got ", features.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0), "probe labels must be (",
              features.size(0), "), got ", labels.sizes());
  TORCH_CHECK(classes >= 2, "a probe needs at least 2 classes, got ", classes);
  const auto target = labels.to(torch::kLong);
  TORCH_CHECK(target.min().item<int64_t>() >= 0 && target.max().item<int64_t>() < classes,
              "probe labels must lie in [0, ", classes, ")");
  torch::NoGradGuard outer;
  LinearProbe probe;
  const auto x = features.to(torch::kFloat32);
  probe.mean = x.mean(0);
  const auto std = x.std(0, /*unbiased=*/false);
  // A channel whose spread is rounding noise next to its mean is constant: no weight.
  const auto varies = std > 1e-6 * probe.mean.abs().clamp_min(1.0);
  probe.inverseStd = torch::where(varies, 1.0 / std.clamp_min(1e-30), torch::zeros_like(std));
  const auto z = standardise(probe, x);

  // On the features' device, so the probe fits where they are.
  auto weight = torch::zeros({classes, x.size(1)}, x.options()).requires_grad_();
  auto bias = torch::zeros({classes}, x.options()).requires_grad_();
  torch::optim::Adam adam({weight, bias}, torch::optim::AdamOptions(settings.learningRate));
  for (int64_t step = 0; step < settings.iterations; ++step) {
    torch::AutoGradMode enable(true);
    adam.zero_grad();
    const auto logits = torch::addmm(bias, z, weight.t());
    const auto loss = torch::nn::functional::cross_entropy(logits, target) +
                      0.5 * settings.l2 * weight.pow(2).sum();
    loss.backward();
    adam.step();
  }
  probe.weight = weight.detach();
  probe.bias = bias.detach();
  return probe;
}

torch::Tensor predictLinearProbe(const LinearProbe& probe, const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 2 || (input.dim() > 2 && input.size(0) == 1),
              "probe features must be (N, C) or a feature map (1, C, *S), got ", input.sizes());
  const auto features = input.dim() == 2 ? input : input[0].flatten(1).t();
  TORCH_CHECK(features.size(1) == probe.weight.size(1) && features.size(1) == probe.weight.size(1),
              "probe features must be (N, ", probe.weight.size(1), "), got ", features.sizes());
  torch::NoGradGuard noGrad;
  return torch::addmm(probe.bias, standardise(probe, features), probe.weight.t())
      .argmax(1)
      .to(torch::kUInt8);
}

}  // namespace cover::core
