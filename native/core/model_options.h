// Sizes of the COVER network; defaults are the method's (see docs: COVER-SPEC section 2).
#pragma once

#include <array>
#include <cstdint>

namespace cover::core {

struct ModelOptions {
  int dims = 2;                                            // 2 or 3 spatial dimensions
  int64_t inChannels = 1;                                  // image channels
  std::array<int64_t, 5> channels{32, 64, 128, 256, 512};  // encoder widths, fine to coarse
  int64_t headDim = 8;                                     // channels per MoV head
  std::array<int64_t, 5> heads{4, 4, 4, 1, 1};             // heads per level, coarse (1/16) to fine
  int64_t radius = 2;                                      // MoV window radius r
};

// Throws c10::Error naming the first invalid field.
void validate(const ModelOptions& options);

}  // namespace cover::core
