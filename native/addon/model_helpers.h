// Pieces shared by the model's bindings: named tensors to and from JS and modules, and the
// checks every call on a model's state makes.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "addon/model_executor.h"

namespace cover::addon {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

Napi::Object namedTensorsToJs(Napi::Env env, const NamedTensors& tensors);
NamedTensors namedTensorsFromJs(const Napi::Value& value, const std::string& what);

// Copies of a module's parameters and buffers on the CPU, by state_dict name.
NamedTensors namedTensorsOf(torch::nn::Module& module);

// Copies `tensors` into the module's parameters and buffers of the same names. Every name
// and shape is checked first (`what` names the source in messages): a bad set changes
// nothing. Every parameter must be given.
void copyNamedTensors(torch::nn::Module& module, const NamedTensors& tensors,
                      const std::string& what);

torch::Device modelDevice(const core::CoverModel& model);
core::CoverModel& builtModel(ModelState& state);

inline Napi::Value undefinedResult(Napi::Env env, bool&) { return env.Undefined(); }

}  // namespace cover::addon
