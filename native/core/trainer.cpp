#include "core/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/ScopeExit.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/loss.h"

namespace cover::core {
namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Timings must not include queued device work.
void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const std::vector<torch::Tensor>& parameters,
                                                       const OptimizerOptions& o) {
  if (o.kind == "adam") {
    return std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(1e-3)
                                                                .betas({o.beta1, o.beta2})
                                                                .eps(o.eps)
                                                                .weight_decay(o.weightDecay));
  }
  if (o.kind == "adamw") {
    return std::make_unique<torch::optim::AdamW>(parameters, torch::optim::AdamWOptions(1e-3)
                                                                 .betas({o.beta1, o.beta2})
                                                                 .eps(o.eps)
                                                                 .weight_decay(o.weightDecay));
  }
  if (o.kind == "sgd") {
    return std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(1e-3)
                                                               .momentum(o.momentum)
                                                               .nesterov(o.nesterov)
                                                               .weight_decay(o.weightDecay));
  }
  TORCH_CHECK(false, "optimizer must be adam, adamw or sgd, got \"", o.kind, "\"");
}

Trainer::Trainer(CoverModel model, TrainOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options_.seed)) {
  TORCH_CHECK(options_.gradClip >= 0, "gradClip must be >= 0, got ", options_.gradClip);
  TORCH_CHECK(options_.consistencyWeight >= 0, "consistencyWeight must be >= 0, got ",
              options_.consistencyWeight);
  const auto& kind = options_.consistencyFeatures;
  TORCH_CHECK(kind == "backbone" || kind == "centered" || kind == "projection",
              "consistencyFeatures must be backbone, centered or projection, got \"", kind, "\"");
  TORCH_CHECK(options_.mixedPrecision == "none" || options_.mixedPrecision == "bf16",
              "mixedPrecision must be none or bf16, got \"", options_.mixedPrecision, "\"");
  TORCH_CHECK(!(options_.recompute && options_.mixedPrecision == "bf16"),
              "recompute and mixedPrecision bf16 cannot be combined (the recomputed backward "
              "would run in float32); choose one");
  model_->setRecompute(options_.recompute);
  std::vector<torch::Tensor> parameters;
  for (const auto& item : model_->named_parameters()) {
    parameterNames_.push_back(item.key());
    parameters.push_back(item.value());
  }
  optimizer_ = makeOptimizer(parameters, options_.optimizer);
}

torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm,
                           const torch::Device& device) {
  std::vector<torch::Tensor> norms;
  std::vector<torch::Tensor> grads;
  for (const auto& parameter : parameters) {
    if (!parameter.grad().defined()) continue;
    grads.push_back(parameter.grad());
    norms.push_back(parameter.grad().data().norm(2));
  }
  if (norms.empty()) return torch::zeros({}, torch::TensorOptions(device).dtype(torch::kFloat32));
  const auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  const auto coefficient = torch::clamp(maxNorm / (total + 1e-6), std::nullopt, 1.0);
  for (auto& grad : grads) grad.data().mul_(coefficient);
  return total;
}

void applyUpdate(torch::optim::Optimizer& optimizer, double learningRate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(learningRate);
  try {
    optimizer.step();
  } catch (const std::exception& error) {
    const auto* torchError = dynamic_cast<const c10::Error*>(&error);
    TORCH_CHECK(false, kPartialUpdate, " (",
                torchError ? torchError->what_without_backtrace() : error.what(),
                "): some weights may have moved and others not. Do not save or train on "
                "these weights; load the last checkpoint again.");
  }
}

void checkLearningRate(double learningRate) {
  TORCH_CHECK(learningRate >= 0 && learningRate <= std::numeric_limits<float>::max(),
              "learning rate must be a number between 0 and 3.4e38 (the largest float32), got ",
              learningRate);
}

