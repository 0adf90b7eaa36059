#include "addon/model_wrap.h"

#include <torch/cuda.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "addon/js_errors.h"
#include "addon/model_helpers.h"
#include "addon/options_convert.h"
#include "addon/tensor_convert.h"

namespace cover::addon {
namespace {

Napi::Object metricsToJs(Napi::Env env, const core::StepMetrics& m) {
  auto result = Napi::Object::New(env);
  result.Set("vectorLoss", m.vectorLoss);
  result.Set("consistencyLoss", m.consistencyLoss);
  result.Set("totalLoss", m.totalLoss);
  result.Set("zeroBaseline", m.zeroBaseline);
  result.Set("gradNorm", m.gradNorm);
  result.Set("reachableFraction", m.reachableFraction);
  result.Set("validFraction", m.validFraction);
  result.Set("featureVariation", m.featureVariation);
  result.Set("learningRate", m.learningRate);
  result.Set("consistencyWeight", m.consistencyWeight);
  result.Set("skipped", m.skipped);
  result.Set("threads", m.threads);
  auto timings = Napi::Object::New(env);
  timings.Set("viewsMs", m.viewMs);
  timings.Set("forwardMs", m.forwardMs);
  timings.Set("backwardMs", m.backwardMs);
  timings.Set("optimizerMs", m.optimizerMs);
  timings.Set("stepMs", m.stepMs);
  result.Set("timings", timings);
  return result;
}

core::Trainer& configuredTrainer(ModelState& state) {
  TORCH_CHECK(state.trainerError.empty(), "configureTraining() failed: ", state.trainerError);
  TORCH_CHECK(state.trainer, "Call configureTraining() before using the trainer");
  return *state.trainer;
}

int64_t parameterBytes(const core::CoverModel& model) {
  int64_t bytes = 0;
  for (const auto& p : model->parameters()) bytes += p.numel() * p.element_size();
  return bytes;
}

}  // namespace

Napi::Function ModelWrap::DefineClass(Napi::Env env) {
  return Napi::ObjectWrap<ModelWrap>::DefineClass(
      env, "Model",
      {
          InstanceMethod<&ModelWrap::Build>("build"),
          InstanceMethod<&ModelWrap::Forward>("forward"),
          InstanceMethod<&ModelWrap::Encode>("encode"),
          InstanceMethod<&ModelWrap::ConfigureTraining>("configureTraining"),
          InstanceMethod<&ModelWrap::TrainStep>("trainStep"),
          InstanceMethod<&ModelWrap::StateDict>("stateDict"),
          InstanceMethod<&ModelWrap::LoadStateDict>("loadStateDict"),
          InstanceMethod<&ModelWrap::TrainingState>("trainingState"),
          InstanceMethod<&ModelWrap::LoadTrainingState>("loadTrainingState"),
          InstanceMethod<&ModelWrap::Dispose>("dispose"),
          InstanceMethod<&ModelWrap::CreateSegmentationHead>("createSegmentationHead"),
          InstanceMethod<&ModelWrap::ConfigureSegmentation>("configureSegmentation"),
          InstanceMethod<&ModelWrap::SegmentationStep>("segmentationStep"),
          InstanceMethod<&ModelWrap::Segment>("segment"),
          InstanceMethod<&ModelWrap::SegmentationHeadState>("segmentationHeadState"),
          InstanceMethod<&ModelWrap::LoadSegmentationHeadState>("loadSegmentationHeadState"),
          InstanceMethod<&ModelWrap::SegmentationTrainingState>("segmentationTrainingState"),
          InstanceMethod<&ModelWrap::LoadSegmentationTrainingState>(
              "loadSegmentationTrainingState"),
      });
}

// Cheap and synchronous: reads the options and starts the executor. The network itself is
// built by build(), on the executor.
ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected an options object for Model");
  const auto object = info[0].As<Napi::Object>();
  guarded(env, [&] {
    options_ = modelOptionsFromJs(object);
    core::validate(options_);
    return 0;
  });
  const Napi::Value seed = object.Get("seed");
  if (seed.IsNumber()) seed_ = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
  const Napi::Value device = object.Get("device");
  if (!device.IsUndefined() && !device.IsString())
    throw Napi::TypeError::New(env, "Expected a string for device");
  device_ = device.IsString() ? device.As<Napi::String>().Utf8Value() : "cpu";
  if (device_ != "auto") {
    guarded(env, [&] {
      (void)torch::Device(device_);  // a malformed name fails here, on the caller's line
      return 0;
    });
  }
  executor_ = ModelExecutor::Start(env, "cover-torch.Model");
}

