#include "core/segmentation.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "core/trainer.h"
#include "core/unet.h"

namespace cover::core {
namespace {

constexpr int64_t kMaxClasses = 1024;

// Adds this much to numerator and denominator of each class's soft Dice: a class absent
// from a batch then scores 1 when predicted nowhere, and gradients stay finite.
constexpr double kDiceSmoothing = 1.0;

std::vector<int64_t> allAxesBut(int64_t dims, int64_t keep) {
  std::vector<int64_t> axes;
  for (int64_t axis = 0; axis < dims; ++axis) {
    if (axis != keep) axes.push_back(axis);
  }
  return axes;
}

}  // namespace

void validate(const SegmentationOptions& o) {
  TORCH_CHECK(o.classes >= 2 && o.classes <= kMaxClasses, "classes must be in [2, ", kMaxClasses,
              "], got ", o.classes);
  if (!o.classWeights.empty()) {
    TORCH_CHECK(static_cast<int64_t>(o.classWeights.size()) == o.classes,
                "classWeights must have one weight per class (", o.classes, "), got ",
                o.classWeights.size());
    double sum = 0;
    for (const double w : o.classWeights) {
      TORCH_CHECK(std::isfinite(w) && w >= 0, "classWeights must be finite and >= 0, got ", w);
      sum += w;
    }
    TORCH_CHECK(sum > 0, "classWeights must not all be 0");
  }
  TORCH_CHECK(std::isfinite(o.diceWeight) && o.diceWeight >= 0,
              "diceWeight must be a finite number >= 0, got ", o.diceWeight);
  TORCH_CHECK(std::isfinite(o.gradClip) && o.gradClip >= 0,
              "gradClip must be a finite number >= 0, got ", o.gradClip);
}

SegmentationHeadImpl::SegmentationHeadImpl(const ModelOptions& model, int64_t classes,
                                           at::Generator generator)
    : classes_(classes), conv_(makeConv(model.dims, model.channels[0], classes, 1)) {
  TORCH_CHECK(classes >= 2 && classes <= kMaxClasses, "classes must be in [2, ", kMaxClasses,
              "], got ", classes);
  register_module("conv", conv_.ptr());
  initializeWeights(*this, generator);
}

torch::Tensor segmentationLogits(CoverModel& model, SegmentationHead& head,
                                 const torch::Tensor& images) {
  return head->forward(model->encode(images, /*fullResolution=*/false).front());
}

void checkLabels(const torch::Tensor& labels, const SegmentationOptions& options) {
  TORCH_CHECK(!labels.is_floating_point() && !labels.is_complex(), "labels must be integers, got ",
              labels.scalar_type());
  const auto target = labels.to(torch::kLong);
  auto outOfRange = (target < 0) | (target >= options.classes);
  if (options.ignoreLabel >= 0) outOfRange &= target != options.ignoreLabel;
  if (outOfRange.any().item<bool>()) {
    const auto bad = target.masked_select(outOfRange)[0].item<int64_t>();
    TORCH_CHECK(false, "labels must be in [0, ", options.classes, ")",
                options.ignoreLabel >= 0
                    ? " or the ignore label " + std::to_string(options.ignoreLabel)
                    : std::string(),
                ", found ", bad);
  }
}

namespace {

// The loss of labels already checked by checkLabels.
SegmentationLoss lossOfCheckedLabels(const torch::Tensor& logits, const torch::Tensor& labels,
                                     const SegmentationOptions& options) {
  const int64_t classes = logits.size(1);
  const auto target = labels.to(torch::kLong);
  const auto valid = options.ignoreLabel >= 0 ? target != options.ignoreLabel
                                              : torch::ones_like(target, torch::kBool);
  const auto safeTarget = target.masked_fill(~valid, 0);
  auto weights = options.classWeights.empty()
                     ? torch::ones({classes}, logits.options())
                     : torch::tensor(options.classWeights, torch::kDouble).to(logits.options());

  // Cross-entropy, each voxel weighted by its class's weight (PyTorch's weighted mean).
  const auto logProbabilities = torch::log_softmax(logits, 1);
  const auto picked = logProbabilities.gather(1, safeTarget.unsqueeze(1)).squeeze(1);
  const auto voxelWeights = weights.index({safeTarget}) * valid.to(logits.dtype());
  const auto crossEntropy = -(picked * voxelWeights).sum() / voxelWeights.sum().clamp_min(1e-12);

  // Soft Dice per class over the whole batch, then the class-weighted mean.
  const auto validChannel = valid.unsqueeze(1).to(logits.dtype());
  const auto probabilities = logProbabilities.exp() * validChannel;
  const auto oneHot =
      torch::one_hot(safeTarget, classes).movedim(-1, 1).to(logits.dtype()) * validChannel;
  const auto axes = allAxesBut(logits.dim(), 1);
  const auto overlap = (probabilities * oneHot).sum(axes);
  const auto sizes = probabilities.sum(axes) + oneHot.sum(axes);
  const auto dicePerClass = (2 * overlap + kDiceSmoothing) / (sizes + kDiceSmoothing);
  const auto dice = 1 - (dicePerClass * weights).sum() / weights.sum();

  return {crossEntropy + options.diceWeight * dice, crossEntropy, dice};
}

}  // namespace

SegmentationLoss segmentationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  const SegmentationOptions& options) {
  TORCH_CHECK(logits.size(1) == options.classes, "logits have ", logits.size(1),
              " classes, expected ", options.classes);
  auto expected = logits.sizes().vec();
  expected.erase(expected.begin() + 1);
  TORCH_CHECK(labels.sizes().vec() == expected, "labels of shape ", labels.sizes(),
              " do not match logits of shape ", logits.sizes(), " (expected ",
              c10::IntArrayRef(expected), ")");
  checkLabels(labels, options);
  return lossOfCheckedLabels(logits, labels, options);
}

