// The training step: it learns (L_vec falls well below the zero-prediction baseline), does
// not collapse, is reproducible, and its optimiser state round-trips.
#include "core/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <tuple>

#include "tests/harness.h"

namespace {

using namespace cover::core;

torch::Tensor blobs(int64_t batch, std::vector<int64_t> size, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<int64_t> shape{batch, 1};
  shape.insert(shape.end(), size.begin(), size.end());
  auto image = torch::rand(shape, generator, torch::kFloat32);
  for (int i = 0; i < 2; ++i)
    image =
        size.size() == 2 ? torch::avg_pool2d(image, 5, 1, 2) : torch::avg_pool3d(image, 5, 1, 2);
  image = (image - image.amin()) / (image.amax() - image.amin());
  return image;
}

ModelOptions smallModel(int dims) {
  ModelOptions options;
  options.dims = dims;
  options.channels = {16, 32, 32, 64, 64};
  return options;
}

TEST_CASE("trainer: a short CPU run drives L_vec well below the zero-prediction baseline") {
  torch::manual_seed(0);
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.views.cropSize = {64, 64};
  options.views.degree = 0.3;
  Trainer trainer(model, options);
  const auto images = blobs(32, {96, 96}, 1);
  // With lambda = 1 from random features, L_con first pulls F1 towards a constant and the
  // prediction stays near zero for 250-350 steps before L_vec wins; 500 steps get past that.
  double firstVec = 0, lastVec = 0, lastBaseline = 0, lastVariation = 0;
  const int steps = 500, window = 20;
  for (int s = 0; s < steps; ++s) {
    const auto batch = images.narrow(0, (s * 4) % 32, 4);
    const auto m = trainer.step(batch, 1e-3);
    if (s < window) firstVec += m.vectorLoss / window;
    if (s >= steps - window) {
      lastVec += m.vectorLoss / window;
      lastBaseline += m.zeroBaseline / window;
      lastVariation += m.featureVariation / window;
    }
  }
  std::cout << "  L_vec first " << window << " steps " << firstVec << ", last " << window << " "
            << lastVec << ", zero baseline " << lastBaseline << ", feature variation "
            << lastVariation << "\n";
  EXPECT(lastVec < 0.75 * lastBaseline);
  EXPECT(lastVec < firstVec);
  // Over seeds this run ends at 0.04-0.07; F1 collapsed to a constant reads about 0.02.
  EXPECT(lastVariation > 0.03);
}

TEST_CASE("trainer: the same seed and data give the same losses; optimiser state round-trips") {
  const auto images = blobs(2, {48, 48}, 2);
  TrainOptions options;
  options.views.cropSize = {32, 32};
  auto run = [&](int steps, Trainer*& keep, CoverModel& model) {
    torch::manual_seed(1);
    model = CoverModel(smallModel(2));
    keep = new Trainer(model, options);
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) losses.push_back(keep->step(images, 1e-3).totalLoss);
    return losses;
  };
  Trainer* first = nullptr;
  Trainer* second = nullptr;
  CoverModel modelA{nullptr}, modelB{nullptr};
  const auto a = run(3, first, modelA);
  const auto b = run(3, second, modelB);
  EXPECT(a == b);
  const auto state = first->optimizerState();
  EXPECT(!state.empty());
  second->loadOptimizerState(state);
  const auto again = second->optimizerState();
  EXPECT(again.size() == state.size());
  for (size_t i = 0; i < state.size(); ++i) EXPECT(torch::equal(state[i].second, again[i].second));
  delete first;
  delete second;
}

