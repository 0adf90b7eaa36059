// Fine-tuning: the loss against a loop written out by hand, its gradient against finite
// differences, which parameters each mode trains, and that a head learns a simple task.
#include "core/segmentation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <string>

#include "tests/harness.h"

namespace {

using namespace cover::core;

// The same loss, one voxel at a time in double precision.
double referenceLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                     const SegmentationOptions& o) {
  const int64_t classes = logits.size(1);
  const auto flatLogits = logits.to(torch::kDouble).movedim(1, -1).reshape({-1, classes});
  const auto flatLabels = labels.reshape({-1});
  const auto weight = [&](int64_t c) { return o.classWeights.empty() ? 1.0 : o.classWeights[c]; };
  double ceSum = 0, weightSum = 0;
  std::vector<double> overlap(classes, 0), predicted(classes, 0), present(classes, 0);
  for (int64_t v = 0; v < flatLabels.size(0); ++v) {
    const int64_t y = flatLabels[v].item<int64_t>();
    if (o.ignoreLabel >= 0 && y == o.ignoreLabel) continue;
    double norm = 0;
    for (int64_t c = 0; c < classes; ++c) norm += std::exp(flatLogits[v][c].item<double>());
    for (int64_t c = 0; c < classes; ++c) {
      const double p = std::exp(flatLogits[v][c].item<double>()) / norm;
      predicted[c] += p;
      if (c == y) {
        overlap[c] += p;
        present[c] += 1;
        ceSum -= weight(c) * std::log(p);
        weightSum += weight(c);
      }
    }
  }
  double dice = 0, classWeightSum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    dice += weight(c) * (2 * overlap[c] + 1) / (predicted[c] + present[c] + 1);
    classWeightSum += weight(c);
  }
  return ceSum / weightSum + o.diceWeight * (1 - dice / classWeightSum);
}

ModelOptions tinyModel() {
  ModelOptions options;
  options.channels = {8, 16, 16, 16, 16};
  options.headDim = 4;
  options.heads = {1, 1, 1, 1, 1};
  return options;
}

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

TEST_CASE("segmentation: loss equals a voxel-by-voxel reference, with class weights and ignore") {
  torch::manual_seed(3);
  SegmentationOptions o;
  o.classes = 3;
  o.classWeights = {0.5, 2.0, 1.0};
  o.ignoreLabel = 7;
  o.diceWeight = 0.7;
  const auto logits = torch::randn({2, 3, 4, 5}, torch::kDouble);
  auto labels = torch::randint(0, 3, {2, 4, 5}, torch::kLong);
  labels.index_put_({0, 1}, 7);  // one row ignored
  const auto loss = segmentationLoss(logits, labels, o);
  EXPECT_NEAR(loss.total.item<double>(), referenceLoss(logits, labels, o), 1e-10);
  EXPECT_NEAR(loss.total.item<double>(),
              loss.crossEntropy.item<double>() + 0.7 * loss.dice.item<double>(), 1e-12);
  // Logits at ignored voxels change nothing.
  auto changed = logits.clone();
  changed.index_put_({0, torch::indexing::Slice(), 1}, 100.0);
  EXPECT_NEAR(segmentationLoss(changed, labels, o).total.item<double>(), loss.total.item<double>(),
              1e-12);
  // A perfect, confident prediction scores ~0.
  const auto perfect = torch::one_hot(labels.clamp_max(2), 3).movedim(-1, 1).to(torch::kDouble);
  EXPECT_NEAR(segmentationLoss(perfect * 60, labels, o).total.item<double>(), 0.0, 1e-6);
}

TEST_CASE("segmentation: the loss gradient matches finite differences (3D, no weights)") {
  torch::manual_seed(5);
  SegmentationOptions o;
  o.classes = 2;
  const auto logits = torch::randn({1, 2, 3, 2, 2}, torch::kDouble).requires_grad_(true);
  const auto labels = torch::randint(0, 2, {1, 3, 2, 2}, torch::kLong);
  segmentationLoss(logits, labels, o).total.backward();
  const auto analytic = logits.grad().clone();
  const double h = 1e-6;
  auto flat = logits.detach().clone().reshape({-1});
  for (int64_t i = 0; i < flat.size(0); ++i) {
    auto plus = flat.clone(), minus = flat.clone();
    plus[i] += h;
    minus[i] -= h;
    const double numeric =
        (segmentationLoss(plus.reshape(logits.sizes()), labels, o).total.item<double>() -
         segmentationLoss(minus.reshape(logits.sizes()), labels, o).total.item<double>()) /
        (2 * h);
    EXPECT_NEAR(analytic.reshape({-1})[i].item<double>(), numeric, 1e-7);
  }
}

