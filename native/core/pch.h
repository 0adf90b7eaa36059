// Precompiled header for the core library: LibTorch's full C++ API.
#pragma once
#include <torch/torch.h>
