#include "addon/options_convert.h"

#include <string>
#include <vector>

namespace cover::addon {
namespace {

// Each reader leaves the default in place when the field is absent (undefined).
class Reader {
 public:
  Reader(const Napi::Object& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  void number(const char* key, double& target) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return;
    if (!value.IsNumber()) fail(key, "a number");
    target = value.As<Napi::Number>().DoubleValue();
  }

  template <typename Integer>
  void integer(const char* key, Integer& target) const {
    double value = static_cast<double>(target);
    number(key, value);
    target = static_cast<Integer>(value);
  }

  void boolean(const char* key, bool& target) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return;
    if (!value.IsBoolean()) fail(key, "a boolean");
    target = value.As<Napi::Boolean>().Value();
  }

  void string(const char* key, std::string& target) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return;
    if (!value.IsString()) fail(key, "a string");
    target = value.As<Napi::String>().Utf8Value();
  }

  template <typename Container>
  void integers(const char* key, Container& target, size_t expected) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return;
    if (!value.IsArray() || (expected > 0 && value.As<Napi::Array>().Length() != expected)) {
      fail(key, expected > 0 ? "an array of " + std::to_string(expected) + " integers"
                             : "an array of integers");
    }
    const auto array = value.As<Napi::Array>();
    std::vector<int64_t> values;
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const Napi::Value item = array.Get(i);
      if (!item.IsNumber()) fail(key, "an array of integers");
      values.push_back(static_cast<int64_t>(item.As<Napi::Number>().DoubleValue()));
    }
    if constexpr (std::is_same_v<Container, std::vector<int64_t>>) {
      target = values;
    } else {
      std::copy(values.begin(), values.end(), target.begin());
    }
  }

  void numbers(const char* key, std::vector<double>& target) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return;
    if (!value.IsArray()) fail(key, "an array of numbers");
    const auto array = value.As<Napi::Array>();
    std::vector<double> values;
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const Napi::Value item = array.Get(i);
      if (!item.IsNumber()) fail(key, "an array of numbers");
      values.push_back(item.As<Napi::Number>().DoubleValue());
    }
    target = values;
  }

  Reader child(const char* key) const {
    const Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return Reader(Napi::Object::New(object_.Env()), prefix_ + key + ".");
    if (!value.IsObject()) fail(key, "an object");
    return Reader(value.As<Napi::Object>(), prefix_ + key + ".");
  }

 private:
  [[noreturn]] void fail(const char* key, const std::string& expected) const {
    throw Napi::TypeError::New(object_.Env(), "Expected " + expected + " for " + prefix_ + key);
  }

  Napi::Object object_;
  std::string prefix_;
};

void readOptimizer(const Reader& optimizer, core::OptimizerOptions& o) {
  optimizer.string("kind", o.kind);
  optimizer.number("weightDecay", o.weightDecay);
  optimizer.number("beta1", o.beta1);
  optimizer.number("beta2", o.beta2);
  optimizer.number("eps", o.eps);
  optimizer.number("momentum", o.momentum);
  optimizer.boolean("nesterov", o.nesterov);
}

}  // namespace

core::ModelOptions modelOptionsFromJs(const Napi::Object& object) {
  core::ModelOptions options;
  const Reader read(object, "");
  read.integer("dims", options.dims);
  read.integer("inChannels", options.inChannels);
  read.integers("channels", options.channels, 5);
  read.integer("headDim", options.headDim);
  read.integers("heads", options.heads, 5);
  read.integer("radius", options.radius);
  core::validate(options);
  return options;
}

core::TrainOptions trainOptionsFromJs(const Napi::Object& object) {
  core::TrainOptions options;
  const Reader read(object, "");
  read.number("gradClip", options.gradClip);
  read.number("consistencyWeight", options.consistencyWeight);
  read.integer("consistencyWarmupSteps", options.consistencyWarmupSteps);
  read.string("consistencyFeatures", options.consistencyFeatures);
  read.boolean("recompute", options.recompute);
  read.boolean("phaseTimings", options.phaseTimings);
  read.string("mixedPrecision", options.mixedPrecision);
  read.integer("seed", options.seed);

  const Reader views = read.child("views");
  auto& v = options.views;
  views.integers("cropSize", v.cropSize, 0);
  views.number("degree", v.degree);
  views.number("elasticAmplitude", v.elasticAmplitude);
  views.number("elasticSigma", v.elasticSigma);
  views.boolean("appearance", v.appearance);
  views.number("noiseStdMax", v.noiseStdMax);
  views.number("contrastMin", v.contrastMin);
  views.number("contrastMax", v.contrastMax);
  views.number("brightnessStd", v.brightnessStd);
  views.integer("inpaintMaxBoxes", v.inpaintMaxBoxes);
  views.number("inpaintProbability", v.inpaintProbability);
  views.number("inpaintMinFraction", v.inpaintMinFraction);
  views.number("inpaintMaxFraction", v.inpaintMaxFraction);

  readOptimizer(read.child("optimizer"), options.optimizer);
  return options;
}

core::SegmentationOptions segmentationOptionsFromJs(const Napi::Object& object) {
  core::SegmentationOptions options;
  const Reader read(object, "");
  read.integer("classes", options.classes);
  read.numbers("classWeights", options.classWeights);
  read.integer("ignoreLabel", options.ignoreLabel);
  read.boolean("freezeEncoder", options.freezeEncoder);
  read.number("diceWeight", options.diceWeight);
  read.number("gradClip", options.gradClip);
  readOptimizer(read.child("optimizer"), options.optimizer);
  core::validate(options);
  return options;
}

}  // namespace cover::addon