TEST_CASE("trainer: a training state that fails a check changes nothing") {
  torch::manual_seed(5);
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.views.cropSize = {32, 32};
  Trainer trainer(model, options);
  const auto images = blobs(2, {48, 48}, 6);
  trainer.step(images, 1e-3);
  const auto before = trainer.optimizerState();
  const auto generatorBefore = trainer.generatorState();

  // A state from another run whose last entry has the wrong shape: rejected as a whole.
  auto other = before;
  for (auto& [name, value] : other) value = value.clone().add_(1);
  other.back().second = torch::zeros({3});
  bool threw = false;
  try {
    trainer.loadTrainingState(other, generatorBefore, 7);
  } catch (const c10::Error& error) {
    threw = std::string(error.what_without_backtrace()).find("has shape") != std::string::npos;
  }
  EXPECT(threw);
  const auto after = trainer.optimizerState();
  EXPECT(after.size() == before.size());
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT(torch::equal(before[i].second, after[i].second));
  EXPECT(torch::equal(trainer.generatorState(), generatorBefore));
  EXPECT(trainer.stepsTaken() == 1);

  // A bad generator state is refused too, and the optimiser keeps its moments.
  threw = false;
  try {
    trainer.loadTrainingState(before, torch::zeros({3}, torch::kUInt8), 7);
  } catch (const c10::Error&) {
    threw = true;
  }
  EXPECT(threw);
  EXPECT(trainer.stepsTaken() == 1);

  // A state of another optimizer, one cut short, or one in another dtype: refused, nothing changed.
  const auto refusal = [&](const NamedTensorList& state) {
    try {
      trainer.loadTrainingState(state, generatorBefore, 7);
    } catch (const c10::Error& error) {
      return std::string(error.what_without_backtrace());
    }
    return std::string();
  };
  NamedTensorList sgd;
  for (const auto& [name, value] : before) {
    const auto dot = name.rfind('.');
    if (name.substr(dot) == ".exp_avg")
      sgd.emplace_back(name.substr(0, dot) + ".momentum_buffer", value);
  }
  EXPECT(refusal(sgd).find("which adam does not keep for these parameters") != std::string::npos);
  const NamedTensorList cutShort(before.begin() + 3,
                                 before.end());  // the first parameter's three entries
  EXPECT(refusal(cutShort).find("expected all of them or none") != std::string::npos);
  auto doubled = before;
  doubled[1].second = doubled[1].second.to(torch::kFloat64);
  EXPECT(refusal(doubled).find("is Double, expected Float") != std::string::npos);
  // Moments no update can go on from (the next step's weights would be NaN).
  const auto edited = [&](size_t entry, const torch::Tensor& value) {
    auto state = before;
    state[entry].second = value;
    return refusal(state);
  };
  EXPECT(before[0].first.ends_with(".step") && before[1].first.ends_with(".exp_avg") &&
         before[2].first.ends_with(".exp_avg_sq"));
  EXPECT(edited(0, torch::tensor(-5, torch::kInt64)).find("expected the number of steps taken") !=
         std::string::npos);
  EXPECT(edited(0, torch::tensor(0, torch::kInt64)).find("expected the number of steps taken") !=
         std::string::npos);
  EXPECT(edited(1, torch::full_like(before[1].second, NAN)).find("NaN or infinite") !=
         std::string::npos);
  EXPECT(edited(2, -torch::ones_like(before[2].second)).find("expected a mean of squares") !=
         std::string::npos);
  EXPECT(trainer.stepsTaken() == 1);
  const auto unchanged = trainer.optimizerState();
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT(torch::equal(before[i].second, unchanged[i].second));

  // A whole valid state is taken.
  trainer.loadTrainingState(before, generatorBefore, 9);
  EXPECT(trainer.stepsTaken() == 9);
}

TEST_CASE("trainer: bad settings are refused with a message") {
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.optimizer.kind = "lbfgs";
  bool threw = false;
  try {
    Trainer trainer(model, options);
  } catch (const c10::Error& error) {
    threw =
        std::string(error.what_without_backtrace()).find("adam, adamw or sgd") != std::string::npos;
  }
  EXPECT(threw);
}