SegmentationTrainer::SegmentationTrainer(CoverModel model, SegmentationHead head,
                                         SegmentationOptions options)
    : model_(std::move(model)), head_(std::move(head)), options_(std::move(options)) {
  validate(options_);
  TORCH_CHECK(head_->classes() == options_.classes, "the head has ", head_->classes(),
              " classes but the options ask for ", options_.classes);
  for (const auto& item : head_->named_parameters()) {
    parameters_.push_back(item.value());
    parameterNames_.push_back("segmentation_head." + item.key());
  }
  if (!options_.freezeEncoder) {
    // The projections only serve the vector pyramid: fine-tuning leaves them as they are.
    for (const auto& item : model_->named_parameters()) {
      if (item.key().rfind("backbone.", 0) != 0) continue;
      parameters_.push_back(item.value());
      parameterNames_.push_back(item.key());
    }
  }
  optimizer_ = makeOptimizer(parameters_, options_.optimizer);
}

SegmentationMetrics SegmentationTrainer::step(const torch::Tensor& images,
                                              const torch::Tensor& labels, double learningRate) {
  checkLearningRate(learningRate);
  const auto started = std::chrono::steady_clock::now();
  SegmentationMetrics metrics;
  metrics.learningRate = learningRate;
  metrics.threads = at::get_num_threads();
  const auto device = head_->parameters().front().device();
  const auto x = images.to(device);
  TORCH_CHECK(labels.dim() == x.dim() - 1 && labels.size(0) == x.size(0) &&
                  labels.sizes().slice(1) == x.sizes().slice(2),
              "labels of shape ", labels.sizes(), " do not match images of shape ", x.sizes(),
              " (expected (B, *S) for images (B, C, *S))");
  // Checked where they come from (the CPU, from JS) before they move: on a GPU the check
  // would wait for the device, and an out-of-range label would fail inside a kernel.
  checkLabels(labels, options_);

  torch::Tensor features;
  head_->train();
  if (options_.freezeEncoder) {
    torch::NoGradGuard noGrad;
    model_->eval();
    features = model_->encode(x, /*fullResolution=*/false).front();
  } else {
    model_->train();
    features = model_->encode(x, /*fullResolution=*/false).front();
  }
  // The head has options_.classes outputs (checked when the trainer was made).
  const auto loss = lossOfCheckedLabels(head_->forward(features), labels.to(device), options_);

  optimizer_->zero_grad();
  loss.total.backward();
  const double maxNorm =
      options_.gradClip > 0 ? options_.gradClip : std::numeric_limits<double>::infinity();
  const auto gradNorm = clipGradNorm(parameters_, maxNorm, device);
  // Every metric in one read back, as in Trainer::step.
  const auto read = readScalars({loss.total, loss.crossEntropy, loss.dice, gradNorm});
  metrics.loss = read[0];
  metrics.crossEntropy = read[1];
  metrics.diceLoss = read[2];
  metrics.gradNorm = read[3];
  metrics.skipped = !std::isfinite(metrics.gradNorm) || !std::isfinite(metrics.loss);
  if (metrics.skipped) {
    optimizer_->zero_grad();
  } else {
    applyUpdate(*optimizer_, learningRate);
  }
  metrics.stepMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return metrics;
}

NamedTensorList SegmentationTrainer::optimizerState() const {
  return namedOptimizerState(*optimizer_, parameterNames_);
}

void SegmentationTrainer::loadOptimizerState(const NamedTensorList& state) {
  loadNamedOptimizerState(*optimizer_, parameterNames_, options_.optimizer.kind, state);
}

}  // namespace cover::core
