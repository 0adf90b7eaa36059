// warp, up2 and the VPA composition rule.
#include "core/warp.h"

#include "tests/harness.h"

namespace {

using cover::core::up2;
using cover::core::warp;
using cover::core::warpByGather;
using cover::core::warpByGridSampler;

TEST_CASE("warp: a zero field returns the source exactly, on both paths, 2D and 3D") {
  for (const auto& shape :
       std::vector<std::vector<int64_t>>{{2, 3, 7, 9}, {1, 2, 5, 6, 7}, {2, 2, 64, 33}}) {
    const auto image = torch::randn(shape);
    auto fieldShape = shape;
    fieldShape[1] = static_cast<int64_t>(shape.size()) - 2;
    const auto zero = torch::zeros(fieldShape);
    EXPECT(torch::equal(warp(image, zero), image));
    EXPECT(torch::equal(warpByGridSampler(image, zero), image));
    EXPECT(torch::equal(warpByGather(image, zero), image));
  }
}

TEST_CASE("warp: an integer shift moves content by exactly that shift, zeros outside") {
  const auto image = torch::randn({1, 1, 6, 8});
  auto psi = torch::zeros({1, 2, 6, 8});
  psi.select(1, 0).fill_(2);   // sample 2 rows down
  psi.select(1, 1).fill_(-3);  // and 3 columns left
  for (const auto& out : {warpByGridSampler(image, psi), warpByGather(image, psi)}) {
    // out(y, x) = image(y + 2, x - 3)
    EXPECT(
        torch::equal(out.narrow(2, 0, 4).narrow(3, 3, 5), image.narrow(2, 2, 4).narrow(3, 0, 5)));
    EXPECT(out.narrow(2, 4, 2).abs().max().item<double>() == 0.0);
    EXPECT(out.narrow(3, 0, 3).abs().max().item<double>() == 0.0);
  }
}

TEST_CASE("warp: the grid-sampler path equals the gather path, values and gradients") {
  for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 3, 9, 11}, {1, 2, 5, 7, 6}}) {
    for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
      const double tolerance = dtype == torch::kFloat64 ? 1e-10 : 2e-5;
      auto fieldShape = shape;
      fieldShape[1] = static_cast<int64_t>(shape.size()) - 2;
      const auto image = torch::randn(shape, dtype).requires_grad_(true);
      // Up to 4 voxels each way: many samples fall partly or wholly outside.
      const auto psi = ((torch::rand(fieldShape, dtype) * 2 - 1) * 4).requires_grad_(true);
      const auto weights = torch::randn(shape, dtype);
      const auto sampled = warpByGridSampler(image, psi);
      const auto gathered = warpByGather(image, psi);
      EXPECT_CLOSE(sampled, gathered, tolerance);
      const auto sampledGrads = torch::autograd::grad({(sampled * weights).sum()}, {image, psi});
      const auto gatheredGrads = torch::autograd::grad({(gathered * weights).sum()}, {image, psi});
      EXPECT_CLOSE(sampledGrads[0], gatheredGrads[0], tolerance);
      EXPECT_CLOSE(sampledGrads[1], gatheredGrads[1], tolerance * 10);
    }
  }
}

TEST_CASE("warp: fractional shifts interpolate linearly") {
  const auto ramp =
      torch::arange(10, torch::kFloat64).reshape({1, 1, 1, 10}).expand({1, 1, 3, 10}).contiguous();
  auto psi = torch::zeros({1, 2, 3, 10}, torch::kFloat64);
  psi.select(1, 1).fill_(0.25);
  const auto out = warp(ramp, psi);
  // Inside, a linear ramp shifted by 0.25 gains 0.25; the last column mixes with zero.
  EXPECT_CLOSE(out.narrow(3, 0, 9), ramp.narrow(3, 0, 9) + 0.25, 1e-12);
  EXPECT_NEAR(out[0][0][1][9].item<double>(), 9 * 0.75, 1e-12);
}

