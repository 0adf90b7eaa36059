// The one native thread that runs every call of one model, in the order JS made them.
//
// Why a thread per model rather than libuv's pool: a pool thread that waits on a model's
// lock is lost to fs and zlib, each pool thread would grow its own OpenMP team and malloc
// arenas, and the intra-op thread count (per calling thread in LibTorch) could not be
// applied where the work runs. Here calls queue FIFO on the model's own thread; results come
// back to the JS thread through one thread-safe function, which holds the event loop open
// only while calls are pending.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "addon/js_errors.h"
#include "core/model.h"
#include "core/segmentation.h"
#include "core/trainer.h"

namespace cover::addon {

// A model's native state. Touched only on its executor thread, so it needs no lock.
struct ModelState {
  core::CoverModel model{nullptr};
  std::unique_ptr<core::Trainer> trainer;
  std::string trainerError;  // why the last configureTraining failed, if it did
  // Fine-tuning: a class head on F1, and its trainer once configured.
  core::SegmentationHead head{nullptr};
  std::unique_ptr<core::SegmentationTrainer> segmentation;
};

// One submitted call: Run on the executor thread, then Settle on the JS thread.
class ModelCall {
 public:
  virtual ~ModelCall() = default;
  virtual void Run(ModelState& state) noexcept = 0;
  virtual void Settle(Napi::Env env) = 0;
};

class ModelExecutor : public std::enable_shared_from_this<ModelExecutor> {
 public:
  // JS thread. Starts the thread; `name` labels the thread-safe function in diagnostics.
  static std::shared_ptr<ModelExecutor> Start(Napi::Env env, const std::string& name);

  // JS thread. `work` runs on the executor with the model's state and must own copies of
  // its inputs; `convert` turns its result into JS on the JS thread. The promise rejects
  // with a JS Error carrying the C++ message when `work` throws.
  template <typename Result>
  Napi::Promise Submit(Napi::Env env, std::function<Result(ModelState&)> work,
                       std::function<Napi::Value(Napi::Env, Result&)> convert);

  // JS thread. No more calls may be submitted; those pending still run and settle, then
  // the thread ends and frees the model (on its own thread, never blocking JS).
  void Close();

  bool closed() const { return closing_; }

  // Main JS thread, when the process is about to exit (its "exit" event): every model
  // thread in the process drops its queued calls and ends after the one it is running.
  // process.exit and uncaught errors end in std::exit, whose handlers destroy LibTorch's
  // static objects, into which a running call would crash. No model may be used after.
  static void StopAllForExit();

  ModelExecutor(const ModelExecutor&) = delete;
  ModelExecutor& operator=(const ModelExecutor&) = delete;
  ~ModelExecutor() = default;

 private:
  static void Deliver(Napi::Env env, Napi::Function, ModelExecutor* self, ModelCall* call);
  static void OnEnvCleanup(void* self);
  using Delivery = Napi::TypedThreadSafeFunction<ModelExecutor, ModelCall, &ModelExecutor::Deliver>;

  ModelExecutor() = default;
  void Enqueue(Napi::Env env, std::unique_ptr<ModelCall> call);
  void Loop();
  void Finish();
  void StopForExit();

  // Shared with the thread (guarded by mutex_).
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<ModelCall>> queue_;
  bool closing_ = false;
  bool exiting_ = false;  // the process is exiting: run nothing more, settle nothing
  bool threadDone_ = false;
  std::thread::id threadId_;  // the executor's thread, once it runs

  // JS thread only.
  Napi::Env env_{nullptr};
  Delivery delivery_;
  size_t pending_ = 0;     // submitted, not yet settled
  bool finished_ = false;  // delivery released and cleanup hook removed (or run)
  std::shared_ptr<ModelExecutor> selfUntilFinalized_;  // keeps `this` valid for Deliver
};

namespace detail {

template <typename Result>
class TypedCall final : public ModelCall {
 public:
  TypedCall(Napi::Env env, std::function<Result(ModelState&)> work,
            std::function<Napi::Value(Napi::Env, Result&)> convert)
      : deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Run(ModelState& state) noexcept override {
    try {
      result_.emplace(work_(state));
    } catch (...) {
      error_ = currentExceptionMessage();
    }
    work_ = nullptr;  // free the inputs now, on this thread
  }

  void Settle(Napi::Env env) override {
    if (!result_) {
      deferred_.Reject(Napi::Error::New(env, error_).Value());
      return;
    }
    settleWith(env, deferred_, [&] { return convert_(env, *result_); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Result(ModelState&)> work_;
  std::function<Napi::Value(Napi::Env, Result&)> convert_;
  std::optional<Result> result_;
  std::string error_;
};

}  // namespace detail

template <typename Result>
Napi::Promise ModelExecutor::Submit(Napi::Env env, std::function<Result(ModelState&)> work,
                                    std::function<Napi::Value(Napi::Env, Result&)> convert) {
  auto call = std::make_unique<detail::TypedCall<Result>>(env, std::move(work), std::move(convert));
  Napi::Promise promise = call->Promise();
  Enqueue(env, std::move(call));
  return promise;
}

}  // namespace cover::addon
