// Precompiled header for the addon: LibTorch plus node-addon-api.
#pragma once
#include <napi.h>
#include <torch/torch.h>
