// GPU scenarios: the CUDA MoV kernels against the reference (time and peak GPU memory of
// forward + backward, the forward's bytes per second), training steps, and the largest 3D
// crop a step fits in. Each prints one JSON object; scripts/gpu-check.sh runs them all.
#include "bench/cuda_scenarios.h"

#if defined(COVER_TORCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "bench/loss_curve.h"
#include "bench/scenarios.h"
#include "core/mov.h"
#include "core/runtime_info.h"
#include "core/trainer.h"
#endif

namespace cover::bench {

#if defined(COVER_TORCH_CUDA)
namespace {

const torch::Device kGpu(torch::kCUDA, 0);

void synchronize() { torch::cuda::synchronize(0); }

double allocatedMb(bool peak) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
  const auto& bytes = stats.allocated_bytes[0];  // aggregate over pool kinds
  return static_cast<double>(peak ? bytes.peak : bytes.current) / (1024.0 * 1024.0);
}

struct GpuMeasurement {
  double medianMs;     // of the timed runs (the first run's time when there are none)
  double peakExtraMb;  // peak allocated during the first run above what was allocated before
};

// One run for the peak memory, then `repeats` timed runs (each synchronised).
GpuMeasurement measureGpu(const std::function<void()>& run, int repeats) {
  synchronize();
  const double before = allocatedMb(false);
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
  const double firstStart = nowMs();
  run();
  synchronize();
  const double firstMs = nowMs() - firstStart;
  const double peakExtra = allocatedMb(true) - before;
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const double start = nowMs();
    run();
    synchronize();
    times.push_back(nowMs() - start);
  }
  if (times.empty()) return {firstMs, peakExtra};
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], peakExtra};
}

std::string json(const std::vector<std::pair<std::string, double>>& numbers,
                 const std::string& kind) {
  static const std::string gpu = core::runtimeInfo().cudaDeviceNames.at(0);
  return jsonObject(numbers, {{"kind", kind}, {"gpu", gpu}});
}

// Which MoV a scenario times: the reference, or the kernels sharing out positions by runs
// (the default) or one at a time.
enum class MovKind { reference, runs, positions };

// MoV forward + backward on random features; also forward alone, its bytes per second (q and k read
// once, the output written once: the least it must move) and its logit arithmetic per second (a
// multiply-add per channel and window offset), which bounds it before memory does for wide windows
// (docs/internals.md).
std::function<std::string()> movScenario(std::vector<int64_t> shape, int64_t heads, int64_t radius,
                                         MovKind kind, torch::ScalarType dtype) {
  return [=] {
    torch::manual_seed(0);
    auto q = torch::randn(shape, torch::TensorOptions(kGpu).dtype(dtype)).requires_grad_(true);
    auto k = torch::randn(shape, torch::TensorOptions(kGpu).dtype(dtype)).requires_grad_(true);
    const auto mov = [kind](const torch::Tensor& q, const torch::Tensor& k, int64_t heads,
                            int64_t radius) {
      if (kind == MovKind::reference) return core::movReference(q, k, heads, radius);
      return core::movPointwise(
          q, k, heads, radius,
          kind == MovKind::runs ? core::MovLoop::runs : core::MovLoop::positions);
    };
    const auto both = measureGpu(
        [&] {
          mov(q, k, heads, radius).sum().backward();
          q.mutable_grad() = torch::Tensor();
          k.mutable_grad() = torch::Tensor();
        },
        5);
    const auto forward = measureGpu(
        [&] {
          torch::NoGradGuard noGrad;
          mov(q, k, heads, radius);
        },
        10);
    const double elements = static_cast<double>(q.numel());
    const double outputs =
        elements / static_cast<double>(shape[1]) * static_cast<double>(shape.size() - 2);
    const double bytes = (2.0 * elements) * q.element_size() + outputs * q.element_size();
    const double window =
        std::pow(2.0 * static_cast<double>(radius) + 1.0, static_cast<double>(shape.size() - 2));
    const double flops = 2.0 * elements * window;
    return json({{"ms", both.medianMs},
                 {"peakGpuMb", both.peakExtraMb},
                 {"forwardMs", forward.medianMs},
                 {"forwardPeakGpuMb", forward.peakExtraMb},
                 {"forwardGBps", bytes / (forward.medianMs * 1e6)},
                 {"forwardLogitTflops", flops / (forward.medianMs * 1e9)}},
                kind == MovKind::reference ? "reference"
                : kind == MovKind::runs    ? "kernel (runs of four positions)"
                                           : "kernel (one position per thread)");
  };
}

