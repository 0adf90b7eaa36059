#include "core/mov_window.h"

namespace cover::core {

std::vector<Offset> windowOffsets(int64_t dims, int64_t radius) {
  std::vector<Offset> offsets;
  const int64_t r0 = dims == 3 ? radius : 0;
  for (int64_t a = -r0; a <= r0; ++a) {
    for (int64_t b = -radius; b <= radius; ++b) {
      for (int64_t c = -radius; c <= radius; ++c) {
        offsets.push_back(dims == 3 ? Offset{a, b, c} : Offset{b, c, 0});
      }
    }
  }
  return offsets;
}

torch::Tensor offsetTensor(const std::vector<Offset>& offsets,
                           const torch::TensorOptions& options) {
  const int64_t count = static_cast<int64_t>(offsets.size());
  auto table = torch::empty({count, 3}, torch::kFloat64);
  auto accessor = table.accessor<double, 2>();
  for (int64_t w = 0; w < count; ++w) {
    for (int i = 0; i < 3; ++i) accessor[w][i] = static_cast<double>(offsets[w][i]);
  }
  return table.to(options);
}

void checkMovInputs(const torch::Tensor& q, const torch::Tensor& k, int64_t heads, int64_t radius) {
  TORCH_CHECK(q.dim() == 4 || q.dim() == 5,
              "MoV expects q of shape (B, C, H, W) or (B, C, D, H, W), got ", q.sizes());
  TORCH_CHECK(q.sizes() == k.sizes(), "MoV expects q and k of the same shape, got ", q.sizes(),
              " and ", k.sizes());
  TORCH_CHECK(q.scalar_type() == k.scalar_type(), "MoV expects q and k of the same dtype");
  TORCH_CHECK(heads >= 1 && q.size(1) % heads == 0, "MoV heads (", heads,
              ") must divide the channel count (", q.size(1), ")");
  TORCH_CHECK(radius >= 0 && radius <= 8, "MoV radius must be in 0..8, got ", radius);
}

}  // namespace cover::core
