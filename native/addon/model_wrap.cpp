#include "addon/model_wrap.h"

#include <string>
#include <utility>
#include <vector>

#include "addon/js_errors.h"
#include "addon/options_convert.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"

namespace cover::addon {
namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

Napi::Object namedTensorsToJs(Napi::Env env, const NamedTensors& tensors) {
  auto result = Napi::Object::New(env);
  for (const auto& [name, tensor] : tensors) result.Set(name, tensorToJs(env, tensor));
  return result;
}

NamedTensors namedTensorsFromJs(const Napi::Value& value, const std::string& what) {
  if (!value.IsObject())
    throw Napi::TypeError::New(value.Env(), "Expected an object of named tensors for " + what);
  const auto object = value.As<Napi::Object>();
  NamedTensors tensors;
  const auto names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    tensors.emplace_back(name, tensorFromJs(object.Get(name), what + "[\"" + name + "\"]"));
  }
  return tensors;
}

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
  auto timings = Napi::Object::New(env);
  timings.Set("viewsMs", m.viewMs);
  timings.Set("forwardMs", m.forwardMs);
  timings.Set("backwardMs", m.backwardMs);
  timings.Set("optimizerMs", m.optimizerMs);
  timings.Set("stepMs", m.stepMs);
  result.Set("timings", timings);
  return result;
}

torch::Device modelDevice(const core::CoverModel& model) {
  return model->parameters().front().device();
}

}  // namespace

Napi::Function ModelWrap::DefineClass(Napi::Env env) {
  return Napi::ObjectWrap<ModelWrap>::DefineClass(
      env, "Model",
      {
          InstanceMethod<&ModelWrap::ParameterCount>("parameterCount"),
          InstanceMethod<&ModelWrap::Forward>("forward"),
          InstanceMethod<&ModelWrap::Encode>("encode"),
          InstanceMethod<&ModelWrap::ConfigureTraining>("configureTraining"),
          InstanceMethod<&ModelWrap::TrainStep>("trainStep"),
          InstanceMethod<&ModelWrap::StateDict>("stateDict"),
          InstanceMethod<&ModelWrap::LoadStateDict>("loadStateDict"),
          InstanceMethod<&ModelWrap::TrainingState>("trainingState"),
          InstanceMethod<&ModelWrap::LoadTrainingState>("loadTrainingState"),
          InstanceMethod<&ModelWrap::Dispose>("dispose"),
      });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected an options object for Model");
  guarded(env, [&] {
    const auto options = modelOptionsFromJs(info[0].As<Napi::Object>());
    const Napi::Value seed = info[0].As<Napi::Object>().Get("seed");
    if (seed.IsNumber())
      torch::manual_seed(static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value()));
    state_ = std::make_shared<ModelState>();
    state_->model = core::CoverModel(options);
    return 0;
  });
}

std::shared_ptr<ModelState> ModelWrap::live(Napi::Env env) const {
  if (!state_) throw Napi::Error::New(env, "This model was disposed; create or load a new one");
  return state_;
}