std::vector<double> readScalars(const std::vector<torch::Tensor>& scalars) {
  std::vector<torch::Tensor> asDouble;
  for (const auto& x : scalars) asDouble.push_back(x.detach().reshape({}).to(torch::kFloat64));
  const auto values = torch::stack(asDouble).to(torch::kCPU);
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

StepMetrics Trainer::step(const torch::Tensor& images, double learningRate) {
  checkLearningRate(learningRate);
  const auto device = model_->parameters().front().device();
  const auto started = Clock::now();
  StepMetrics metrics;
  metrics.learningRate = learningRate;
  metrics.threads = at::get_num_threads();
  model_->train();
  // The backbone's precision is the trainer's choice for its own steps only: forward and
  // encode calls between steps keep the model's setting.
  const bool previousBf16 = model_->backboneBf16();
  model_->setBackboneBf16(options_.mixedPrecision == "bf16");
  const auto restorePrecision =
      c10::make_scope_exit([&] { model_->setBackboneBf16(previousBf16); });

  // Phases are timed where waiting costs nothing (CPU) or where it was asked for.
  const bool timePhases = !device.is_cuda() || options_.phaseTimings;
  const auto phaseDone = [&](Clock::time_point start) {
    if (!timePhases) return std::numeric_limits<double>::quiet_NaN();
    synchronize(device);
    return millisecondsSince(start);
  };
  auto phase = Clock::now();
  const double reach = 31.0 * static_cast<double>(model_->options().radius);
  const Views views = generateViews(images.to(device), options_.views, reach, generator_);
  metrics.viewMs = phaseDone(phase);

  phase = Clock::now();
  const auto output = model_->forward(views.moving, views.fixed);
  const auto lossVector = vectorLoss(output.displacement, views.target, views.mask);
  const auto lossConsistency = consistencyOf(output, views);
  metrics.consistencyWeight = currentConsistencyWeight();
  const auto total = lossVector + metrics.consistencyWeight * lossConsistency;
  metrics.forwardMs = phaseDone(phase);

  phase = Clock::now();
  optimizer_->zero_grad();
  total.backward();
  metrics.backwardMs = phaseDone(phase);

  phase = Clock::now();
  const double maxNorm =
      options_.gradClip > 0 ? options_.gradClip : std::numeric_limits<double>::infinity();
  const auto gradNorm = clipGradNorm(model_->parameters(), maxNorm, device);
  const auto zeroBaseline = vectorLoss(torch::zeros_like(views.target), views.target, views.mask);
  const auto variation = featureVariation(output.fixedFeatures);
  // Every metric, the views' fractions included, in one read back.
  const auto read = readScalars({total, lossVector, lossConsistency, zeroBaseline, variation,
                                 gradNorm, views.reachableFraction, views.validFraction});
  metrics.totalLoss = read[0];
  metrics.vectorLoss = read[1];
  metrics.consistencyLoss = read[2];
  metrics.zeroBaseline = read[3];
  metrics.featureVariation = read[4];
  metrics.gradNorm = read[5];
  metrics.reachableFraction = read[6];
  metrics.validFraction = read[7];
  // A non-finite loss or gradient (a corrupt batch, an overflow) must never reach the
  // weights or the optimiser's moments: the step is dropped and reported.
  metrics.skipped = !std::isfinite(metrics.gradNorm) || !std::isfinite(metrics.totalLoss);
  if (metrics.skipped) {
    optimizer_->zero_grad();
  } else {
    applyUpdate(*optimizer_, learningRate);
  }
  // Without phase timings the optimiser's work is left queued: the next step's read back
  // waits for it, and the device never idles between steps.
  metrics.optimizerMs = phaseDone(phase);

  metrics.stepMs = millisecondsSince(started);
  ++steps_;
  return metrics;
}

torch::Tensor Trainer::consistencyOf(const CoverOutput& output, const Views& views) const {
  const auto& kind = options_.consistencyFeatures;
  if (kind == "projection") {
    return consistencyLoss(output.fixedProjected, model_->projectFinest(output.movingFeatures),
                           views.target, views.mask);
  }
  if (kind == "centered") {
    const auto centred = [](const torch::Tensor& x) {
      std::vector<int64_t> spatial;
      for (int64_t axis = 2; axis < x.dim(); ++axis) spatial.push_back(axis);
      return x - x.mean(spatial, /*keepdim=*/true);
    };
    return consistencyLoss(centred(output.fixedFeatures), centred(output.movingFeatures),
                           views.target, views.mask);
  }
  return consistencyLoss(output.fixedFeatures, output.movingFeatures, views.target, views.mask);
}

double Trainer::currentConsistencyWeight() const {
  const auto warmup = options_.consistencyWarmupSteps;
  if (warmup <= 0 || steps_ >= warmup) return options_.consistencyWeight;
  return options_.consistencyWeight * static_cast<double>(steps_) / static_cast<double>(warmup);
}

NamedTensorList namedOptimizerState(torch::optim::Optimizer& optimizer,
                                    const std::vector<std::string>& names) {
  NamedTensorList state;
  const auto& params = optimizer.param_groups().front().params();
  TORCH_CHECK(names.size() == params.size(), "optimizer state: ", names.size(), " names for ",
              params.size(), " parameters");
  const auto& perParameter = optimizer.state();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto found = perParameter.find(params[i].unsafeGetTensorImpl());
    if (found == perParameter.end()) continue;
    const std::string& name = names[i];
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(found->second.get())) {
      state.emplace_back(name + ".step", torch::tensor(adam->step(), torch::kInt64));
      state.emplace_back(name + ".exp_avg", adam->exp_avg());
      state.emplace_back(name + ".exp_avg_sq", adam->exp_avg_sq());
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(found->second.get())) {
      state.emplace_back(name + ".step", torch::tensor(adamw->step(), torch::kInt64));
      state.emplace_back(name + ".exp_avg", adamw->exp_avg());
      state.emplace_back(name + ".exp_avg_sq", adamw->exp_avg_sq());
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(found->second.get())) {
      if (sgd->momentum_buffer().defined())
        state.emplace_back(name + ".momentum_buffer", sgd->momentum_buffer());
    }
  }
  return state;
}

