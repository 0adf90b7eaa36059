#include "bench/loss_curve.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "bench/scenarios.h"
#include "core/trainer.h"

namespace cover::bench {
namespace {

namespace F = torch::nn::functional;

// Images with structure at every scale (smooth noise at 1/16, 1/4 and the full size of the
// patch), each min-max scaled to [0, 1]: something to register, made on `device`.
torch::Tensor texturedImages(torch::Device device, int dims, int64_t count, int64_t side) {
  const auto on = torch::TensorOptions(device);
  std::vector<int64_t> shape{count, 1};
  for (int i = 0; i < dims; ++i) shape.push_back(side);
  const std::vector<int64_t> size(shape.begin() + 2, shape.end());
  F::InterpolateFuncOptions::mode_t mode = torch::kTrilinear;
  if (dims == 2) mode = torch::kBilinear;
  auto images = torch::zeros(shape, on);
  for (const auto& [shrink, weight] :
       std::vector<std::pair<int64_t, double>>{{16, 1.0}, {4, 0.4}, {1, 0.05}}) {
    std::vector<int64_t> coarse{count, 1};
    for (int i = 0; i < dims; ++i) coarse.push_back(std::max<int64_t>(2, side / shrink));
    const auto noise = torch::randn(coarse, on);
    images +=
        weight * F::interpolate(
                     noise, F::InterpolateFuncOptions().size(size).mode(mode).align_corners(false));
  }
  const auto flat = images.flatten(1);
  const auto low = std::get<0>(flat.min(1, true));
  const auto high = std::get<0>(flat.max(1, true));
  return ((flat - low) / (high - low)).view(shape);
}

// The mean of the finite values in [from, to); NaN when there are none.
double finiteMean(const std::vector<double>& values, size_t from, size_t to) {
  double sum = 0;
  size_t count = 0;
  for (size_t i = from; i < to; ++i) {
    if (!std::isfinite(values[i])) continue;
    sum += values[i];
    ++count;
  }
  return count > 0 ? sum / static_cast<double>(count) : std::nan("");
}

double environmentNumber(const char* name, double fallback) {
  const char* text = std::getenv(name);
  return text != nullptr ? std::atof(text) : fallback;
}

}  // namespace

std::function<std::string()> lossCurveScenario(torch::Device device, int dims, int64_t crop,
                                               int64_t batch) {
  return [=] {
    const auto steps =
        static_cast<size_t>(std::max(1.0, environmentNumber("COVER_TORCH_LOSS_CURVE_STEPS", 300)));
    const double budgetMs = environmentNumber("COVER_TORCH_LOSS_CURVE_BUDGET_S", 60) * 1000.0;
    torch::manual_seed(0);
    const auto images = texturedImages(device, dims, 32, crop * 3 / 2);
    const std::vector<std::string> precisions{"none", "bf16"};
    std::vector<std::unique_ptr<core::Trainer>> trainers;
    for (const auto& precision : precisions) {
      torch::manual_seed(1);  // the same weights for both
      core::ModelOptions options;
      options.dims = dims;
      core::CoverModel model(options);
      model->to(device);
      core::TrainOptions train;
      train.views.cropSize = std::vector<int64_t>(dims, crop);
      train.mixedPrecision = precision;
      trainers.push_back(std::make_unique<core::Trainer>(model, train));
    }
    // Per step and precision; a skipped step (non-finite loss or gradient) is left out of
    // the means and counted instead.
    std::vector<std::vector<double>> losses(2), ratios(2);
    std::vector<double> lastVariation(2, 0), skipped(2, 0);
    const double started = nowMs();
    size_t taken = 0;
    for (; taken < steps && (taken == 0 || nowMs() - started < budgetMs); ++taken) {
      const auto indices =
          (torch::arange(batch) + static_cast<int64_t>(taken) * batch).remainder(images.size(0));
      const auto batchImages = images.index_select(0, indices.to(device));
      // A linear warmup over 50 steps, then the default peak rate.
      const double learningRate = 1e-4 * std::min(1.0, static_cast<double>(taken + 1) / 50.0);
      for (size_t i = 0; i < trainers.size(); ++i) {
        const auto metrics = trainers[i]->step(batchImages, learningRate);
        const bool finite =
            !metrics.skipped && std::isfinite(metrics.vectorLoss) && metrics.zeroBaseline > 0;
        losses[i].push_back(finite ? metrics.vectorLoss : std::nan(""));
        ratios[i].push_back(finite ? metrics.vectorLoss / metrics.zeroBaseline : std::nan(""));
        skipped[i] += finite ? 0 : 1;
        lastVariation[i] = metrics.featureVariation;
      }
    }
    // The first and last halves' ends: 50 steps each, fewer (and never overlapping) when the
    // run stopped early.
    const size_t window = std::min<size_t>(50, taken / 2);
    std::vector<double> gaps;
    for (size_t i = 0; i < taken; ++i)
      gaps.push_back(std::abs(losses[1][i] - losses[0][i]) / losses[0][i]);
    return jsonObject({{"steps", static_cast<double>(taken)},
                       {"complete", taken == steps ? 1.0 : 0.0},
                       {"window", static_cast<double>(window)},
                       {"fp32FirstRatio", finiteMean(ratios[0], 0, window)},
                       {"fp32LastRatio", finiteMean(ratios[0], taken - window, taken)},
                       {"bf16FirstRatio", finiteMean(ratios[1], 0, window)},
                       {"bf16LastRatio", finiteMean(ratios[1], taken - window, taken)},
                       {"meanRelativeGap", finiteMean(gaps, 0, gaps.size())},
                       {"fp32SkippedSteps", skipped[0]},
                       {"bf16SkippedSteps", skipped[1]},
                       {"fp32FeatureVariation", lastVariation[0]},
                       {"bf16FeatureVariation", lastVariation[1]},
                       {"ms", nowMs() - started}},
                      {{"kind", "bf16-vs-fp32-loss-curve"}, {"device", device.str()}});
  };
}

}  // namespace cover::bench
