#include "addon/tensor_convert.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace cover::addon {
namespace {

struct DtypeEntry {
  const char* name;
  torch::ScalarType scalarType;
  napi_typedarray_type arrayType;
  const char* arrayName;
};

constexpr DtypeEntry kDtypes[] = {
    {"float32", torch::kFloat32, napi_float32_array, "Float32Array"},
    {"float64", torch::kFloat64, napi_float64_array, "Float64Array"},
    {"int32", torch::kInt32, napi_int32_array, "Int32Array"},
    {"int64", torch::kInt64, napi_bigint64_array, "BigInt64Array"},
    {"uint8", torch::kUInt8, napi_uint8_array, "Uint8Array"},
    // IEEE half precision as its 16 bits: JS has no Float16Array in Node 20.
    {"float16", torch::kHalf, napi_uint16_array, "Uint16Array"},
};

const DtypeEntry* findByName(const std::string& name) {
  for (const auto& entry : kDtypes) {
    if (name == entry.name) return &entry;
  }
  return nullptr;
}

const DtypeEntry* findByScalarType(torch::ScalarType type) {
  for (const auto& entry : kDtypes) {
    if (type == entry.scalarType) return &entry;
  }
  return nullptr;
}

[[noreturn]] void throwType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

std::vector<int64_t> readShape(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throwType(env, "Expected an array of dimensions for " + what + ".shape");
  const auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value dim = array.Get(i);
    const double d = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1.0;
    if (!dim.IsNumber() || !(d >= 0) || std::floor(d) != d || d > 9007199254740991.0) {
      throwType(env, "Expected a non-negative integer for " + what + ".shape[" + std::to_string(i) +
                         "] but received " + dim.ToString().Utf8Value());
    }
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

std::string dtypeNames() {
  std::string names;
  for (const auto& entry : kDtypes) names += (names.empty() ? "" : ", ") + std::string(entry.name);
  return names;
}

}  // namespace

torch::ScalarType scalarTypeOf(const Napi::Value& value, const std::string& what) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  const DtypeEntry* dtype = findByName(name);
  if (dtype == nullptr) {
    throwType(value.Env(), "Expected one of " + dtypeNames() + " for " + what + " but received " +
                               value.ToString().Utf8Value());
  }
  return dtype->scalarType;
}

torch::Tensor tensorFromJs(const Napi::Value& value, const std::string& what) {
  const Napi::Env env = value.Env();
  if (!value.IsObject() || value.IsArray()) {
    throwType(env, "Expected a tensor object { dtype, shape, data } for " + what);
  }
  const auto object = value.As<Napi::Object>();
  const Napi::Value dtypeValue = object.Get("dtype");
  const std::string dtypeName =
      dtypeValue.IsString() ? dtypeValue.As<Napi::String>().Utf8Value() : "";
  const DtypeEntry* dtype = findByName(dtypeName);
  if (dtype == nullptr) {
    throwType(env, "Expected one of " + dtypeNames() + " for " + what + ".dtype but received " +
                       dtypeValue.ToString().Utf8Value());
  }
  const std::vector<int64_t> shape = readShape(env, object.Get("shape"), what);

  const Napi::Value dataValue = object.Get("data");
  if (!dataValue.IsTypedArray() ||
      dataValue.As<Napi::TypedArray>().TypedArrayType() != dtype->arrayType) {
    throwType(env, std::string("Expected a ") + dtype->arrayName + " for " + what +
                       ".data (dtype " + dtype->name + ")");
  }
  const auto data = dataValue.As<Napi::TypedArray>();
  int64_t numel = 1;
  for (const int64_t d : shape) {
    if (d != 0 && numel > INT64_MAX / d) throwType(env, "Shape of " + what + " is too large");
    numel *= d;
  }
  if (static_cast<int64_t>(data.ElementLength()) != numel) {
    throwType(env, "Expected " + std::to_string(numel) + " elements in " + what +
                       ".data for its shape but received " + std::to_string(data.ElementLength()));
  }

  torch::Tensor tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->scalarType));
  if (numel > 0) {
    // napi_get_typedarray_info gives the element pointer with the view's offset applied,
    // whether the backing store is an ArrayBuffer or a SharedArrayBuffer.
    void* bytes = nullptr;
    NAPI_THROW_IF_FAILED(
        env, napi_get_typedarray_info(env, data, nullptr, nullptr, &bytes, nullptr, nullptr),
        torch::Tensor());
    std::memcpy(tensor.data_ptr(), bytes, data.ByteLength());
  }
  return tensor;
}

Napi::Object tensorToJs(Napi::Env env, const torch::Tensor& tensor) {
  torch::Tensor host = tensor.to(torch::kCPU);
  if (host.scalar_type() == torch::kBool) host = host.to(torch::kUInt8);
  host = host.contiguous();
  const DtypeEntry* dtype = findByScalarType(host.scalar_type());
  if (dtype == nullptr) {
    throwType(env, std::string("Cannot return a tensor of dtype ") +
                       c10::toString(host.scalar_type()) +
                       " to JS; convert it to float32, float64, int32, int64 or uint8 first");
  }
  const size_t byteLength = host.nbytes();
  auto buffer = Napi::ArrayBuffer::New(env, byteLength);
  if (byteLength > 0) std::memcpy(buffer.Data(), host.data_ptr(), byteLength);
  const size_t length = static_cast<size_t>(host.numel());

  auto shape = Napi::Array::New(env, host.dim());
  for (int64_t i = 0; i < host.dim(); ++i) {
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(host.size(i))));
  }
  napi_value array = nullptr;
  NAPI_THROW_IF_FAILED(env,
                       napi_create_typedarray(env, dtype->arrayType, length, buffer, 0, &array),
                       Napi::Object());
  auto result = Napi::Object::New(env);
  result.Set("dtype", dtype->name);
  result.Set("shape", shape);
  result.Set("data", Napi::Value(env, array));
  return result;
}

}  // namespace cover::addon
