// Module init. The addon keeps no static JS state: everything per environment (main
// thread, each worker thread, each jest context) lives in this Napi::Addon instance.
#include <napi.h>

#include "addon/bindings.h"

namespace cover::addon {

class CoverTorchAddon : public Napi::Addon<CoverTorchAddon> {
 public:
  CoverTorchAddon(Napi::Env env, Napi::Object exports) {
    registerInfoBindings(env, exports);
    registerOpsBindings(env, exports);
  }
};

}  // namespace cover::addon

using cover::addon::CoverTorchAddon;
NODE_API_ADDON(CoverTorchAddon)
