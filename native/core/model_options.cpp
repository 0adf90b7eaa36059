#include "core/model_options.h"

#include <c10/util/Exception.h>

namespace cover::core {

// The same bounds as lib/model/modelOptions.ts; they cap what one option can allocate.
constexpr int64_t kMaxInChannels = 4096, kMaxChannels = 2048, kMaxHeadDim = 4096, kMaxHeads = 64;

void validate(const ModelOptions& options) {
  TORCH_CHECK(options.dims == 2 || options.dims == 3, "dims must be 2 or 3, got ", options.dims);
  TORCH_CHECK(options.inChannels >= 1 && options.inChannels <= kMaxInChannels,
              "inChannels must be in 1..", kMaxInChannels, ", got ", options.inChannels);
  for (size_t i = 0; i < options.channels.size(); ++i) {
    TORCH_CHECK(options.channels[i] >= 8 && options.channels[i] <= kMaxChannels &&
                    options.channels[i] % 8 == 0,
                "channels[", i, "] must be a multiple of 8 (GroupNorm uses C/8 groups) in 8..",
                kMaxChannels, ", got ", options.channels[i]);
  }
  TORCH_CHECK(options.headDim >= 1 && options.headDim <= kMaxHeadDim, "headDim must be in 1..",
              kMaxHeadDim, ", got ", options.headDim);
  for (size_t i = 0; i < options.heads.size(); ++i) {
    TORCH_CHECK(options.heads[i] >= 1 && options.heads[i] <= kMaxHeads, "heads[", i,
                "] must be in 1..", kMaxHeads, ", got ", options.heads[i]);
  }
  TORCH_CHECK(options.radius >= 1 && options.radius <= 8, "radius must be in 1..8, got ",
              options.radius);
}

}  // namespace cover::core
