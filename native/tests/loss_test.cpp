// Losses against values computed by hand.
#include "core/loss.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/warp.h"
#include "tests/harness.h"

namespace {

using namespace cover::core;

TEST_CASE("loss: vector loss is the masked mean of per-position L1 distances") {
  // Two positions valid: |1-0| + |2-1| = 2 and |0-0| + |-1-2| = 3 -> (2 + 3) / 2 = 2.5.
  auto predicted = torch::tensor({1.0, 0.0, 5.0, 2.0, -1.0, 7.0}).reshape({1, 2, 1, 3});
  auto target = torch::tensor({0.0, 0.0, 0.0, 1.0, 2.0, 0.0}).reshape({1, 2, 1, 3});
  auto mask = torch::tensor({1.0, 1.0, 0.0}).reshape({1, 1, 1, 3});
  EXPECT_NEAR(vectorLoss(predicted, target, mask).item<double>(), 2.5, 1e-12);
}

TEST_CASE("loss: consistency loss is 1 - masked mean cosine after warping by the target") {
  // Fixed features at two positions: (1,0) and (0,1). Moving features identical; zero
  // target -> cosines 1 and 1 -> loss 0. Moving (1,1)/sqrt2 at both -> cos = 0.7071 each.
  auto fixed = torch::tensor({1.0, 0.0, 0.0, 1.0}).reshape({1, 2, 1, 2});
  auto zeroField = torch::zeros({1, 2, 1, 2});
  auto mask = torch::ones({1, 1, 1, 2});
  EXPECT_NEAR(consistencyLoss(fixed, fixed, zeroField, mask).item<double>(), 0.0, 1e-7);
  auto moving = torch::tensor({3.0, 3.0, 3.0, 3.0}).reshape({1, 2, 1, 2});
  EXPECT_NEAR(consistencyLoss(fixed, moving, zeroField, mask).item<double>(), 1 - std::sqrt(0.5),
              1e-7);
  // Shift: the target samples moving at x + 1 along W; only position 0 is valid.
  auto shifted = torch::tensor({0.0, 1.0, 0.0, 0.0}).reshape({1, 2, 1, 2});  // (0,0) then (1,0)
  auto field = torch::zeros({1, 2, 1, 2});
  field.select(1, 1).fill_(1);
  auto firstOnly = torch::tensor({1.0, 0.0}).reshape({1, 1, 1, 2});
  // warp(moving, field)(0) = moving(1) = (1, 0) and fixed(0) = (1, 0): cosine 1, loss 0.
  EXPECT_NEAR(consistencyLoss(fixed, shifted, field, firstOnly).item<double>(), 0.0, 1e-7);
}

TEST_CASE("loss: consistency loss and its gradients equal the normalise-then-dot form") {
  // The straightforward form with F.normalize's semantics, x / max(|x|, 1e-12), in float64;
  // then again with one all-zero feature vector (its cosine is 0, its gradient finite).
  const auto normalised = [](const torch::Tensor& x) {
    return x / x.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  };
  for (const bool withZero : {false, true}) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
    const auto fixed = torch::randn({2, 5, 6, 7}, generator, torch::kFloat64);
    if (withZero) fixed.select(0, 1).select(1, 2).select(1, 3).zero_();
    const auto moving = torch::randn({2, 5, 6, 7}, generator, torch::kFloat64);
    const auto target = torch::rand({2, 2, 6, 7}, generator, torch::kFloat64) * 2 - 1;
    const auto mask =
        (torch::rand({2, 1, 6, 7}, generator, torch::kFloat64) > 0.3).to(torch::kFloat64);
    std::vector<torch::Tensor> gradients[2];
    double losses[2];
    for (int form = 0; form < 2; ++form) {
      const auto f = fixed.clone().requires_grad_(true);
      const auto m = moving.clone().requires_grad_(true);
      torch::Tensor loss;
      if (form == 0) {
        loss = consistencyLoss(f, m, target, mask);
      } else {
        const auto cosine = (normalised(f) * normalised(cover::core::warp(m, target))).sum(1, true);
        loss = 1 - (mask * cosine).sum() / mask.sum();
      }
      loss.backward();
      losses[form] = loss.item<double>();
      gradients[form] = {f.grad(), m.grad()};
    }
    EXPECT_NEAR(losses[0], losses[1], 1e-14);
    for (int i = 0; i < 2; ++i) {
      EXPECT(torch::isfinite(gradients[0][i]).all().item<bool>());
      EXPECT(gradients[0][i].abs().sum().item<double>() > 0);
      // With the zero vector both forms' gradients there are ~1/1e-12 (the clamp's scale).
      const double difference =
          withZero ? cover::tests::maxRelativeDiff(gradients[0][i], gradients[1][i])
                   : cover::tests::maxAbsDiff(gradients[0][i], gradients[1][i]);
      EXPECT(difference < 1e-12);
    }
  }
}

TEST_CASE("loss: feature variation is 0 for constant features, ~1 for centred random ones") {
  EXPECT_NEAR(featureVariation(torch::ones({2, 8, 4, 4}) * 3).item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(featureVariation(torch::randn({2, 8, 64, 64})).item<double>(), 1.0, 0.01);
  // Half the energy in a constant offset: 1 + 1 = 2 per channel, 1 of it varying.
  const auto x = torch::randn({1, 4, 128, 128}) + 1.0;
  EXPECT_NEAR(featureVariation(x).item<double>(), 0.5, 0.01);
}

}  // namespace
