// Fused MoV against the reference: values and gradients, 2D and 3D, borders included.
#include "core/mov.h"

#include "tests/harness.h"

namespace {

using cover::core::movFused;
using cover::core::movReference;

std::vector<int64_t> shapeFor(int dims, int64_t channels) {
  return dims == 2 ? std::vector<int64_t>{2, channels, 9, 7}
                   : std::vector<int64_t>{2, channels, 5, 6, 4};
}

TEST_CASE("mov: fused equals reference in value and gradient (float32, 2D/3D, r 1..3, J 1/4)") {
  for (int dims : {2, 3}) {
    for (int64_t radius : {1, 2, 3}) {
      for (int64_t heads : {1, 4}) {
        const auto shape = shapeFor(dims, 8);
        // Scaled so the softmax is neither uniform nor one-hot.
        const auto q0 = torch::randn(shape) * 1.5;
        const auto k0 = torch::randn(shape) * 1.5;
        auto q1 = q0.clone().requires_grad_(true), k1 = k0.clone().requires_grad_(true);
        auto q2 = q0.clone().requires_grad_(true), k2 = k0.clone().requires_grad_(true);
        const auto fused = movFused(q1, k1, heads, radius);
        const auto reference = movReference(q2, k2, heads, radius);
        EXPECT_CLOSE(fused, reference, 1e-5);
        // A random linear functional of the output exercises every component's gradient.
        const auto projection = torch::randn(fused.sizes());
        (fused * projection).sum().backward();
        (reference * projection).sum().backward();
        EXPECT_CLOSE(q1.grad(), q2.grad(), 1e-5);
        EXPECT_CLOSE(k1.grad(), k2.grad(), 1e-5);
      }
    }
  }
}

TEST_CASE("mov: grids smaller than the window (coarse pyramid levels) match the reference") {
  for (const auto& shape : std::vector<std::vector<int64_t>>{
           {2, 8, 2, 1}, {1, 8, 1, 3}, {1, 8, 1, 2, 3}, {1, 8, 2, 1, 1}}) {
    auto q1 = torch::randn(shape).requires_grad_(true),
         k1 = torch::randn(shape).requires_grad_(true);
    auto q2 = q1.detach().clone().requires_grad_(true),
         k2 = k1.detach().clone().requires_grad_(true);
    const auto fused = movFused(q1, k1, 2, 3);
    const auto reference = movReference(q2, k2, 2, 3);
    EXPECT_CLOSE(fused, reference, 1e-5);
    fused.sum().backward();
    reference.sum().backward();
    EXPECT_CLOSE(q1.grad(), q2.grad(), 1e-5);
    EXPECT_CLOSE(k1.grad(), k2.grad(), 1e-5);
  }
}

TEST_CASE("mov: identical features give zero displacement; shifted keys give the shift") {
  // Random 64-channel codes: a code matches itself far better than any neighbour.
  const auto q = torch::randn({1, 64, 12, 12}) * 2.0;
  EXPECT(movFused(q, q, 1, 2).abs().max().item<double>() < 0.05);
  // k(x) = q(x - 1 along W): the match for x in k lies at x + 1.
  auto k = torch::zeros_like(q);
  k.narrow(3, 1, 11).copy_(q.narrow(3, 0, 11));
  const auto v = movFused(q, k, 1, 2);
  const auto interior = v.narrow(2, 2, 8).narrow(3, 2, 8);
  EXPECT_NEAR(interior.select(1, 1).mean().item<double>(), 1.0, 0.05);
  EXPECT(interior.select(1, 0).abs().max().item<double>() < 0.05);
}

TEST_CASE("mov: fused passes gradcheck in float64 (2D and 3D)") {
  for (int dims : {2, 3}) {
    for (int64_t heads : {1, 2}) {
      const auto shape =
          dims == 2 ? std::vector<int64_t>{1, 4, 4, 5} : std::vector<int64_t>{1, 4, 3, 4, 3};
      auto q = torch::randn(shape, torch::kFloat64).requires_grad_(true);
      auto k = torch::randn(shape, torch::kFloat64).requires_grad_(true);
      const auto output = movFused(q, k, heads, 1);
      const auto projection = torch::randn(output.sizes(), torch::kFloat64);
      const auto grads = torch::autograd::grad({(output * projection).sum()}, {q, k});
      // Central differences on every input element.
      const double h = 1e-6;
      for (int which = 0; which < 2; ++which) {
        auto input = (which == 0 ? q : k).detach();
        auto flat = input.view(-1);
        for (int64_t i = 0; i < flat.numel(); ++i) {
          const double saved = flat[i].item<double>();
          flat[i] = saved + h;
          const double plus = (movFused(which == 0 ? input : q.detach(),
                                        which == 1 ? input : k.detach(), heads, 1) *
                               projection)
                                  .sum()
                                  .item<double>();
          flat[i] = saved - h;
          const double minus = (movFused(which == 0 ? input : q.detach(),
                                         which == 1 ? input : k.detach(), heads, 1) *
                                projection)
                                   .sum()
                                   .item<double>();
          flat[i] = saved;
          EXPECT_NEAR(grads[which].view(-1)[i].item<double>(), (plus - minus) / (2 * h), 1e-6);
        }
      }
    }
  }
}

TEST_CASE("mov: bad inputs raise errors that say what is wrong") {
  bool threw = false;
  try {
    movFused(torch::randn({1, 6, 4, 4}), torch::randn({1, 6, 4, 4}), 4, 2);
  } catch (const c10::Error& error) {
    threw = std::string(error.what_without_backtrace()).find("must divide the channel count") !=
            std::string::npos;
  }
  EXPECT(threw);
}

}  // namespace
