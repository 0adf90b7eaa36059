// The linear probe of dense features: probe.fit(features, labels, classes, settings) and
// probe.predict(probe, features), each a Promise; the fitted probe is an object of tensors.
#include <torch/torch.h>

#include "addon/bindings.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"
#include "core/linear_probe.h"

namespace cover::addon {
namespace {

double numberField(const Napi::Object& object, const char* key) {
  const Napi::Value value = object.Get(key);
  if (!value.IsNumber())
    throw Napi::TypeError::New(object.Env(), std::string("Expected a number for settings.") + key);
  return value.As<Napi::Number>().DoubleValue();
}

Napi::Value fit(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (args.Length() < 4 || !args[2].IsNumber() || !args[3].IsObject())
      throw Napi::TypeError::New(env, "Expected fit(features, labels, classes, settings)");
    const auto features = tensorFromJs(args[0], "features");
    const auto labels = tensorFromJs(args[1], "labels");
    const auto classes = args[2].As<Napi::Number>().Int64Value();
    const auto object = args[3].As<Napi::Object>();
    core::LinearProbeSettings settings;
    settings.iterations = static_cast<int64_t>(numberField(object, "iterations"));
    settings.learningRate = numberField(object, "learningRate");
    settings.l2 = numberField(object, "l2");
    return PromiseWorker<core::LinearProbe>::Start(
        env, "cover-torch.probe.fit",
        [features, labels, classes, settings] {
          return core::fitLinearProbe(features, labels, classes, settings);
        },
        [](Napi::Env env, core::LinearProbe& probe) -> Napi::Value {
          auto result = Napi::Object::New(env);
          result.Set("mean", tensorToJs(env, probe.mean));
          result.Set("inverseStd", tensorToJs(env, probe.inverseStd));
          result.Set("weight", tensorToJs(env, probe.weight));
          result.Set("bias", tensorToJs(env, probe.bias));
          return result;
        });
  });
}

Napi::Value predict(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (args.Length() < 2 || !args[0].IsObject())
      throw Napi::TypeError::New(env, "Expected predict(probe, features)");
    const auto object = args[0].As<Napi::Object>();
    core::LinearProbe probe{tensorFromJs(object.Get("mean"), "probe.mean"),
                            tensorFromJs(object.Get("inverseStd"), "probe.inverseStd"),
                            tensorFromJs(object.Get("weight"), "probe.weight"),
                            tensorFromJs(object.Get("bias"), "probe.bias")};
    const auto features = tensorFromJs(args[1], "features");
    return PromiseWorker<torch::Tensor>::Start(
        env, "cover-torch.probe.predict",
        [probe, features] { return core::predictLinearProbe(probe, features); },
        [](Napi::Env env, torch::Tensor& labels) -> Napi::Value {
          return tensorToJs(env, labels);
        });
  });
}

}  // namespace

void registerProbeBindings(Napi::Env env, Napi::Object exports) {
  auto probe = Napi::Object::New(env);
  probe.Set("fit", Napi::Function::New(env, fit, "fit"));
  probe.Set("predict", Napi::Function::New(env, predict, "predict"));
  exports.Set("probe", probe);
}

}  // namespace cover::addon
