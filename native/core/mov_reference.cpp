#include "core/mov.h"
#include "core/mov_window.h"

namespace cover::core {

torch::Tensor movReference(const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                           int64_t radius) {
  checkMovInputs(q, k, heads, radius);
  const int64_t dims = q.dim() - 2;
  const int64_t batch = q.size(0);
  const int64_t channels = q.size(1);
  const auto spatial = q.sizes().slice(2).vec();
  const double scale = 1.0 / std::sqrt(static_cast<double>(channels / heads));

  // Zero-pad k by r on every spatial side, and pad a ones mask the same way to know which
  // shifted positions are inside the grid.
  std::vector<int64_t> pad;
  for (int64_t i = 0; i < dims; ++i) pad.insert(pad.end(), {radius, radius});
  const auto padded = torch::constant_pad_nd(k, pad, 0.0);
  const auto inside = torch::constant_pad_nd(torch::ones_like(k.select(1, 0)), pad, 0.0);

  // Channel c = d * heads + j, so a view (B, C/J, J, *S) groups heads on dim 2.
  std::vector<int64_t> grouped{batch, channels / heads, heads};
  grouped.insert(grouped.end(), spatial.begin(), spatial.end());
  const auto qHeads = q.reshape(grouped);

  const auto offsets = windowOffsets(dims, radius);
  std::vector<torch::Tensor> logits;
  for (const auto& offset : offsets) {
    auto shiftedK = padded;
    auto shiftedInside = inside;
    for (int64_t i = 0; i < dims; ++i) {
      shiftedK = shiftedK.narrow(2 + i, radius + offset[i], spatial[i]);
      shiftedInside = shiftedInside.narrow(1 + i, radius + offset[i], spatial[i]);
    }
    auto logit = (qHeads * shiftedK.reshape(grouped)).sum(1) * scale;  // (B, J, *S)
    logit = torch::where(shiftedInside.unsqueeze(1) > 0, logit,
                         torch::full_like(logit, kMovOutsideLogit));
    logits.push_back(logit);
  }
  const auto probabilities = torch::softmax(torch::stack(logits, 2), 2);  // (B, J, W, *S)

  const auto offsetTable = offsetTensor(offsets, q.options());  // (W, n)
  std::vector<torch::Tensor> components;
  for (int64_t i = 0; i < dims; ++i) {
    std::vector<int64_t> shape(probabilities.dim(), 1);
    shape[2] = static_cast<int64_t>(offsets.size());
    const auto weights = offsetTable.select(1, i).reshape(shape);
    components.push_back((probabilities * weights).sum(2).mean(1));  // (B, *S)
  }
  return torch::stack(components, 1);
}

}  // namespace cover::core