TEST_CASE("warp: gradients reach the field (finite differences, float64)") {
  const auto image = torch::randn({1, 2, 5, 6}, torch::kFloat64);
  auto psi = (torch::rand({1, 2, 5, 6}, torch::kFloat64) * 2 - 1).requires_grad_(true);
  const auto projection = torch::randn({1, 2, 5, 6}, torch::kFloat64);
  const auto grad = torch::autograd::grad({(warp(image, psi) * projection).sum()}, {psi})[0];
  auto flat = psi.detach().view(-1);
  for (int64_t i = 0; i < flat.numel(); i += 7) {
    const double saved = flat[i].item<double>();
    flat[i] = saved + 1e-6;
    const double plus = (warp(image, psi.detach()) * projection).sum().item<double>();
    flat[i] = saved - 1e-6;
    const double minus = (warp(image, psi.detach()) * projection).sum().item<double>();
    flat[i] = saved;
    EXPECT_NEAR(grad.view(-1)[i].item<double>(), (plus - minus) / 2e-6, 1e-5);
  }
}

TEST_CASE("up2: doubles the grid with align_corners = true, keeping corner values") {
  const auto field = torch::randn({1, 2, 3, 4});
  const auto up = up2(field);
  EXPECT((up.sizes().vec() == std::vector<int64_t>{1, 2, 6, 8}));
  EXPECT_NEAR(up[0][1][5][7].item<double>(), field[0][1][2][3].item<double>(), 1e-6);
  EXPECT_NEAR(up[0][0][0][0].item<double>(), field[0][0][0][0].item<double>(), 1e-6);
}

TEST_CASE("vpa: warp(psi, w) + w composes two constant translations into their sum") {
  // First w, then psi: x -> x + w -> x + w + psi.
  auto psi = torch::zeros({1, 2, 8, 8});
  psi.select(1, 0).fill_(1);
  auto w = torch::zeros({1, 2, 8, 8});
  w.select(1, 1).fill_(2);
  const auto composed = warp(psi, w) + w;
  const auto interior = composed.narrow(3, 0, 6);  // x + w stays inside for these columns
  EXPECT(interior.select(1, 0).eq(1).all().item<bool>());
  EXPECT(interior.select(1, 1).eq(2).all().item<bool>());
  // Composition against sampling twice: I(x + w + psi(x + w)) == warp(warp(I, psi), w)(x).
  const auto image = torch::randn({1, 1, 8, 8});
  EXPECT_CLOSE(warp(image, composed).narrow(3, 0, 6).narrow(2, 0, 7),
               warp(warp(image, psi), w).narrow(3, 0, 6).narrow(2, 0, 7), 1e-5);
}

TEST_CASE("vpa: composition of a non-uniform pair matches sampling twice") {
  // Smooth fields so that the composition is well defined inside the grid.
  const auto ys = torch::arange(16, torch::kFloat64).reshape({1, 16, 1}).expand({1, 16, 16});
  const auto xs = torch::arange(16, torch::kFloat64).reshape({1, 1, 16}).expand({1, 16, 16});
  const auto psi = torch::stack({torch::sin(xs / 5), torch::cos(ys / 4) - 1}, 1);
  const auto w = torch::stack({torch::round(ys / 8), torch::round(xs / 9)}, 1);  // integer
  const auto composed = warp(psi, w) + w;
  const auto image = torch::randn({1, 1, 16, 16}, torch::kFloat64);
  // With integer w, warp(psi, w) samples psi at grid points exactly, so both agree
  // wherever x + w stays inside.
  const auto inside = (ys + w.select(1, 0) <= 15) & (xs + w.select(1, 1) <= 15);
  const auto lhs = warp(image, composed).squeeze(1);
  const auto rhs = warp(warp(image, psi), w).squeeze(1);
  EXPECT(((lhs - rhs).abs() * inside.to(torch::kFloat64)).max().item<double>() < 1e-12);
}

}  // namespace
