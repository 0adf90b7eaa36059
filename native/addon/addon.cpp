// Module init. The addon keeps no static JS state: everything per environment (main
// thread, each worker thread, each jest context) lives in this Napi::Addon instance.
#include <ATen/Context.h>
#include <napi.h>

#include "addon/bindings.h"
#include "addon/model_executor.h"
#include "addon/model_wrap.h"
#include "core/cpu_allocator.h"

namespace cover::addon {

class CoverTorchAddon : public Napi::Addon<CoverTorchAddon> {
 public:
  CoverTorchAddon(Napi::Env env, Napi::Object exports) {
    // NNPACK is never faster here than oneDNN, and where the CPU lacks it LibTorch prints
    // "Could not initialize NNPACK!" on every batch-1 convolution.
    at::globalContext().setUserEnabledNNPACK(false);
    core::installCpuAllocator();
    registerInfoBindings(env, exports);
    registerOpsBindings(env, exports);
    registerProbeBindings(env, exports);
    const Napi::Function model = ModelWrap::DefineClass(env);
    modelConstructor_ = Napi::Persistent(model);  // per env, released with it
    exports.Set("Model", model);
    exports.Set("stopModelsForExit", Napi::Function::New(env, [](const Napi::CallbackInfo&) {
                  ModelExecutor::StopAllForExit();
                }));
  }

 private:
  Napi::FunctionReference modelConstructor_;
};

}  // namespace cover::addon

using cover::addon::CoverTorchAddon;
NODE_API_ADDON(CoverTorchAddon)
