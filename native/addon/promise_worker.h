// One AsyncWorker shape for every long native call: the work runs on a libuv pool thread,
// and the call returns a Promise that resolves with the converted result or rejects with a
// JS Error carrying the cleaned-up C++ message.
#pragma once

#include <napi.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "addon/js_errors.h"
#include "core/runtime_info.h"
#include "core/warning_capture.h"

namespace cover::addon {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;                            // runs off the JS thread
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;  // runs on the JS thread

  // `name` labels the work in async_hooks and diagnostics (e.g. "cover-torch.ops.matmul").
  // `work` must own copies of its inputs: JS may free or change its buffers meanwhile.
  static Napi::Promise Start(Napi::Env env, const char* name, Work work, Convert convert) {
    auto* worker = new PromiseWorker(env, name, std::move(work), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();  // the worker deletes itself after OnOK/OnError
    return promise;
  }

 protected:
  void Execute() override {
    const core::ThreadShare share;       // this pool thread's share of the thread budget
    const core::WarningCapture capture;  // LibTorch warnings go to the JS logger
    try {
      result_.emplace(work_());
    } catch (...) {
      SetError(currentExceptionMessage());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    settleWith(env, deferred_, [&] { return convert_(env, *result_); });
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  PromiseWorker(Napi::Env env, const char* name, Work work, Convert convert)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  std::optional<Result> result_;
};

}  // namespace cover::addon