namespace {

void checkShape(const torch::Tensor& value, const torch::Tensor& param, const std::string& key) {
  TORCH_CHECK(value.sizes() == param.sizes(), "optimizer state \"", key, "\" has shape ",
              value.sizes(), ", expected ", param.sizes());
  TORCH_CHECK(value.scalar_type() == param.scalar_type(), "optimizer state \"", key, "\" is ",
              value.scalar_type(), ", expected ", param.scalar_type());
}

// Moments that Adam or momentum can go on from: finite, and (second moments) not negative.
// Anything else turns the next update's weights into NaN while the step looks normal.
void checkMoment(const torch::Tensor& value, const std::string& key, bool nonNegative) {
  TORCH_CHECK(torch::isfinite(value).all().item<bool>(), "optimizer state \"", key,
              "\" holds NaN or infinite values; expected finite moments");
  TORCH_CHECK(!nonNegative || (value >= 0).all().item<bool>(), "optimizer state \"", key,
              "\" holds negative values; expected a mean of squares (>= 0)");
}

// A state is of this optimizer over these parameters, whole: every key one this kind keeps
// for one of them, and for all of them or none (every parameter takes part in every step, so
// a state that covers some is cut short or another model's). Anything else would load as
// moments silently dropped or left at zero.
void checkStateCoverage(const std::vector<std::string>& names, const std::string& kind,
                        const std::map<std::string, torch::Tensor>& byName) {
  const std::vector<std::string> suffixes =
      kind == "sgd" ? std::vector<std::string>{".momentum_buffer"}
                    : std::vector<std::string>{".step", ".exp_avg", ".exp_avg_sq"};
  std::set<std::string> expected;
  for (const auto& name : names)
    for (const auto& suffix : suffixes) expected.insert(name + suffix);
  for (const auto& [key, value] : byName) {
    TORCH_CHECK(expected.count(key) > 0, "optimizer state has \"", key, "\", which ", kind,
                " does not keep for these parameters (a state of another optimizer or model?)");
  }
  size_t covered = 0;
  std::string uncovered;
  for (const auto& name : names) {
    if (byName.count(name + suffixes.front()) > 0)
      ++covered;
    else if (uncovered.empty())
      uncovered = name;
  }
  TORCH_CHECK(covered == 0 || covered == names.size(), "optimizer state covers ", covered, " of ",
              names.size(), " parameters (none for \"", uncovered,
              "\"); expected all of them or none");
}

}  // namespace

