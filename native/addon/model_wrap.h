// The JS class for a COVER model: `new Model(options)`, then build(), forward, training and
// state I/O. Every native call runs on the model's own executor thread, in call order; a
// model disposed or collected by JS lives on there until its pending calls have finished.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "addon/model_executor.h"

namespace cover::addon {

// The native memory a model has told V8 about. Shared with pending calls, which may settle
// after the JS object is gone.
class ExternalMemory {
 public:
  void report(Napi::Env env, int64_t bytes);
  void release(Napi::Env env);

 private:
  int64_t reported_ = 0;
  bool released_ = false;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;

 private:
  Napi::Value Build(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value ConfigureTraining(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value StateDict(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  Napi::Value TrainingState(const Napi::CallbackInfo& info);
  Napi::Value LoadTrainingState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  // Fine-tuning (segmentation_binding.cpp).
  Napi::Value CreateSegmentationHead(const Napi::CallbackInfo& info);
  Napi::Value ConfigureSegmentation(const Napi::CallbackInfo& info);
  Napi::Value SegmentationStep(const Napi::CallbackInfo& info);
  Napi::Value Segment(const Napi::CallbackInfo& info);
  Napi::Value SegmentationHeadState(const Napi::CallbackInfo& info);
  Napi::Value LoadSegmentationHeadState(const Napi::CallbackInfo& info);
  Napi::Value SegmentationTrainingState(const Napi::CallbackInfo& info);
  Napi::Value LoadSegmentationTrainingState(const Napi::CallbackInfo& info);

  // The executor, after checking that the model was not disposed (else a JS Error).
  ModelExecutor& live(Napi::Env env) const;

  core::ModelOptions options_;
  std::string device_;            // "cpu", "cuda:0", ...
  std::optional<uint64_t> seed_;  // of the weights; a fresh random one when absent
  std::shared_ptr<ModelExecutor> executor_;
  // Tells V8 how much native memory the model holds, so it weighs GC pressure rightly.
  std::shared_ptr<ExternalMemory> memory_ = std::make_shared<ExternalMemory>();
  bool trainingConfigured_ = false;
};

}  // namespace cover::addon
