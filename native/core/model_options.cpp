#include "core/model_options.h"

#include <c10/util/Exception.h>

namespace cover::core {

void validate(const ModelOptions& options) {
  TORCH_CHECK(options.dims == 2 || options.dims == 3, "dims must be 2 or 3, got ", options.dims);
  TORCH_CHECK(options.inChannels >= 1, "inChannels must be at least 1, got ", options.inChannels);
  for (size_t i = 0; i < options.channels.size(); ++i) {
    TORCH_CHECK(options.channels[i] >= 8 && options.channels[i] % 8 == 0, "channels[", i,
                "] must be a positive multiple of 8 (GroupNorm uses C/8 groups), got ",
                options.channels[i]);
  }
  TORCH_CHECK(options.headDim >= 1, "headDim must be at least 1, got ", options.headDim);
  for (size_t i = 0; i < options.heads.size(); ++i) {
    TORCH_CHECK(options.heads[i] >= 1, "heads[", i, "] must be at least 1, got ", options.heads[i]);
  }
  TORCH_CHECK(options.radius >= 1 && options.radius <= 8, "radius must be in 1..8, got ",
              options.radius);
}

}  // namespace cover::core
