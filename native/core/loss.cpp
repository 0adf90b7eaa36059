#include "core/loss.h"

#include "core/warp.h"

namespace cover::core {
namespace {

// The validity mask as (B, 1, *S) in the features' dtype; (B, *S) is accepted too.
torch::Tensor maskOf(const torch::Tensor& mask, const torch::Tensor& like) {
  auto eps = mask.to(like.scalar_type());
  return eps.dim() == like.dim() - 1 ? eps.unsqueeze(1) : eps;
}

// Cosine similarity over channels, (B, 1, *S), with each norm clamped at 1e-12 as
// F.normalize does: (a . b) / (max(|a|, e) max(|b|, e)). Written this way, not as the dot
// product of two normalised maps, so autograd keeps no normalised copy of either input (two
// full-resolution feature maps per step).
torch::Tensor channelCosine(const torch::Tensor& a, const torch::Tensor& b) {
  const auto norms = a.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12) *
                     b.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  return (a * b).sum(1, /*keepdim=*/true) / norms;
}

}  // namespace

torch::Tensor vectorLoss(const torch::Tensor& predicted, const torch::Tensor& target,
                         const torch::Tensor& mask) {
  TORCH_CHECK(predicted.sizes() == target.sizes(), "vector loss: predicted ", predicted.sizes(),
              " and target ", target.sizes(), " differ in shape");
  const auto eps = maskOf(mask, predicted);
  const auto perPosition = (predicted - target).abs().sum(1, /*keepdim=*/true);
  return (eps * perPosition).sum() / eps.sum().clamp_min(1.0);
}

torch::Tensor consistencyLoss(const torch::Tensor& fixedFeatures,
                              const torch::Tensor& movingFeatures, const torch::Tensor& target,
                              const torch::Tensor& mask) {
  const auto eps = maskOf(mask, fixedFeatures);
  const auto warped = warp(movingFeatures, target);
  const auto cosine = channelCosine(fixedFeatures, warped);
  return 1 - (eps * cosine).sum() / eps.sum().clamp_min(1.0);
}

torch::Tensor featureVariation(const torch::Tensor& features) {
  torch::NoGradGuard noGrad;
  const auto flat = features.flatten(2);  // (B, C, P)
  const auto centred = flat - flat.mean(2, /*keepdim=*/true);
  const auto energy = flat.pow(2).sum({1, 2}).clamp_min(1e-12);
  return (centred.pow(2).sum({1, 2}) / energy).mean();
}

}  // namespace cover::core