ModelWrap::~ModelWrap() {
  if (!executor_) return;
  memory_->release(Env());
  executor_->Close();
}

ModelExecutor& ModelWrap::live(Napi::Env env) const {
  if (!executor_ || executor_->closed())
    throw Napi::Error::New(env, "This model was disposed; create or load a new one");
  return *executor_;
}

void ExternalMemory::report(Napi::Env env, int64_t bytes) {
  if (released_) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes - reported_);
  reported_ = bytes;
}

void ExternalMemory::release(Napi::Env env) {
  report(env, 0);
  released_ = true;
}

Napi::Value ModelWrap::Build(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const auto options = options_;
  const auto deviceName = device_;
  const auto seed = seed_;
  struct Built {
    int64_t parameters, bytes;
    std::string device;
  };
  return live(env).Submit<Built>(
      env,
      [options, deviceName, seed](ModelState& state) {
        TORCH_CHECK(!state.model, "build() was already called");
        // "auto" asks CUDA here, on the executor: never on the JS thread.
        const torch::Device device(deviceName != "auto"          ? deviceName
                                   : torch::cuda::is_available() ? "cuda:0"
                                                                 : "cpu");
        if (device.is_cuda()) {
          TORCH_CHECK(torch::cuda::is_available(), "device \"", device.str(),
                      "\" was asked for, but this LibTorch sees no CUDA device");
          TORCH_CHECK(device.index() < static_cast<int>(torch::cuda::device_count()), "device \"",
                      device.str(), "\" was asked for, but only ", torch::cuda::device_count(),
                      " CUDA device(s) exist");
        }
        // Drawn on the CPU from the model's own generator, then moved: the same seed gives
        // the same weights on every device and whatever other models do meanwhile.
        auto generator = at::make_generator<at::CPUGeneratorImpl>(
            seed ? *seed : c10::detail::getNonDeterministicRandom());
        core::CoverModel model(options, generator);
        model->to(device);
        state.model = model;
        return Built{core::parameterCount(*model), parameterBytes(model), device.str()};
      },
      [memory = memory_](Napi::Env env, Built& built) -> Napi::Value {
        memory->report(env, built.bytes);
        auto result = Napi::Object::New(env);
        result.Set("parameterCount", static_cast<double>(built.parameters));
        result.Set("device", built.device);
        return result;
      });
}

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto moving = tensorFromJs(info[0], "moving");
    auto fixed = tensorFromJs(info[1], "fixed");
    return executor.Submit<core::CoverOutput>(
        env,
        [moving, fixed](ModelState& state) {
          auto& model = builtModel(state);
          torch::NoGradGuard noGrad;
          model->eval();
          const auto device = modelDevice(model);
          auto out = model->forward(moving.to(device), fixed.to(device));
          const auto toHost = [](const torch::Tensor& t) { return t.to(torch::kCPU).contiguous(); };
          return core::CoverOutput{
              toHost(out.displacement), toHost(out.movingFeatures), toHost(out.fixedFeatures), {}};
        },
        [](Napi::Env env, core::CoverOutput& out) -> Napi::Value {
          auto result = Napi::Object::New(env);
          result.Set("displacement", tensorToJs(env, out.displacement));
          result.Set("movingFeatures", tensorToJs(env, out.movingFeatures));
          result.Set("fixedFeatures", tensorToJs(env, out.fixedFeatures));
          return result;
        });
  });
}

Napi::Value ModelWrap::Encode(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (info.Length() < 2 || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "Expected a boolean for fullResolution");
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    const bool fullResolution = info[1].As<Napi::Boolean>().Value();
    return executor.Submit<std::vector<torch::Tensor>>(
        env,
        [images, fullResolution](ModelState& state) {
          auto& model = builtModel(state);
          torch::NoGradGuard noGrad;
          model->eval();
          auto levels = model->encode(images.to(modelDevice(model)), fullResolution);
          for (auto& level : levels) level = level.to(torch::kCPU).contiguous();
          return levels;
        },
        [](Napi::Env env, std::vector<torch::Tensor>& levels) -> Napi::Value {
          auto result = Napi::Array::New(env, levels.size());
          for (size_t i = 0; i < levels.size(); ++i)
            result.Set(static_cast<uint32_t>(i), tensorToJs(env, levels[i]));
          return result;
        });
  });
}

