// Tensors cross the JS boundary as plain objects { dtype, shape, data } where data is a
// TypedArray in V8-owned memory. Both directions copy: inputs into LibTorch-owned storage
// (so a worker thread may read them after JS has moved on), outputs into a fresh V8
// ArrayBuffer (no external buffers: Electron refuses them).
#pragma once

#include <napi.h>
#include <torch/types.h>

#include <string>

namespace cover::addon {

// Copies a JS tensor object into a new contiguous CPU tensor. Throws a JS TypeError naming
// `what` when the object is malformed (unknown dtype, TypedArray of the wrong kind,
// negative or non-integer dimension, data length that does not match the shape).
torch::Tensor tensorFromJs(const Napi::Value& value, const std::string& what);

// The scalar type of a dtype name ("float32", "float16", ...); a JS TypeError naming `what`
// for anything else.
torch::ScalarType scalarTypeOf(const Napi::Value& value, const std::string& what);

// Copies a tensor (any device, any layout) into a JS tensor object. Bool tensors come back
// as uint8; other dtypes without a TypedArray counterpart throw a JS TypeError.
Napi::Object tensorToJs(Napi::Env env, const torch::Tensor& tensor);

}  // namespace cover::addon
