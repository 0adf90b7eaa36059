// Tensor operations that exercise the boundary: data in, LibTorch work off the JS thread,
// data out. roundTrip(t), sum(t), matmul(a, b), cast(t, dtype); each returns a Promise of a
// tensor object.
#include <torch/torch.h>

#include "addon/bindings.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"

namespace cover::addon {
namespace {

using TensorWorker = PromiseWorker<torch::Tensor>;

Napi::Value convertTensor(Napi::Env env, torch::Tensor& tensor) { return tensorToJs(env, tensor); }

Napi::Value tensorArg(const Napi::CallbackInfo& args, size_t index) {
  return index < args.Length() ? args[index] : args.Env().Undefined();
}

Napi::Value roundTrip(const Napi::CallbackInfo& args) {
  return guarded(args.Env(), [&]() -> Napi::Value {
    torch::Tensor input = tensorFromJs(tensorArg(args, 0), "tensor");
    return TensorWorker::Start(
        args.Env(), "cover-torch.ops.roundTrip", [input] { return input.clone(); }, convertTensor);
  });
}

Napi::Value sum(const Napi::CallbackInfo& args) {
  return guarded(args.Env(), [&]() -> Napi::Value {
    torch::Tensor input = tensorFromJs(tensorArg(args, 0), "tensor");
    return TensorWorker::Start(
        args.Env(), "cover-torch.ops.sum", [input] { return input.sum(); }, convertTensor);
  });
}

Napi::Value matmul(const Napi::CallbackInfo& args) {
  return guarded(args.Env(), [&]() -> Napi::Value {
    torch::Tensor a = tensorFromJs(tensorArg(args, 0), "a");
    torch::Tensor b = tensorFromJs(tensorArg(args, 1), "b");
    return TensorWorker::Start(
        args.Env(), "cover-torch.ops.matmul", [a, b] { return torch::matmul(a, b); },
        convertTensor);
  });
}

// LibTorch's own conversion, e.g. float32 to float16 (the reference for the JS one).
Napi::Value cast(const Napi::CallbackInfo& args) {
  return guarded(args.Env(), [&]() -> Napi::Value {
    torch::Tensor input = tensorFromJs(tensorArg(args, 0), "tensor");
    const torch::ScalarType type = scalarTypeOf(tensorArg(args, 1), "dtype");
    return TensorWorker::Start(
        args.Env(), "cover-torch.ops.cast", [input, type] { return input.to(type); },
        convertTensor);
  });
}

}  // namespace

void registerOpsBindings(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  ops.Set("roundTrip", Napi::Function::New(env, roundTrip, "roundTrip"));
  ops.Set("sum", Napi::Function::New(env, sum, "sum"));
  ops.Set("matmul", Napi::Function::New(env, matmul, "matmul"));
  ops.Set("cast", Napi::Function::New(env, cast, "cast"));
  exports.Set("ops", ops);
}

}  // namespace cover::addon