Napi::Value ModelWrap::ParameterCount(const Napi::CallbackInfo& info) {
  auto state = live(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(core::parameterCount(*state->model)));
}

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto moving = tensorFromJs(info[0], "moving");
    auto fixed = tensorFromJs(info[1], "fixed");
    return PromiseWorker<core::CoverOutput>::Start(
        env, "cover-torch.Model.forward",
        [state, moving, fixed] {
          std::lock_guard<std::mutex> lock(state->mutex);
          torch::NoGradGuard noGrad;
          state->model->eval();
          const auto device = modelDevice(state->model);
          return state->model->forward(moving.to(device), fixed.to(device));
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
  auto state = live(env);
  if (info.Length() < 2 || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "Expected a boolean for fullResolution");
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    const bool fullResolution = info[1].As<Napi::Boolean>().Value();
    return PromiseWorker<std::vector<torch::Tensor>>::Start(
        env, "cover-torch.Model.encode",
        [state, images, fullResolution] {
          std::lock_guard<std::mutex> lock(state->mutex);
          torch::NoGradGuard noGrad;
          state->model->eval();
          auto levels = state->model->encode(images.to(modelDevice(state->model)), fullResolution);
          for (auto& level : levels) level = level.to(torch::kCPU);
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

Napi::Value ModelWrap::ConfigureTraining(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected a training options object");
  return guarded(env, [&]() -> Napi::Value {
    auto options = trainOptionsFromJs(info[0].As<Napi::Object>());
    std::unique_lock<std::mutex> lock(state->mutex, std::try_to_lock);
    if (!lock.owns_lock())
      throw Napi::Error::New(
          env, "The model is busy; await its running call before configureTraining()");
    state->trainer = std::make_unique<core::Trainer>(state->model, std::move(options));
    return env.Undefined();
  });
}

Napi::Value ModelWrap::TrainStep(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  if (!state->trainer) throw Napi::Error::New(env, "Call configureTraining() before trainStep()");
  if (info.Length() < 2 || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "Expected a number for learningRate");
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    const double learningRate = info[1].As<Napi::Number>().DoubleValue();
    return PromiseWorker<core::StepMetrics>::Start(
        env, "cover-torch.Model.trainStep",
        [state, images, learningRate] {
          std::lock_guard<std::mutex> lock(state->mutex);
          return state->trainer->step(images, learningRate);
        },
        [](Napi::Env env, core::StepMetrics& metrics) -> Napi::Value {
          return metricsToJs(env, metrics);
        });
  });
}

Napi::Value ModelWrap::StateDict(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  return PromiseWorker<NamedTensors>::Start(
      env, "cover-torch.Model.stateDict",
      [state] {
        std::lock_guard<std::mutex> lock(state->mutex);
        NamedTensors tensors;
        for (const auto& item : state->model->named_parameters()) {
          tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
        }
        for (const auto& item : state->model->named_buffers()) {
          tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
        }
        return tensors;
      },
      [](Napi::Env env, NamedTensors& tensors) -> Napi::Value {
        return namedTensorsToJs(env, tensors);
      });
}

Napi::Value ModelWrap::LoadStateDict(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto tensors = namedTensorsFromJs(info[0], "stateDict");
    return PromiseWorker<bool>::Start(
        env, "cover-torch.Model.loadStateDict",
        [state, tensors] {
          std::lock_guard<std::mutex> lock(state->mutex);
          torch::NoGradGuard noGrad;
          auto params = state->model->named_parameters();
          auto buffers = state->model->named_buffers();
          std::map<std::string, torch::Tensor> given(tensors.begin(), tensors.end());
          std::vector<std::string> missing;
          for (const auto& item : params) {
            if (!given.count(item.key())) missing.push_back(item.key());
          }
          TORCH_CHECK(missing.empty(), "state dict is missing ", missing.size(),
                      " tensor(s), e.g. \"", missing.empty() ? "" : missing.front(), "\"");
          // Check everything before copying anything: a bad file leaves the model as it was.
          std::vector<std::pair<torch::Tensor*, const torch::Tensor*>> copies;
          for (const auto& [name, tensor] : given) {
            torch::Tensor* target = params.find(name);
            if (target == nullptr) target = buffers.find(name);
            TORCH_CHECK(target != nullptr, "state dict has an unexpected tensor \"", name, "\"");
            TORCH_CHECK(target->sizes() == tensor.sizes(), "tensor \"", name, "\" has shape ",
                        tensor.sizes(), " but the model expects ", target->sizes());
            copies.emplace_back(target, &tensor);
          }
          for (auto& [target, tensor] : copies) target->copy_(*tensor);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value ModelWrap::TrainingState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto state = live(env);
  if (!state->trainer)
    throw Napi::Error::New(env, "Call configureTraining() before trainingState()");
  struct Snapshot {
    NamedTensors optimizer;
    torch::Tensor generator;
    int64_t steps;
  };
  return PromiseWorker<Snapshot>::Start(
      env, "cover-torch.Model.trainingState",
      [state] {
        std::lock_guard<std::mutex> lock(state->mutex);
        Snapshot snapshot{
            {}, state->trainer->generatorState().clone(), state->trainer->stepsTaken()};
        for (auto& [name, tensor] : state->trainer->optimizerState()) {
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
  auto state = live(env);
  if (!state->trainer)
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
    return PromiseWorker<bool>::Start(
        env, "cover-torch.Model.loadTrainingState",
        [state, optimizer, generator, steps] {
          std::lock_guard<std::mutex> lock(state->mutex);
          state->trainer->loadOptimizerState(optimizer);
          state->trainer->setGeneratorState(generator);
          state->trainer->setStepsTaken(steps);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  // Calls already issued hold their own reference and complete; the model's memory goes
  // when the last of them ends (at once when none is pending).
  state_.reset();
  return info.Env().Undefined();
}

}  // namespace cover::addon
