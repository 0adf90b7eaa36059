// info(), getNumThreads(), setNumThreads(n).
#include <cmath>

#include "addon/bindings.h"
#include "addon/js_errors.h"
#include "core/cpu_allocator.h"
#include "core/runtime_info.h"
#include "core/warning_capture.h"

// The package version arrives unquoted from the build (quotes do not survive both CMake and
// gyp escaping), so it is turned into a string here.
#define COVER_TORCH_STRINGIFY_INNER(x) #x
#define COVER_TORCH_STRINGIFY(x) COVER_TORCH_STRINGIFY_INNER(x)

namespace cover::addon {
namespace {

Napi::Array toJsStrings(Napi::Env env, const std::vector<std::string>& strings) {
  auto array = Napi::Array::New(env, strings.size());
  for (size_t i = 0; i < strings.size(); ++i) array.Set(static_cast<uint32_t>(i), strings[i]);
  return array;
}

Napi::Value info(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  return guarded(env, [&]() -> Napi::Value {
    const core::RuntimeInfo runtime = core::runtimeInfo();
    auto result = Napi::Object::New(env);
    result.Set("addonVersion", COVER_TORCH_STRINGIFY(COVER_TORCH_VERSION));
    result.Set("napiVersion", NAPI_VERSION);
    result.Set("torchVersion", runtime.torchVersion);
    result.Set("cudaAvailable", runtime.cudaAvailable);
    result.Set("cudaDeviceCount", runtime.cudaDeviceCount);
    result.Set("cudaDeviceNames", toJsStrings(env, runtime.cudaDeviceNames));
    result.Set("numThreads", runtime.numThreads);
    result.Set("numInteropThreads", runtime.numInteropThreads);
    result.Set("parallelBackend", runtime.parallelBackend);
    result.Set("libtorchPath", runtime.libtorchPath);
    result.Set("loadedTorchLibraries", toJsStrings(env, runtime.loadedTorchLibraries));
    return result;
  });
}

Napi::Value getNumThreads(const Napi::CallbackInfo& args) {
  return guarded(args.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(args.Env(), core::threadBudget());
  });
}

int threadCountArg(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  if (args.Length() < 1 || !args[0].IsNumber()) {
    throw Napi::TypeError::New(env, "Expected a number for numThreads");
  }
  const double requested = args[0].As<Napi::Number>().DoubleValue();
  if (!(requested >= 1) || std::floor(requested) != requested || requested > 4096) {
    throw Napi::RangeError::New(env, "Expected an integer between 1 and 4096 for numThreads");
  }
  return static_cast<int>(requested);
}

Napi::Value setNumThreads(const Napi::CallbackInfo& args) {
  const int numThreads = threadCountArg(args);
  return guarded(args.Env(), [&]() -> Napi::Value {
    core::setNumThreads(numThreads);
    return args.Env().Undefined();
  });
}

Napi::Value setDefaultNumThreadsOnce(const Napi::CallbackInfo& args) {
  const int numThreads = threadCountArg(args);
  return guarded(args.Env(), [&]() -> Napi::Value {
    core::setDefaultNumThreadsOnce(numThreads);
    return args.Env().Undefined();
  });
}

// { messages, dropped }: LibTorch warnings kept since the last call (see WarningCapture).
Napi::Value takeWarnings(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  const auto taken = core::takeCapturedWarnings();
  auto result = Napi::Object::New(env);
  result.Set("messages", toJsStrings(env, taken.messages));
  result.Set("dropped", static_cast<double>(taken.dropped));
  return result;
}

// { allocator, liveBytes, peakBytes, cachedBytes } of CPU tensors; resets the peak when asked to.
Napi::Value cpuTensorMemory(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  const bool resetPeak = args.Length() > 0 && args[0].ToBoolean().Value();
  const auto memory = core::cpuTensorMemory();
  if (resetPeak) core::resetCpuTensorPeak();
  auto result = Napi::Object::New(env);
  result.Set("allocator", memory.installed ? "cover-torch" : "libtorch");
  result.Set("liveBytes", static_cast<double>(memory.liveBytes));
  result.Set("peakBytes", static_cast<double>(memory.peakBytes));
  result.Set("cachedBytes", static_cast<double>(memory.cachedBytes));
  return result;
}

// { liveBytes, peakBytes, reservedBytes } of CUDA tensors on device args[0]; resets the peak
// when args[1] is true. Throws a JS Error where there is no such device.
Napi::Value cudaTensorMemory(const Napi::CallbackInfo& args) {
  const Napi::Env env = args.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int device = args[0].As<Napi::Number>().Int32Value();
    const bool resetPeak = args.Length() > 1 && args[1].ToBoolean().Value();
    const auto memory = core::cudaTensorMemory(device, resetPeak);
    auto result = Napi::Object::New(env);
    result.Set("liveBytes", static_cast<double>(memory.liveBytes));
    result.Set("peakBytes", static_cast<double>(memory.peakBytes));
    result.Set("reservedBytes", static_cast<double>(memory.reservedBytes));
    return result;
  });
}

Napi::Value releaseCachedCpuMemory(const Napi::CallbackInfo& args) {
  return Napi::Number::New(args.Env(), static_cast<double>(core::releaseCachedCpuMemory()));
}

}  // namespace

void registerInfoBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("getNumThreads", Napi::Function::New(env, getNumThreads, "getNumThreads"));
  exports.Set("setNumThreads", Napi::Function::New(env, setNumThreads, "setNumThreads"));
  exports.Set("setDefaultNumThreadsOnce",
              Napi::Function::New(env, setDefaultNumThreadsOnce, "setDefaultNumThreadsOnce"));
  exports.Set("takeWarnings", Napi::Function::New(env, takeWarnings, "takeWarnings"));
  exports.Set("cpuTensorMemory", Napi::Function::New(env, cpuTensorMemory, "cpuTensorMemory"));
  exports.Set("cudaTensorMemory", Napi::Function::New(env, cudaTensorMemory, "cudaTensorMemory"));
  exports.Set("releaseCachedCpuMemory",
              Napi::Function::New(env, releaseCachedCpuMemory, "releaseCachedCpuMemory"));
}

}  // namespace cover::addon