// MoV forward + backward (the kernels, float32) at every pyramid level of a step on a
// `side`-voxel crop: what the step spends in MoV, so what a faster kernel could save of it.
double movMsPerStep(const core::ModelOptions& options, int64_t side, int64_t batch) {
  double total = 0;
  for (int level = 0; level < 5; ++level) {  // 1/16 .. full resolution
    std::vector<int64_t> shape{batch, options.headDim * options.heads[level]};
    for (int axis = 0; axis < options.dims; ++axis) shape.push_back(side >> (4 - level));
    auto q = torch::randn(shape, torch::TensorOptions(kGpu)).requires_grad_(true);
    auto k = torch::randn(shape, torch::TensorOptions(kGpu)).requires_grad_(true);
    total += measureGpu(
                 [&] {
                   core::movPointwise(q, k, options.heads[level], options.radius).sum().backward();
                   q.mutable_grad() = torch::Tensor();
                   k.mutable_grad() = torch::Tensor();
                 },
                 5)
                 .medianMs;
  }
  return total;
}

core::CoverModel modelOnGpu(int dims) {
  core::ModelOptions options;
  options.dims = dims;
  core::CoverModel model(options);
  model->to(kGpu);
  return model;
}

// One training step (views, forward, backward, Adam) of the default model on the GPU, in
// float32 or with the backbone under bf16 autocast ("bf16"); the label says which, and the
// first step's L_vec shows what bf16 does to the loss on the same views.
std::function<std::string()> stepScenario(int dims, int64_t side, int64_t batch,
                                          const std::string& precision = "none") {
  return [=] {
    torch::manual_seed(0);
    auto model = modelOnGpu(dims);
    core::TrainOptions train;
    train.views.cropSize = std::vector<int64_t>(dims, side);
    train.mixedPrecision = precision;
    core::Trainer trainer(model, train);
    std::vector<int64_t> shape{batch, 1};
    for (int i = 0; i < dims; ++i) shape.push_back(side * 3 / 2);
    const auto images = torch::rand(shape).to(kGpu);
    double firstVectorLoss = -1;
    const auto m = measureGpu(
        [&] {
          const auto metrics = trainer.step(images, 1e-4);
          if (firstVectorLoss < 0) firstVectorLoss = metrics.vectorLoss;
        },
        5);
    const double movMs = movMsPerStep(model->options(), side, batch);
    return json({{"ms", m.medianMs},
                 {"stepsPerSecond", 1000.0 / m.medianMs},
                 {"peakGpuMb", m.peakExtraMb},
                 {"firstVectorLoss", firstVectorLoss},
                 {"movMs", movMs},
                 {"movShare", movMs / m.medianMs}},
                precision == "bf16" ? "bf16-backbone" : "fp32");
  };
}

// One training step of the default 3D model at a cubic crop (B = 1): its peak GPU memory
// above what was allocated before, and its time (a single step, so the first-step costs
// are included; the figure sizes the crop, it is not a speed measure).
struct CropTrial {
  double peakMb, ms;
};

CropTrial stepAtCrop(int64_t side, const std::string& precision) {
  torch::manual_seed(0);
  auto model = modelOnGpu(3);
  core::TrainOptions train;
  train.views.cropSize = {side, side, side};
  train.mixedPrecision = precision;
  core::Trainer trainer(model, train);
  const auto images = torch::rand({1, 1, side * 3 / 2, side * 3 / 2, side * 3 / 2}).to(kGpu);
  const auto m = measureGpu([&] { trainer.step(images, 1e-4); }, 0);
  return {m.peakExtraMb, m.medianMs};  // no timed runs: the first run's time
}