TEST_CASE("trainer: mixedPrecision bf16 runs the backbone in bf16, the rest in float32") {
  const auto images = blobs(2, {48, 48}, 6);
  const auto stepWith = [&](const std::string& precision) {
    torch::manual_seed(8);
    CoverModel model(smallModel(2));
    TrainOptions options;
    options.views.cropSize = {32, 32};
    options.mixedPrecision = precision;
    Trainer trainer(model, options);
    const auto metrics = trainer.step(images, 1e-3);
    // The step's precision does not outlive it; gradients stay float32 like the weights.
    EXPECT(!model->backboneBf16());
    for (const auto& p : model->parameters())
      EXPECT(!p.grad().defined() || p.grad().scalar_type() == torch::kFloat32);
    return metrics;
  };
  const auto full = stepWith("none");
  const auto mixed = stepWith("bf16");
  EXPECT(!mixed.skipped && std::isfinite(mixed.totalLoss));
  // The same step (same weights, same views) to bf16's ~3 significant digits, compounded
  // through the network; not bit-equal, so the backbone really ran in bf16.
  EXPECT(mixed.vectorLoss != full.vectorLoss);
  EXPECT_NEAR(mixed.vectorLoss, full.vectorLoss, 0.05 * full.vectorLoss);
  EXPECT(mixed.zeroBaseline == full.zeroBaseline);  // the views do not depend on it
  EXPECT_NEAR(mixed.gradNorm, full.gradNorm, 0.1 * full.gradNorm);

  // encode under bf16 still hands on float32 levels.
  torch::manual_seed(8);
  CoverModel model(smallModel(2));
  model->eval();
  torch::NoGradGuard noGrad;
  const auto reference = model->encode(images, false);
  model->setBackboneBf16(true);
  const auto levels = model->encode(images, false);
  for (size_t l = 0; l < levels.size(); ++l) {
    EXPECT(levels[l].scalar_type() == torch::kFloat32);
    const double error = ((levels[l] - reference[l]).norm() / reference[l].norm()).item<double>();
    EXPECT(error > 0 && error < 0.05);
  }

  // Bad values and the combination with recompute are refused.
  for (const auto& [precision, recompute, message] :
       {std::tuple<std::string, bool, std::string>{"fp16", false, "none or bf16"},
        {"bf16", true, "cannot be combined"}}) {
    TrainOptions options;
    options.mixedPrecision = precision;
    options.recompute = recompute;
    bool threw = false;
    try {
      Trainer trainer(model, options);
    } catch (const c10::Error& error) {
      threw = std::string(error.what_without_backtrace()).find(message) != std::string::npos;
    }
    EXPECT(threw);
  }
}

// On the CPU the 3D backbone's maps are channels-last, normalised by core/group_norm.cpp's
// own GroupNorm, which under bf16 meets bfloat16 maps and float32 weights.
TEST_CASE("trainer: mixedPrecision bf16 trains a 3D model on the CPU as float32 does") {
  const auto images = blobs(1, {24, 24, 24}, 7);
  const auto stepWith = [&](const std::string& precision) {
    torch::manual_seed(9);
    CoverModel model(smallModel(3));
    TrainOptions options;
    options.views.cropSize = {16, 16, 16};
    options.mixedPrecision = precision;
    Trainer trainer(model, options);
    return trainer.step(images, 1e-3);
  };
  const auto full = stepWith("none");
  const auto mixed = stepWith("bf16");
  EXPECT(!mixed.skipped && std::isfinite(mixed.totalLoss));
  EXPECT(mixed.vectorLoss != full.vectorLoss);
  EXPECT_NEAR(mixed.vectorLoss, full.vectorLoss, 0.05 * full.vectorLoss);
  EXPECT_NEAR(mixed.gradNorm, full.gradNorm, 0.1 * full.gradNorm);
}

TEST_CASE("trainer: a non-finite loss skips the step; weights and optimiser stay as they were") {
  torch::manual_seed(3);
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.views.cropSize = {32, 32};
  Trainer trainer(model, options);
  const auto images = blobs(2, {48, 48}, 4);
  EXPECT(!trainer.step(images, 1e-3).skipped);  // creates the Adam moments
  std::vector<torch::Tensor> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
  const auto momentsBefore = trainer.optimizerState();

  auto poisoned = images.clone();
  poisoned[0].fill_(std::numeric_limits<float>::quiet_NaN());  // e.g. a corrupt image
  const auto metrics = trainer.step(poisoned, 1e-3);
  EXPECT(metrics.skipped);
  EXPECT(!std::isfinite(metrics.totalLoss) || !std::isfinite(metrics.gradNorm));
  const auto after = model->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT(torch::equal(before[i], after[i]));
  const auto momentsAfter = trainer.optimizerState();
  for (size_t i = 0; i < momentsBefore.size(); ++i)
    EXPECT(torch::equal(momentsBefore[i].second, momentsAfter[i].second));

  // Training goes on from where it was.
  const auto next = trainer.step(images, 1e-3);
  EXPECT(!next.skipped && std::isfinite(next.totalLoss));
}

