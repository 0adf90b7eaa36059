// Each binding file adds its functions to the module's exports.
#pragma once

#include <napi.h>

namespace cover::addon {

void registerInfoBindings(Napi::Env env, Napi::Object exports);
void registerOpsBindings(Napi::Env env, Napi::Object exports);
void registerProbeBindings(Napi::Env env, Napi::Object exports);

}  // namespace cover::addon
