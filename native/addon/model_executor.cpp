#include "addon/model_executor.h"

#include <pthread.h>

#include <thread>
#include <vector>

#include "core/cpu_allocator.h"
#include "core/runtime_info.h"
#include "core/warning_capture.h"

namespace cover::addon {
namespace {

// Every started executor, for StopAllForExit. Allocated once and never freed: it must
// outlive the static destructors that run at exit.
struct Registry {
  std::mutex mutex;
  std::vector<std::weak_ptr<ModelExecutor>> executors;
};
Registry& registry() {
  static auto* instance = new Registry();
  return *instance;
}

void remember(const std::shared_ptr<ModelExecutor>& executor) {
  auto& known = registry();
  std::lock_guard<std::mutex> lock(known.mutex);
  std::erase_if(known.executors, [](const auto& entry) { return entry.expired(); });
  known.executors.push_back(executor);
}

}  // namespace

std::shared_ptr<ModelExecutor> ModelExecutor::Start(Napi::Env env, const std::string& name) {
  std::shared_ptr<ModelExecutor> executor(new ModelExecutor());
  remember(executor);
  executor->env_ = env;
  executor->selfUntilFinalized_ = executor;
  executor->delivery_ = Delivery::New(
      env, name, /*maxQueueSize=*/0, /*initialThreadCount=*/1, executor.get(),
      [](Napi::Env, void*, ModelExecutor* self) { self->selfUntilFinalized_.reset(); });
  // An idle model must not keep the process alive; Enqueue refs while calls are pending.
  executor->delivery_.Unref(env);
  // Registered after the thread-safe function, so it runs before Node tears that down.
  NAPI_THROW_IF_FAILED(env, napi_add_env_cleanup_hook(env, OnEnvCleanup, executor.get()), nullptr);
  std::thread([executor] { executor->Loop(); }).detach();
  return executor;
}

void ModelExecutor::Enqueue(Napi::Env env, std::unique_ptr<ModelCall> call) {
  if (finished_ || closing_)
    throw Napi::Error::New(env, "This model was disposed; create or load a new one");
  if (pending_++ == 0) delivery_.Ref(env);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(call));
  }
  wake_.notify_one();
}

void ModelExecutor::Loop() {
  pthread_setname_np(pthread_self(), "cover-model");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threadId_ = std::this_thread::get_id();
  }
  ModelState state;
  for (;;) {
    std::unique_ptr<ModelCall> call;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (exiting_ || queue_.empty()) break;  // exiting, or closing with nothing left to run
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    {
      const core::ThreadShare share;       // this call's share of the thread budget
      const core::WarningCapture capture;  // LibTorch warnings go to the JS logger
      call->Run(state);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (exiting_) {
        call.release();  // nobody is left to settle it; the process is ending
        break;
      }
    }
    // Unlimited queue: never blocks. Fails only while Node tears the environment down,
    // when nobody is left to settle the call.
    if (delivery_.NonBlockingCall(call.get()) == napi_ok) call.release();
  }
  state = ModelState();  // free the model here, not on the JS thread
  // Its step's cached mappings would otherwise stay held until another model reuses them.
  core::releaseCachedCpuMemory();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threadDone_ = true;
  }
  wake_.notify_all();
}

void ModelExecutor::Deliver(Napi::Env env, Napi::Function, ModelExecutor* self, ModelCall* raw) {
  std::unique_ptr<ModelCall> call(raw);
  if (static_cast<napi_env>(env) == nullptr) return;  // being torn down: drop it
  call->Settle(env);
  if (--self->pending_ > 0) return;
  if (self->closing_) {
    self->Finish();
  } else {
    self->delivery_.Unref(env);
  }
}

void ModelExecutor::Close() {
  if (closing_ || finished_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  if (pending_ == 0) Finish();
}

void ModelExecutor::Finish() {
  if (finished_) return;
  finished_ = true;
  napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  delivery_.Release();  // its finalizer drops selfUntilFinalized_
}

void ModelExecutor::StopAllForExit() {
  std::vector<std::shared_ptr<ModelExecutor>> live;
  {
    auto& known = registry();
    std::lock_guard<std::mutex> lock(known.mutex);
    for (const auto& entry : known.executors)
      if (auto executor = entry.lock()) live.push_back(executor);
  }
  for (auto& executor : live) executor->StopForExit();
}

void ModelExecutor::StopForExit() {
  std::unique_lock<std::mutex> lock(mutex_);
  exiting_ = true;
  closing_ = true;
  wake_.notify_all();
  if (threadId_ == std::this_thread::get_id()) return;  // exit() from within a call
  // The running call (at most a training step) ends first; queued calls are left alone.
  wake_.wait(lock, [this] { return threadDone_; });
}

void ModelExecutor::OnEnvCleanup(void* raw) {
  // The environment is going away (worker terminated, process exiting) with calls maybe
  // still queued or running. Queued ones are dropped; the running one finishes first, so
  // no thread touches LibTorch or the thread-safe function after Node frees them.
  auto* self = static_cast<ModelExecutor*>(raw);
  self->finished_ = true;  // Node releases the thread-safe function itself now
  std::deque<std::unique_ptr<ModelCall>> dropped;
  std::unique_lock<std::mutex> lock(self->mutex_);
  dropped.swap(self->queue_);
  self->closing_ = true;
  self->wake_.notify_all();
  self->wake_.wait(lock, [self] { return self->threadDone_; });
}

}  // namespace cover::addon