TEST_CASE("trainer: an update that fails part-way says so, whatever the cause") {
  torch::manual_seed(4);
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.views.cropSize = {32, 32};
  Trainer trainer(model, options);
  const auto images = blobs(2, {48, 48}, 5);
  trainer.step(images, 1e-3);  // creates the Adam moments
  // One moment in the middle of the parameter list that no gradient fits: the update fails
  // there, after the parameters before it have moved.
  auto state = trainer.optimizerState();
  const auto params = model->parameters();
  std::vector<torch::Tensor> before;
  for (const auto& p : params) before.push_back(p.detach().clone());
  const size_t middle = params.size() / 2;
  size_t expAvgSeen = 0;
  for (auto& [name, value] : state) {
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".exp_avg") == 0 &&
        expAvgSeen++ == middle)
      value.resize_({1});
  }
  std::string message;
  try {
    trainer.step(images, 1e-3);
  } catch (const c10::Error& error) {
    message = error.what_without_backtrace();
  }
  EXPECT(message.rfind(kPartialUpdate, 0) == 0);
  EXPECT(message.find("load the last checkpoint again") != std::string::npos);
  EXPECT(!torch::equal(params.front(), before.front()));  // moved
  EXPECT(torch::equal(params.back(), before.back()));     // not reached
}

// One step of a small 2D model on 32 x 32 crops of blobs, with `configure` applied to the options.
StepMetrics smallStep(const std::function<void(TrainOptions&)>& configure, uint64_t dataSeed) {
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.views.cropSize = {32, 32};
  configure(options);
  Trainer trainer(model, options);
  return trainer.step(blobs(2, {48, 48}, dataSeed), 1e-3);
}

TEST_CASE("trainer: every consistency variant gives a finite loss and gradient") {
  for (const std::string kind : {"backbone", "centered", "projection"}) {
    torch::manual_seed(5);
    const auto m = smallStep([&](TrainOptions& o) { o.consistencyFeatures = kind; }, 6);
    EXPECT(!m.skipped && m.consistencyLoss > 0 && m.consistencyLoss < 2);
  }
  CoverModel model(smallModel(2));
  TrainOptions options;
  options.consistencyFeatures = "projected";
  bool threw = false;
  try {
    Trainer trainer(model, options);
  } catch (const c10::Error& error) {
    threw = std::string(error.what_without_backtrace()).find("backbone, centered or projection") !=
            std::string::npos;
  }
  EXPECT(threw);
}

TEST_CASE("trainer: clipGradNorm equals LibTorch's clip_grad_norm_ bit for bit") {
  for (double maxNorm : {0.5, 1e9, std::numeric_limits<double>::infinity()}) {
    std::vector<torch::Tensor> ours, theirs;
    for (const auto& shape : std::vector<std::vector<int64_t>>{{8, 3, 3}, {5}, {2, 4}}) {
      auto grad = torch::randn(shape);
      for (auto* list : {&ours, &theirs}) {
        auto parameter = torch::zeros(shape).requires_grad_(true);
        parameter.mutable_grad() = grad.clone();
        list->push_back(parameter);
      }
    }
    ours.push_back(torch::zeros({3}).requires_grad_(true));  // no gradient: left out
    const double expected = torch::nn::utils::clip_grad_norm_(theirs, maxNorm);
    const auto norm = clipGradNorm(ours, maxNorm, torch::kCPU);
    EXPECT(norm.item<double>() == expected);
    for (size_t i = 0; i < theirs.size(); ++i)
      EXPECT(torch::equal(ours[i].grad(), theirs[i].grad()));
  }
  EXPECT(clipGradNorm({torch::zeros({2}).requires_grad_(true)}, 1.0, torch::kCPU).item<double>() ==
         0);
}

TEST_CASE("trainer: on the CPU every phase is timed, with or without phaseTimings") {
  for (bool phaseTimings : {false, true}) {
    const auto m = smallStep([&](TrainOptions& o) { o.phaseTimings = phaseTimings; }, 3);
    for (double ms : {m.viewMs, m.forwardMs, m.backwardMs, m.optimizerMs}) EXPECT(ms >= 0);
    EXPECT(m.stepMs >= m.forwardMs + m.backwardMs);
  }
}

}  // namespace