// The largest cubic 3D crop (B = 1, a multiple of 32) whose step peaks under 80 GB: sides
// 128, 192, ... 512 until one does not fit, then the side 32 above the last that did. Each
// trial goes to stderr as it ends, and no new size is tried once the budget has passed
// (COVER_TORCH_LARGEST_CROP_BUDGET_S, default 60 s; gpu-check.sh sets half its time limit
// per scenario), so the result is printed before a time limit would kill the search; it
// says whether the search was complete. `precision` as in stepScenario.
std::string largestCrop(const std::string& precision) {
  const char* budget = std::getenv("COVER_TORCH_LARGEST_CROP_BUDGET_S");
  const double budgetSeconds = budget != nullptr ? std::atof(budget) : 60.0;
  const double started = nowMs();
  const double limitMb = 80.0 * 1024.0;
  int64_t largest = 0;
  CropTrial best{0, 0};
  std::string stoppedBy = "complete";
  const auto fits = [&](int64_t side) {
    if (nowMs() - started > budgetSeconds * 1000) {
      stoppedBy = "time budget";
      return false;
    }
    try {
      const auto trial = stepAtCrop(side, precision);
      c10::cuda::CUDACachingAllocator::emptyCache();
      std::cerr << "largest crop: side " << side << ": peak " << trial.peakMb << " MB, " << trial.ms
                << " ms\n";
      if (trial.peakMb > limitMb) return false;
      if (side > largest) {
        largest = side;
        best = trial;
      }
      return true;
    } catch (const c10::Error& error) {  // out of memory, or anything else at this size
      c10::cuda::CUDACachingAllocator::emptyCache();
      std::cerr << "largest crop: side " << side << ": " << error.what_without_backtrace() << "\n";
      if (dynamic_cast<const c10::OutOfMemoryError*>(&error) == nullptr) stoppedBy = "error";
      return false;
    }
  };
  int64_t side = 128;
  while (side <= 512 && fits(side)) side += 64;
  if (largest > 0 && largest + 32 <= 512 && stoppedBy == "complete") fits(largest + 32);
  return json({{"side", double(largest)},
               {"peakGpuMb", best.peakMb},
               {"ms", best.ms},
               {"complete", stoppedBy == "complete" ? 1.0 : 0.0}},
              "largest-3d-crop-under-80GB" +
                  std::string(precision == "bf16" ? ", bf16 backbone" : "") + " (" + stoppedBy +
                  ")");
}

}  // namespace

std::map<std::string, std::function<std::string()>> cudaScenarios() {
  if (!torch::cuda::is_available()) return {};
  std::map<std::string, std::function<std::string()>> all;
  const auto f32 = torch::kFloat32;
  // The reference against the kernels, and the kernels by runs (the default) against one
  // position per thread.
  const std::pair<MovKind, std::string> kinds[] = {{MovKind::runs, "-kernel"},
                                                   {MovKind::reference, "-reference"},
                                                   {MovKind::positions, "-positions"}};
  for (int64_t side : {96, 128}) {
    for (int64_t radius : {2, 3}) {
      for (const auto& [kind, suffix] : kinds) {
        if (kind == MovKind::positions && side != 128) continue;
        const auto name =
            "cuda-mov-3d-" + std::to_string(side) + "-c8-j1-r" + std::to_string(radius) + suffix;
        all[name] = movScenario({1, 8, side, side, side}, 1, radius, kind, f32);
      }
    }
  }
  for (const auto& [kind, suffix] : kinds) {
    all["cuda-mov-2d-384-c32-j4-r2" + suffix] = movScenario({1, 32, 384, 384}, 4, 2, kind, f32);
  }
  for (const auto kind : {MovKind::runs, MovKind::positions}) {
    all[std::string("cuda-mov-3d-128-c8-j1-r2-") +
        (kind == MovKind::runs ? "kernel" : "positions") + "-bf16"] =
        movScenario({1, 8, 128, 128, 128}, 1, 2, kind, torch::kBFloat16);
  }
  all["cuda-step-2d-384-b24"] = stepScenario(2, 384, 24);
  all["cuda-step-3d-128-b2"] = stepScenario(3, 128, 2);
  all["cuda-step-2d-384-b24-bf16"] = stepScenario(2, 384, 24, "bf16");
  all["cuda-step-3d-128-b2-bf16"] = stepScenario(3, 128, 2, "bf16");
  all["cuda-step-3d-largest"] = [] { return largestCrop("none"); };
  all["cuda-step-3d-largest-bf16"] = [] { return largestCrop("bf16"); };
  all["cuda-loss-curve-2d-128-b8"] = lossCurveScenario(kGpu, 2, 128, 8);
  all["cuda-loss-curve-3d-64-b2"] = lossCurveScenario(kGpu, 3, 64, 2);
  return all;
}
#else
std::map<std::string, std::function<std::string()>> cudaScenarios() { return {}; }
#endif

}  // namespace cover::bench
