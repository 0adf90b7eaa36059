#include "addon/model_helpers.h"

#include <map>

#include "addon/tensor_convert.h"

namespace cover::addon {

Napi::Object namedTensorsToJs(Napi::Env env, const NamedTensors& tensors) {
  auto result = Napi::Object::New(env);
  for (const auto& [name, tensor] : tensors) result.Set(name, tensorToJs(env, tensor));
  return result;
}

NamedTensors namedTensorsFromJs(const Napi::Value& value, const std::string& what) {
  if (!value.IsObject())
    throw Napi::TypeError::New(value.Env(), "Expected an object of named tensors for " + what);
  const auto object = value.As<Napi::Object>();
  NamedTensors tensors;
  const auto names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    tensors.emplace_back(name, tensorFromJs(object.Get(name), what + "[\"" + name + "\"]"));
  }
  return tensors;
}

NamedTensors namedTensorsOf(torch::nn::Module& module) {
  NamedTensors tensors;
  for (const auto& item : module.named_parameters()) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
  }
  for (const auto& item : module.named_buffers()) {
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
  }
  return tensors;
}

namespace {

// When the names given carry a prefix ("module." from DataParallel, "encoder." from a
// wrapper), says which: otherwise every tensor reads as missing and the cause is hidden.
std::string prefixHint(const std::map<std::string, torch::Tensor>& given, const std::string& name) {
  for (const auto& [key, tensor] : given) {
    if (key.size() > name.size() && key.compare(key.size() - name.size(), name.size(), name) == 0 &&
        key[key.size() - name.size() - 1] == '.') {
      return "; the names given start with \"" + key.substr(0, key.size() - name.size()) +
             "\" (remove that prefix)";
    }
  }
  return "";
}

}  // namespace

void copyNamedTensors(torch::nn::Module& module, const NamedTensors& tensors,
                      const std::string& what) {
  torch::NoGradGuard noGrad;
  auto params = module.named_parameters();
  auto buffers = module.named_buffers();
  std::map<std::string, torch::Tensor> given(tensors.begin(), tensors.end());
  std::vector<std::string> missing;
  for (const auto& item : params) {
    if (!given.count(item.key())) missing.push_back(item.key());
  }
  TORCH_CHECK(missing.empty(), what, " is missing ", missing.size(), " tensor(s), e.g. \"",
              missing.empty() ? "" : missing.front(), "\"",
              missing.empty() ? "" : prefixHint(given, missing.front()));
  // Check everything before copying anything: a bad file leaves the module as it was.
  std::vector<std::pair<torch::Tensor*, const torch::Tensor*>> copies;
  for (const auto& [name, tensor] : given) {
    torch::Tensor* target = params.find(name);
    if (target == nullptr) target = buffers.find(name);
    TORCH_CHECK(target != nullptr, what, " has an unexpected tensor \"", name, "\"");
    TORCH_CHECK(target->sizes() == tensor.sizes(), "tensor \"", name, "\" has shape ",
                tensor.sizes(), " but the model expects ", target->sizes());
    copies.emplace_back(target, &tensor);
  }
  for (auto& [target, tensor] : copies) target->copy_(*tensor);
}

torch::Device modelDevice(const core::CoverModel& model) {
  return model->parameters().front().device();
}

core::CoverModel& builtModel(ModelState& state) {
  TORCH_CHECK(state.model, "the model was not built (its build failed or was not awaited)");
  return state.model;
}

}  // namespace cover::addon
