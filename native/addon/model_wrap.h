// The JS class for a COVER model: `new Model(options)`, forward, training, state I/O.
// Native state lives in a shared ModelState that each async operation holds, so a model
// collected or disposed by JS stays valid until running work finishes.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "core/model.h"
#include "core/trainer.h"

namespace cover::addon {

struct ModelState {
  std::mutex mutex;  // one operation at a time; waiters queue on libuv's pool
  core::CoverModel model{nullptr};
  std::unique_ptr<core::Trainer> trainer;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value ConfigureTraining(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value StateDict(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  Napi::Value TrainingState(const Napi::CallbackInfo& info);
  Napi::Value LoadTrainingState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // The state, after checking that the model was not disposed (else a JS Error).
  std::shared_ptr<ModelState> live(Napi::Env env) const;

  std::shared_ptr<ModelState> state_;
};

}  // namespace cover::addon
