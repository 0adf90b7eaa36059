// The model's fine-tuning calls: a class head on F1, its training step, class probabilities,
// and the head's weights. They run on the model's executor like every other call.
#include <ATen/CPUGeneratorImpl.h>

#include "addon/js_errors.h"
#include "addon/model_helpers.h"
#include "addon/model_wrap.h"
#include "addon/options_convert.h"
#include "addon/tensor_convert.h"

namespace cover::addon {
namespace {

core::SegmentationHead& builtHead(ModelState& state) {
  TORCH_CHECK(state.head,
              "the model has no segmentation head: call createSegmentationHead() first");
  return state.head;
}

core::SegmentationTrainer& configuredSegmentation(ModelState& state) {
  TORCH_CHECK(state.segmentation, "Call configureSegmentation() before segmentationStep()");
  return *state.segmentation;
}

Napi::Object segmentationMetricsToJs(Napi::Env env, const core::SegmentationMetrics& m) {
  auto result = Napi::Object::New(env);
  result.Set("loss", m.loss);
  result.Set("crossEntropy", m.crossEntropy);
  result.Set("diceLoss", m.diceLoss);
  result.Set("gradNorm", m.gradNorm);
  result.Set("learningRate", m.learningRate);
  result.Set("skipped", m.skipped);
  result.Set("threads", m.threads);
  result.Set("stepMs", m.stepMs);
  return result;
}

}  // namespace

// createSegmentationHead(classes, seed?): a new head (any earlier head and its trainer go).
Napi::Value ModelWrap::CreateSegmentationHead(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Napi::TypeError::New(env, "Expected a number of classes");
  const auto classes = info[0].As<Napi::Number>().Int64Value();
  const std::optional<uint64_t> seed =
      info.Length() > 1 && info[1].IsNumber()
          ? std::optional<uint64_t>(static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()))
          : std::nullopt;
  return executor.Submit<bool>(
      env,
      [classes, seed](ModelState& state) {
        auto& model = builtModel(state);
        auto generator = at::make_generator<at::CPUGeneratorImpl>(
            seed ? *seed : c10::detail::getNonDeterministicRandom());
        core::SegmentationHead head(model->options(), classes, generator);
        head->to(modelDevice(model));
        state.segmentation.reset();
        state.head = head;
        return true;
      },
      undefinedResult);
}

Napi::Value ModelWrap::ConfigureSegmentation(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "Expected a segmentation options object");
  return guarded(env, [&]() -> Napi::Value {
    auto options = segmentationOptionsFromJs(info[0].As<Napi::Object>());
    return executor.Submit<bool>(
        env,
        [options](ModelState& state) {
          state.segmentation.reset();
          state.segmentation = std::make_unique<core::SegmentationTrainer>(
              builtModel(state), builtHead(state), options);
          return true;
        },
        undefinedResult);
  });
}

Napi::Value ModelWrap::SegmentationStep(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  if (info.Length() < 3 || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "Expected a number for learningRate");
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    auto labels = tensorFromJs(info[1], "labels");
    const double learningRate = info[2].As<Napi::Number>().DoubleValue();
    return executor.Submit<core::SegmentationMetrics>(
        env,
        [images, labels, learningRate](ModelState& state) {
          return configuredSegmentation(state).step(images, labels, learningRate);
        },
        [](Napi::Env env, core::SegmentationMetrics& metrics) -> Napi::Value {
          return segmentationMetricsToJs(env, metrics);
        });
  });
}

// segment(images, labels?): class probabilities (B, K, *S) as float32 on the CPU or, with
// labels true, the most probable class (B, *S): uint8 up to 256 classes, int32 above. The
// labels are chosen on the model's device, so only they cross to JS (K x 4 times fewer bytes).
Napi::Value ModelWrap::Segment(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto images = tensorFromJs(info[0], "images");
    const bool labels = info.Length() > 1 && info[1].ToBoolean().Value();
    return executor.Submit<torch::Tensor>(
        env,
        [images, labels](ModelState& state) {
          auto& model = builtModel(state);
          auto& head = builtHead(state);
          torch::NoGradGuard noGrad;
          model->eval();
          head->eval();
          const auto logits = core::segmentationLogits(model, head, images.to(modelDevice(model)));
          if (labels) {
            // The largest logit is the largest probability (ties: the lower class).
            const auto type = head->classes() <= 256 ? torch::kUInt8 : torch::kInt32;
            return logits.argmax(1).to(type).to(torch::kCPU).contiguous();
          }
          return torch::softmax(logits, 1).to(torch::kCPU).contiguous();
        },
        [](Napi::Env env, torch::Tensor& probabilities) -> Napi::Value {
          return tensorToJs(env, probabilities);
        });
  });
}

Napi::Value ModelWrap::SegmentationHeadState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  return live(env).Submit<NamedTensors>(
      env, [](ModelState& state) { return namedTensorsOf(*builtHead(state)); },
      [](Napi::Env env, NamedTensors& tensors) -> Napi::Value {
        return namedTensorsToJs(env, tensors);
      });
}

Napi::Value ModelWrap::LoadSegmentationHeadState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto tensors = namedTensorsFromJs(info[0], "headState");
    return executor.Submit<bool>(
        env,
        [tensors](ModelState& state) {
          copyNamedTensors(*builtHead(state), tensors, "segmentation head state");
          return true;
        },
        undefinedResult);
  });
}

// segmentationTrainingState(): the fine-tuning optimiser's state by parameter name, for
// checkpoints (the step count and the crops' position are the caller's to record).
Napi::Value ModelWrap::SegmentationTrainingState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  return live(env).Submit<NamedTensors>(
      env,
      [](ModelState& state) {
        NamedTensors tensors;
        for (auto& [name, tensor] : configuredSegmentation(state).optimizerState()) {
          tensors.emplace_back(name, tensor.detach().to(torch::kCPU).clone());
        }
        return tensors;
      },
      [](Napi::Env env, NamedTensors& tensors) -> Napi::Value {
        return namedTensorsToJs(env, tensors);
      });
}

Napi::Value ModelWrap::LoadSegmentationTrainingState(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto& executor = live(env);
  return guarded(env, [&]() -> Napi::Value {
    auto tensors = namedTensorsFromJs(info[0], "optimizer state");
    return executor.Submit<bool>(
        env,
        [tensors](ModelState& state) {
          configuredSegmentation(state).loadOptimizerState(tensors);
          return true;
        },
        undefinedResult);
  });
}

}  // namespace cover::addon
