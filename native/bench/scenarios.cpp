// The measured scenarios: MoV (fused vs reference) and the training step.
#include "bench/scenarios.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "bench/cuda_scenarios.h"
#include "bench/loss_curve.h"
#include "core/mov.h"
#include "core/trainer.h"

namespace cover::bench {
namespace {

std::string json(const std::map<std::string, double>& numbers,
                 const std::map<std::string, std::string>& strings) {
  return jsonObject({numbers.begin(), numbers.end()}, {strings.begin(), strings.end()});
}

// Forward + backward of MoV on random features of the given shape.
std::function<std::string()> movScenario(std::vector<int64_t> shape, int64_t heads, bool fused,
                                         int repeats) {
  return [=] {
    torch::manual_seed(0);
    auto q = torch::randn(shape).requires_grad_(true);
    auto k = torch::randn(shape).requires_grad_(true);
    const auto run = [&] {
      auto out = fused ? core::movFused(q, k, heads, 2) : core::movReference(q, k, heads, 2);
      out.sum().backward();
      q.mutable_grad() = torch::Tensor();
      k.mutable_grad() = torch::Tensor();
    };
    const auto m = measure(run, repeats);
    return json({{"ms", m.medianMs},
                 {"peakExtraMb", m.peakExtraMb},
                 {"threads", double(at::get_num_threads())}},
                {{"kind", fused ? "fused" : "reference"}});
  };
}

// Multiply-accumulates of one U-Net + projection forward pass over `voxels` full-size
// positions (3x3 convs at each level; decoder input widths include the skip).
double modelForwardMacs(const core::ModelOptions& o, double voxels) {
  const double kernel = o.dims == 2 ? 9 : 27;
  const double shrink = o.dims == 2 ? 4 : 8;
  const auto& c = o.channels;
  double macs = 0, level = voxels;
  std::vector<double> sizes;
  for (int i = 0; i < 5; ++i) {
    const double in = i == 0 ? o.inChannels : c[i - 1];
    macs += level * kernel * (in * c[i] + c[i] * c[i]);
    sizes.push_back(level);
    level /= shrink;
  }
  for (int i = 0; i < 4; ++i) {  // up1..up4 at levels 3..0
    const double at = sizes[3 - i];
    macs += at * kernel * ((c[4 - i] + c[3 - i]) * c[3 - i] + c[3 - i] * c[3 - i]);
  }
  for (int l = 0; l < 5; ++l)
    macs += sizes[4 - l] * c[4 - l] * o.headDim * o.heads[l];  // 1x1 projections
  return macs;
}

// MoV work per pyramid: window x channels per position, at each level.
double movMacs(const core::ModelOptions& o, double voxels) {
  const double window = std::pow(2.0 * o.radius + 1, o.dims);
  const double shrink = o.dims == 2 ? 4 : 8;
  double macs = 0, level = voxels / std::pow(shrink, 4);
  for (int l = 0; l < 5; ++l, level *= shrink) macs += level * window * o.headDim * o.heads[l];
  return macs;
}

double matmulGflops() {
  auto a = torch::randn({2048, 2048});
  auto b = torch::randn({2048, 2048});
  const auto m = measure([&] { torch::mm(a, b); }, 5);
  return 2.0 * 2048.0 * 2048.0 * 2048.0 / (m.medianMs * 1e6);
}

std::function<std::string()> stepScenario(int dims, std::vector<int64_t> crop, int64_t batch,
                                          int repeats = 5) {
  return [=] {
    torch::manual_seed(0);
    core::ModelOptions options;
    options.dims = dims;
    core::CoverModel model(options);
    core::TrainOptions train;
    train.views.cropSize = crop;
    core::Trainer trainer(model, train);
    std::vector<int64_t> shape{batch, 1};
    double voxels = 1;
    for (auto s : crop) {
      shape.push_back(s * 3 / 2);
      voxels *= static_cast<double>(s);
    }
    const auto images = torch::rand(shape);
    core::StepMetrics last;
    const auto m = measure([&] { last = trainer.step(images, 1e-4); }, repeats);

    // Time MoV alone (fused, forward + backward) at every pyramid level of this step.
    double movMs = 0;
    const double shrinkPerAxis = 16;
    for (int level = 0; level < 5; ++level) {
      const double factor = shrinkPerAxis / std::pow(2.0, level);  // 16, 8, 4, 2, 1
      std::vector<int64_t> featureShape{batch, options.headDim * options.heads[level]};
      for (auto s : crop) featureShape.push_back(static_cast<int64_t>(s / factor));
      auto q = torch::randn(featureShape).requires_grad_(true);
      auto k = torch::randn(featureShape).requires_grad_(true);
      movMs +=
          measure(
              [&] { core::movFused(q, k, options.heads[level], options.radius).sum().backward(); },
              3)
              .medianMs;
    }
    // Both views go through the backbone (2B images); backward costs about twice forward.
    const double flops =
        2.0 * 3.0 *
        (modelForwardMacs(options, voxels * 2.0 * batch) + movMacs(options, voxels * batch));
    const double peak = matmulGflops();
    const double achieved = flops / (m.medianMs * 1e6);
    return json({{"ms", m.medianMs},
                 {"peakExtraMb", m.peakExtraMb},
                 {"peakRssMb", peakMemoryMb()},
                 {"movMs", movMs},
                 {"movShare", movMs / m.medianMs},
                 {"gflopPerStep", flops / 1e9},
                 {"achievedGflops", achieved},
                 {"matmulGflops", peak},
                 {"shareOfMatmulPeak", achieved / peak},
                 {"viewsMs", last.viewMs},
                 {"forwardMs", last.forwardMs},
                 {"backwardMs", last.backwardMs},
                 {"optimizerMs", last.optimizerMs},
                 {"threads", double(at::get_num_threads())}},
                {});
  };
}

}  // namespace

const std::map<std::string, std::function<std::string()>>& scenarios() {
  static const auto all = [] {
    std::map<std::string, std::function<std::string()>> cpu{
        {"mov-2d-256-c32-j4-fused", movScenario({1, 32, 256, 256}, 4, true, 3)},
        {"mov-2d-256-c32-j4-reference", movScenario({1, 32, 256, 256}, 4, false, 3)},
        {"mov-3d-64-c8-j1-fused", movScenario({1, 8, 64, 64, 64}, 1, true, 3)},
        {"mov-3d-64-c8-j1-reference", movScenario({1, 8, 64, 64, 64}, 1, false, 3)},
        {"mov-3d-96-c8-j1-fused", movScenario({1, 8, 96, 96, 96}, 1, true, 2)},
        {"mov-3d-96-c8-j1-reference", movScenario({1, 8, 96, 96, 96}, 1, false, 2)},
        {"step-2d-128-b4", stepScenario(2, {128, 128}, 4)},
        {"step-3d-64-b1", stepScenario(3, {64, 64, 64}, 1)},
        {"step-3d-96-b1", stepScenario(3, {96, 96, 96}, 1, 3)},
        {"loss-curve-2d-32-b2", lossCurveScenario(torch::kCPU, 2, 32, 2)},
    };
    auto gpu = cudaScenarios();
    cpu.insert(gpu.begin(), gpu.end());
    return cpu;
  }();
  return all;
}

}  // namespace cover::bench