// Queued like any call, so it applies before the trainStep calls made after it. A failure
// is kept and reported by the next call that needs the trainer.
Napi::Value ModelWrap::ConfigureTraining(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected a training options object");
  return guarded(env, [&]() -> Napi::Value {
    auto options = trainOptionsFromJs(info[0].As<Napi::Object>());
    trainingConfigured_ = true;
    return executor.Submit<int64_t>(
        env,
        [options](ModelState& state) {
          state.trainer.reset();
          state.trainerError.clear();
          try {
            state.trainer = std::make_unique<core::Trainer>(builtModel(state), options);
          } catch (...) {
            state.trainerError = currentExceptionMessage();
            throw;
          }
          // The optimiser's moments: two more copies of the parameters for Adam.
          return 3 * parameterBytes(state.model);
        },
        [memory = memory_](Napi::Env env, int64_t& bytes) -> Napi::Value {
          memory->report(env, bytes);
          return env.Undefined();
        });
  });
}

Napi::Value ModelWrap::TrainStep(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (!trainingConfigured_)
    throw Napi::Error::New(env, "Call configureTraining() before trainStep()");
  if (info.Length() < 2 || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "Expected a number for learningRate");
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    const double learningRate = info[1].As<Napi::Number>().DoubleValue();
    return executor.Submit<core::StepMetrics>(
        env,
        [images, learningRate](ModelState& state) {
          return configuredTrainer(state).step(images, learningRate);
        },
        [](Napi::Env env, core::StepMetrics& metrics) -> Napi::Value {
          return metricsToJs(env, metrics);
        });
  });
}

Napi::Value ModelWrap::StateDict(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  return live(env).Submit<NamedTensors>(
      env, [](ModelState& state) { return namedTensorsOf(*builtModel(state)); },
      [](Napi::Env env, NamedTensors& tensors) -> Napi::Value {
        return namedTensorsToJs(env, tensors);
      });
}

Napi::Value ModelWrap::LoadStateDict(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto tensors = namedTensorsFromJs(info[0], "stateDict");
    return executor.Submit<bool>(
        env,
        [tensors](ModelState& state) {
          copyNamedTensors(*builtModel(state), tensors, "state dict");
          return true;
        },
        undefinedResult);
  });
}

Napi::Value ModelWrap::TrainingState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (!trainingConfigured_)
    throw Napi::Error::New(env, "Call configureTraining() before trainingState()");
  struct Snapshot {
    NamedTensors optimizer;
    torch::Tensor generator;
    int64_t steps;
  };
  return executor.Submit<Snapshot>(
      env,
      [](ModelState& state) {
        auto& trainer = configuredTrainer(state);
        Snapshot snapshot{{}, trainer.generatorState().clone(), trainer.stepsTaken()};
        for (auto& [name, tensor] : trainer.optimizerState()) {
          snapshot.optimizer.emplace_back(name, tensor.detach().to(torch::kCPU).clone());
        }
        return snapshot;
      },
      [](Napi::Env env, Snapshot& snapshot) -> Napi::Value {
        auto result = Napi::Object::New(env);
        result.Set("optimizer", namedTensorsToJs(env, snapshot.optimizer));
        result.Set("generator", tensorToJs(env, snapshot.generator));
        result.Set("steps", Napi::Number::New(env, static_cast<double>(snapshot.steps)));
        return result;
      });
}

Napi::Value ModelWrap::LoadTrainingState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (!trainingConfigured_)
    throw Napi::Error::New(env, "Call configureTraining() before loadTrainingState()");
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected a training state object");
  return guarded(env, [&]() -> Napi::Value {
    const auto object = info[0].As<Napi::Object>();
    auto optimizer = namedTensorsFromJs(object.Get("optimizer"), "optimizer");
    auto generator = tensorFromJs(object.Get("generator"), "generator");
    const Napi::Value stepsValue = object.Get("steps");
    if (!stepsValue.IsNumber()) throw Napi::TypeError::New(env, "Expected a number for steps");
    const auto steps = stepsValue.As<Napi::Number>().Int64Value();
    return executor.Submit<bool>(
        env,
        [optimizer, generator, steps](ModelState& state) {
          configuredTrainer(state).loadTrainingState(optimizer, generator, steps);
          return true;
        },
        undefinedResult);
  });
}

// Calls already made still run and settle; then the executor frees the model on its own
// thread. The promise resolves once every earlier call has settled.
Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!executor_ || executor_->closed()) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  memory_->release(env);
  auto drained = executor_->Submit<bool>(env, [](ModelState&) { return true; }, undefinedResult);
  executor_->Close();
  return drained;
}

}  // namespace cover::addon