void loadNamedOptimizerState(torch::optim::Optimizer& optimizer,
                             const std::vector<std::string>& names, const std::string& kind,
                             const NamedTensorList& state) {
  std::map<std::string, torch::Tensor> byName(state.begin(), state.end());
  const auto& params = optimizer.param_groups().front().params();
  TORCH_CHECK(names.size() == params.size(), "optimizer state: ", names.size(), " names for ",
              params.size(), " parameters");
  const auto take = [&](const std::string& key) {
    const auto found = byName.find(key);
    TORCH_CHECK(found != byName.end(), "optimizer state is missing \"", key, "\"");
    return found->second;
  };
  checkStateCoverage(names, kind, byName);
  // Every entry is built and checked first; the optimiser's state is replaced only after.
  std::vector<std::pair<void*, std::unique_ptr<torch::optim::OptimizerParamState>>> entries;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = names[i];
    const auto device = params[i].device();
    std::unique_ptr<torch::optim::OptimizerParamState> entry;
    if (kind == "adam" || kind == "adamw") {
      if (!byName.count(name + ".step")) continue;  // parameter not stepped yet
      const auto step = take(name + ".step").item<int64_t>();
      // A parameter has state once it took a step; Adam's bias correction divides by
      // 1 - beta^step, zero at step 0.
      TORCH_CHECK(step >= 1, "optimizer state \"", name, ".step\" is ", step,
                  "; expected the number of steps taken (>= 1)");
      const auto expAvg = take(name + ".exp_avg");
      const auto expAvgSq = take(name + ".exp_avg_sq");
      checkShape(expAvg, params[i], name + ".exp_avg");
      checkShape(expAvgSq, params[i], name + ".exp_avg_sq");
      checkMoment(expAvg, name + ".exp_avg", false);
      checkMoment(expAvgSq, name + ".exp_avg_sq", true);
      if (kind == "adam") {
        auto adam = std::make_unique<torch::optim::AdamParamState>();
        adam->step(step).exp_avg(expAvg.to(device).clone()).exp_avg_sq(expAvgSq.to(device).clone());
        entry = std::move(adam);
      } else {
        auto adamw = std::make_unique<torch::optim::AdamWParamState>();
        adamw->step(step)
            .exp_avg(expAvg.to(device).clone())
            .exp_avg_sq(expAvgSq.to(device).clone());
        entry = std::move(adamw);
      }
    } else {
      if (!byName.count(name + ".momentum_buffer")) continue;
      const auto buffer = take(name + ".momentum_buffer");
      checkShape(buffer, params[i], name + ".momentum_buffer");
      checkMoment(buffer, name + ".momentum_buffer", false);
      auto sgd = std::make_unique<torch::optim::SGDParamState>();
      sgd->momentum_buffer(buffer.to(device).clone());
      entry = std::move(sgd);
    }
    entries.emplace_back(params[i].unsafeGetTensorImpl(), std::move(entry));
  }
  auto& perParameter = optimizer.state();
  perParameter.clear();
  for (auto& [key, entry] : entries) perParameter[key] = std::move(entry);
}

NamedTensorList Trainer::optimizerState() const {
  return namedOptimizerState(*optimizer_, parameterNames_);
}

void Trainer::loadOptimizerState(const NamedTensorList& state) {
  loadNamedOptimizerState(*optimizer_, parameterNames_, options_.optimizer.kind, state);
}

void Trainer::loadTrainingState(const NamedTensorList& optimizer, const torch::Tensor& generator,
                                int64_t steps) {
  TORCH_CHECK(steps >= 0, "steps must be non-negative, got ", steps);
  // The generator checks its state as it takes it; put the old one back if the optimiser's
  // state then fails its checks, so a failure changes nothing.
  const auto previousGenerator = generator_.get_state();
  generator_.set_state(generator);
  try {
    loadOptimizerState(optimizer);
  } catch (...) {
    generator_.set_state(previousGenerator);
    throw;
  }
  steps_ = steps;
}

}  // namespace cover::core