TEST_CASE("segmentation: bad labels and options are refused with the reason") {
  SegmentationOptions o;
  o.classes = 3;
  const auto logits = torch::zeros({1, 3, 2, 2});
  const auto expectError = [](auto&& call, const std::string& text) {
    try {
      call();
    } catch (const c10::Error& error) {
      EXPECT(std::string(error.what_without_backtrace()).find(text) != std::string::npos);
      return;
    }
    throw cover::tests::Failure("expected an error containing \"" + text + "\"");
  };
  expectError([&] { segmentationLoss(logits, torch::full({1, 2, 2}, 3, torch::kLong), o); },
              "labels must be in [0, 3), found 3");
  expectError([&] { segmentationLoss(logits, torch::zeros({1, 2, 3}, torch::kLong), o); },
              "do not match logits");
  expectError([&] { segmentationLoss(logits, torch::zeros({1, 2, 2}), o); },
              "labels must be integers");
  o.classWeights = {1, 2};
  expectError([&] { validate(o); }, "one weight per class (3)");
  o.classWeights = {0, 0, 0};
  expectError([&] { validate(o); }, "must not all be 0");
}

// A step whose loss is not finite changes nothing and says so.
TEST_CASE("segmentation: a non-finite loss skips the step and leaves the weights") {
  CoverModel model(tinyModel(), seeded(1));
  SegmentationHead head(model->options(), 2, seeded(2));
  SegmentationTrainer trainer(model, head, SegmentationOptions{});
  auto images = torch::rand({2, 1, 16, 16});
  images[0][0][3][5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<torch::Tensor> before;
  for (const auto& parameter : model->parameters()) before.push_back(parameter.detach().clone());
  const auto metrics = trainer.step(images, torch::zeros({2, 16, 16}, torch::kLong), 1e-2);
  EXPECT(metrics.skipped && !std::isfinite(metrics.loss));
  const auto after = model->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT(torch::equal(after[i], before[i]));
}

// Labels are checked before anything runs: a bad one stops the step with the weights and
// the optimiser untouched, and the ignore label is not out of range.
TEST_CASE("segmentation: a step with an out-of-range label changes nothing and names it") {
  CoverModel model(tinyModel(), seeded(1));
  SegmentationHead head(model->options(), 2, seeded(2));
  SegmentationOptions o;
  o.ignoreLabel = 255;
  SegmentationTrainer trainer(model, head, o);
  const auto images = torch::rand({2, 1, 16, 16});
  std::vector<torch::Tensor> before;
  for (const auto& parameter : model->parameters()) before.push_back(parameter.detach().clone());
  for (const int64_t bad : {2, -1, 254}) {
    auto labels = torch::zeros({2, 16, 16}, torch::kLong);
    labels[1][4][7] = bad;
    std::string message;
    try {
      trainer.step(images, labels, 1e-2);
    } catch (const c10::Error& error) {
      message = error.what_without_backtrace();
    }
    EXPECT(message.find("labels must be in [0, 2) or the ignore label 255, found " +
                        std::to_string(bad)) != std::string::npos);
  }
  const auto after = model->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT(torch::equal(after[i], before[i]));
  EXPECT(trainer.optimizerState().empty());
  auto labels = torch::zeros({2, 16, 16}, torch::kLong);
  labels[0][1][2] = 255;
  EXPECT(std::isfinite(trainer.step(images, labels, 1e-2).loss));
}

// The reported norm is the gradient's before clipping; the gradients the optimiser used are
// scaled down to gradClip (they stay on the parameters after the step).
TEST_CASE("segmentation: gradients are clipped to gradClip and the norm before it is reported") {
  for (const double clip : {1e-3, 0.0}) {
    CoverModel model(tinyModel(), seeded(1));
    SegmentationHead head(model->options(), 2, seeded(2));
    SegmentationOptions o;
    o.gradClip = clip;
    SegmentationTrainer trainer(model, head, o);
    const auto images = torch::rand({2, 1, 16, 16});
    const auto labels = (images[0] > 0.5).to(torch::kLong).expand({2, 16, 16});
    // GroupNorm keeps no running statistics, so these are the step's own losses.
    const auto expected =
        segmentationLoss(head->forward(model->encode(images, false).front()), labels, o);
    const auto metrics = trainer.step(images, labels, 1e-3);
    EXPECT_NEAR(metrics.loss, expected.total.item<double>(), 1e-5);
    EXPECT_NEAR(metrics.crossEntropy, expected.crossEntropy.item<double>(), 1e-5);
    EXPECT_NEAR(metrics.diceLoss, expected.dice.item<double>(), 1e-5);
    std::vector<torch::Tensor> squares;
    auto parameters = model->parameters();
    for (const auto& parameter : head->parameters()) parameters.push_back(parameter);
    for (const auto& parameter : parameters) {
      if (parameter.grad().defined()) squares.push_back(parameter.grad().pow(2).sum());
    }
    const double used = torch::stack(squares).sum().sqrt().item<double>();
    if (clip > 0) {
      EXPECT(metrics.gradNorm > 10 * clip);
      EXPECT_NEAR(used, clip, 1e-3 * clip);
    } else {
      EXPECT_NEAR(used, metrics.gradNorm, 1e-5 * metrics.gradNorm);  // 0: no clipping
    }
  }
}

TEST_CASE("segmentation: a frozen encoder trains the head only; full fine-tuning the backbone") {
  for (const bool freeze : {true, false}) {
    CoverModel model(tinyModel(), seeded(1));
    SegmentationHead head(model->options(), 2, seeded(2));
    SegmentationOptions o;
    o.freezeEncoder = freeze;
    SegmentationTrainer trainer(model, head, o);
    const auto before = [](torch::nn::Module& m) {
      std::map<std::string, torch::Tensor> copy;
      for (const auto& item : m.named_parameters()) copy[item.key()] = item.value().clone();
      return copy;
    };
    const auto modelBefore = before(*model);
    const auto headBefore = before(*head);
    // Sides not divisible by 16: encode pads and crops inside.
    const auto images = torch::rand({2, 1, 20, 23});
    const auto metrics =
        trainer.step(images, (images[0] > 0.5).to(torch::kLong).expand({2, 20, 23}), 1e-2);
    EXPECT(!metrics.skipped && std::isfinite(metrics.loss) && metrics.gradNorm > 0);
    for (const auto& item : head->named_parameters())
      EXPECT(!torch::equal(item.value(), headBefore.at(item.key())));
    for (const auto& item : model->named_parameters()) {
      const bool changed = !torch::equal(item.value(), modelBefore.at(item.key()));
      const bool backbone = item.key().rfind("backbone.", 0) == 0;
      if (freeze || !backbone) {
        EXPECT(!changed);
      } else if (item.key().find("weight") != std::string::npos) {
        EXPECT(changed);
      }
    }
  }
}

TEST_CASE("segmentation: fine-tuning learns a threshold task to Dice > 0.9 on new images") {
  CoverModel model(tinyModel(), seeded(4));
  SegmentationHead head(model->options(), 2, seeded(5));
  SegmentationOptions o;
  SegmentationTrainer trainer(model, head, o);
  torch::manual_seed(6);
  // Smooth random blobs; the label is where the image is bright.
  const auto sample = [](int64_t batch) {
    auto x = torch::avg_pool2d(torch::rand({batch, 1, 40, 40}), 5, 1, 2);
    x = (x - x.mean()) / x.std();
    return std::make_pair(x, (x.squeeze(1) > 0.3).to(torch::kLong));
  };
  for (int step = 0; step < 60; ++step) {
    const auto [x, y] = sample(4);
    trainer.step(x, y, 3e-3);
  }
  const auto [x, y] = sample(4);
  torch::NoGradGuard noGrad;
  const auto predicted = segmentationLogits(model, head, x).argmax(1);
  const auto hit = ((predicted == 1) & (y == 1)).sum().item<double>();
  const double dice =
      2 * hit / ((predicted == 1).sum().item<double>() + (y == 1).sum().item<double>());
  EXPECT(dice > 0.9);
}

TEST_CASE(
    "segmentation: a trainer restored from weights and optimizer state steps as the original") {
  for (const bool freeze : {true, false}) {
    CoverModel model(tinyModel(), seeded(7));
    SegmentationHead head(model->options(), 3, seeded(8));
    SegmentationOptions o;
    o.classes = 3;
    o.freezeEncoder = freeze;
    SegmentationTrainer trainer(model, head, o);
    torch::manual_seed(9);
    const auto images = torch::rand({2, 1, 16, 16});
    const auto labels = torch::randint(0, 3, {2, 16, 16}, torch::kLong);
    trainer.step(images, labels, 1e-2);
    const auto state = trainer.optimizerState();
    // One Adam entry triple per learning parameter: the head's two, and the backbone's.
    EXPECT(state.size() % 3 == 0 && (freeze ? state.size() == 6 : state.size() > 6));
    EXPECT(state.front().first.rfind("segmentation_head.conv.", 0) == 0);

    // A copy of the weights with a fresh optimiser, then the saved state.
    CoverModel copyModel(tinyModel(), seeded(10));
    SegmentationHead copyHead(model->options(), 3, seeded(11));
    {
      torch::NoGradGuard noGrad;
      const auto copyFrom = [](torch::nn::Module& to, torch::nn::Module& from) {
        auto source = from.named_parameters();
        for (auto& item : to.named_parameters()) item.value().copy_(source[item.key()]);
      };
      copyFrom(*copyModel, *model);
      copyFrom(*copyHead, *head);
    }
    SegmentationTrainer restored(copyModel, copyHead, o);
    // Incomplete state is refused and changes nothing.
    auto missing = state;
    missing.pop_back();
    bool threw = false;
    try {
      restored.loadOptimizerState(missing);
    } catch (const c10::Error& error) {
      threw = std::string(error.what()).find("is missing") != std::string::npos;
    }
    EXPECT(threw);
    EXPECT(restored.optimizerState().empty());
    restored.loadOptimizerState(state);

    const auto a = trainer.step(images, labels, 1e-2);
    const auto b = restored.step(images, labels, 1e-2);
    EXPECT(a.loss == b.loss);
    auto restoredHead = copyHead->named_parameters();
    for (const auto& item : head->named_parameters())
      EXPECT(torch::equal(item.value(), restoredHead[item.key()]));
    auto restoredModel = copyModel->named_parameters();
    for (const auto& item : model->named_parameters())
      EXPECT(torch::equal(item.value(), restoredModel[item.key()]));
  }
}

}  // namespace
