// The CUDA kernels' arithmetic (cuda/mov_row.h, cuda/mov_point.h) against the reference: on
// the CPU here, where it runs in a loop, and on a GPU in the "cuda: " tests (run by
// scripts/gpu-check.sh). Both ways of sharing out positions, runs and one at a time.
#include <ATen/CPUGeneratorImpl.h>

#include <functional>

#include "core/model.h"
#include "core/mov.h"
#include "core/trainer.h"
#include "tests/harness.h"

namespace {

using namespace cover::core;
using cover::tests::requireCuda;

struct Case {
  std::vector<int64_t> shape;
  int64_t heads, radius;
};

// 2D and 3D, r 1..3, one and four heads, 8 channels per head and 10 (two passes of the
// gradient's channel loop); grids smaller than the window (coarse pyramid levels), where
// most offsets fall off every border; widths that are multiples of 4 over several runs (the
// device's 4-wide loads, with groups wholly outside the grid at both ends) and widths that
// are not (a run sticking out of the grid); r = 4, the widest window that runs serve, and
// r = 5, which goes one position at a time whatever is asked.
std::vector<Case> cases() {
  std::vector<Case> all;
  for (int dims : {2, 3}) {
    for (int64_t radius : {1, 2, 3}) {
      for (int64_t heads : {1, 4}) {
        for (int64_t headDim : {8, 10}) {
          const int64_t c = heads * headDim;
          all.push_back(
              {dims == 2 ? std::vector<int64_t>{2, c, 9, 7} : std::vector<int64_t>{2, c, 5, 6, 4},
               heads, radius});
        }
      }
    }
  }
  for (const auto& shape : std::vector<std::vector<int64_t>>{
           {2, 8, 2, 1}, {1, 8, 1, 3}, {1, 8, 1, 2, 3}, {1, 8, 2, 1, 1}}) {
    all.push_back({shape, 2, 3});
  }
  all.push_back({{2, 16, 6, 16}, 2, 4});
  all.push_back({{1, 8, 11, 13}, 1, 4});
  all.push_back({{1, 16, 4, 5, 12}, 2, 2});
  all.push_back({{1, 8, 5, 6, 9}, 1, 4});
  all.push_back({{1, 8, 12, 12}, 1, 5});
  return all;
}

struct Result {
  torch::Tensor output, gradQ, gradK;
};

using MovFunction =
    std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, int64_t, int64_t)>;

MovFunction pointwise(MovLoop loop) {
  return [loop](const torch::Tensor& q, const torch::Tensor& k, int64_t heads, int64_t radius) {
    return movPointwise(q, k, heads, radius, loop);
  };
}

const MovLoop kLoops[] = {MovLoop::runs, MovLoop::positions};

// Output and the gradients of a random linear functional of it (so every component's
// gradient counts), for inputs moved to `device` as `dtype`.
Result run(MovFunction mov, const torch::Tensor& q0, const torch::Tensor& k0,
           const torch::Tensor& projection, const Case& c, torch::Device device,
           torch::ScalarType dtype) {
  // Copies, so that each run has leaves of its own (gradients would accumulate otherwise).
  auto q = q0.to(device, dtype, false, true).requires_grad_(true);
  auto k = k0.to(device, dtype, false, true).requires_grad_(true);
  const auto output = mov(q, k, c.heads, c.radius);
  (output.to(torch::kFloat32) * projection.to(device)).sum().backward();
  return {output.detach().to(torch::kCPU, torch::kFloat64),
          q.grad().to(torch::kCPU, torch::kFloat64), k.grad().to(torch::kCPU, torch::kFloat64)};
}

struct Inputs {
  torch::Tensor q, k, projection;
};

Inputs inputsFor(const Case& c) {
  // Scaled so that the softmax is neither uniform nor one-hot.
  const auto q = torch::randn(c.shape) * 1.5;
  const auto k = torch::randn(c.shape) * 1.5;
  auto outShape = c.shape;
  outShape[1] = static_cast<int64_t>(c.shape.size()) - 2;
  return {q, k, torch::randn(outShape)};
}

// The reference in float64: the standard the float32 paths are held to.
Result referenceOf(const Inputs& in, const Case& c) {
  return run(movReference, in.q, in.k, in.projection.to(torch::kFloat64), c, torch::kCPU,
             torch::kFloat64);
}

void expectMatches(const Result& actual, const Result& expected, double tolerance) {
  EXPECT_RELATIVE(actual.output, expected.output, tolerance);
  EXPECT_RELATIVE(actual.gradQ, expected.gradQ, tolerance);
  EXPECT_RELATIVE(actual.gradK, expected.gradK, tolerance);
}

TEST_CASE(
    "mov pointwise: the kernels' arithmetic equals the reference (CPU, value and gradients)") {
  for (const auto& c : cases()) {
    const auto in = inputsFor(c);
    const auto reference = referenceOf(in, c);
    for (const auto loop : kLoops) {
      expectMatches(
          run(pointwise(loop), in.q, in.k, in.projection, c, torch::kCPU, torch::kFloat32),
          reference, 1e-5);
    }
  }
}

TEST_CASE("mov pointwise: bfloat16 inputs give the float32 result of the rounded inputs") {
  for (const auto& c : {Case{{2, 32, 9, 7}, 4, 2}, Case{{1, 8, 5, 6, 4}, 1, 2}}) {
    auto in = inputsFor(c);
    in.q = in.q.to(torch::kBFloat16).to(torch::kFloat32);
    in.k = in.k.to(torch::kBFloat16).to(torch::kFloat32);
    for (const auto loop : kLoops) {
      const auto bf16 =
          run(pointwise(loop), in.q, in.k, in.projection, c, torch::kCPU, torch::kBFloat16);
      // The output and gradients are rounded to bfloat16 (8 significant bits) once, at the end.
      expectMatches(bf16, referenceOf(in, c), 1e-2);
    }
  }
}

TEST_CASE("mov pointwise: refuses float64 and says which dtypes it takes") {
  bool threw = false;
  try {
    movPointwise(torch::randn({1, 8, 4, 4}, torch::kFloat64),
                 torch::randn({1, 8, 4, 4}, torch::kFloat64), 1, 1);
  } catch (const c10::Error& error) {
    threw = std::string(error.what_without_backtrace()).find("float32 or bfloat16") !=
            std::string::npos;
  }
  EXPECT(threw);
}

TEST_CASE("cuda: MoV kernels equal the reference in value and both gradients") {
  requireCuda();
  for (const auto& c : cases()) {
    const auto in = inputsFor(c);
    const auto reference = referenceOf(in, c);
    for (const auto loop : kLoops) {
      expectMatches(
          run(pointwise(loop), in.q, in.k, in.projection, c, torch::kCUDA, torch::kFloat32),
          reference, 1e-4);
    }
  }
}

TEST_CASE("cuda: bfloat16 MoV kernels equal the same arithmetic on the CPU") {
  requireCuda();
  for (const auto& c : cases()) {
    const auto in = inputsFor(c);
    for (const auto loop : kLoops) {
      const auto cpu =
          run(pointwise(loop), in.q, in.k, in.projection, c, torch::kCPU, torch::kBFloat16);
      const auto gpu =
          run(pointwise(loop), in.q, in.k, in.projection, c, torch::kCUDA, torch::kBFloat16);
      // Same inputs and order of operations; fast exp on the device and the final rounding
      // to bfloat16 can differ by one unit in the last place.
      expectMatches(gpu, cpu, 1e-2);
    }
  }
}

torch::Tensor smoothImages(int64_t batch, std::vector<int64_t> size, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<int64_t> shape{batch, 1};
  shape.insert(shape.end(), size.begin(), size.end());
  auto image = torch::rand(shape, generator, torch::kFloat32);
  image = size.size() == 2 ? torch::avg_pool2d(image, 5, 1, 2) : torch::avg_pool3d(image, 5, 1, 2);
  return (image - image.amin()) / (image.amax() - image.amin());
}

TEST_CASE("cuda: a training step on the GPU matches a CPU step on the same batch and seed") {
  requireCuda();
  // TF32 convolutions would differ from the CPU by ~1e-3 by design; compare full float32.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setFloat32MatmulPrecision("highest");
  for (int dims : {2, 3}) {
    ModelOptions options;
    options.dims = dims;
    options.channels = {16, 32, 32, 64, 64};
    TrainOptions training;
    training.views.cropSize =
        dims == 2 ? std::vector<int64_t>{64, 64} : std::vector<int64_t>{32, 32, 32};
    // Per-voxel noise is drawn on each device by its own kind of generator; without it the
    // views of a seed are the same on both.
    training.views.elasticAmplitude = 0.0;
    training.views.appearance = false;
    const auto images = dims == 2 ? smoothImages(4, {96, 96}, 1) : smoothImages(1, {48, 48, 48}, 1);
    std::vector<StepMetrics> metrics[2];
    std::vector<torch::Tensor> weights[2];
    for (int onGpu = 0; onGpu < 2; ++onGpu) {
      CoverModel model(options, at::make_generator<at::CPUGeneratorImpl>(7));
      if (onGpu) {
        model->to(torch::kCUDA);
        // 3D weights leave the CPU's channels-last layout (see model_test.cpp).
        for (const auto& p : model->parameters()) EXPECT(p.dim() < 5 || p.is_contiguous());
      }
      Trainer trainer(model, training);
      for (int s = 0; s < 3; ++s) {
        metrics[onGpu].push_back(trainer.step(onGpu ? images.to(torch::kCUDA) : images, 1e-3));
      }
      for (const auto& p : model->parameters()) weights[onGpu].push_back(p.detach().cpu());
    }
    // The first step runs on identical weights and views: forward and gradients must agree
    // to float32 rounding. The later ones show that the updates agree too, more loosely:
    // Adam's first step moves every weight by lr times the sign of its gradient, and a
    // gradient at rounding level can have either sign on either device.
    for (int s = 0; s < 3; ++s) {
      const double tolerance = s == 0 ? 1e-3 : 1e-2;
      const auto& cpu = metrics[0][s];
      const auto& gpu = metrics[1][s];
      EXPECT_NEAR(gpu.vectorLoss, cpu.vectorLoss, tolerance * std::abs(cpu.vectorLoss));
      EXPECT_NEAR(gpu.consistencyLoss, cpu.consistencyLoss,
                  tolerance * std::abs(cpu.consistencyLoss) + 1e-6);
      EXPECT_NEAR(gpu.gradNorm, cpu.gradNorm, 2 * tolerance * std::abs(cpu.gradNorm));
    }
    // Phase timings: always on the CPU; on the GPU only when asked (no waits otherwise).
    EXPECT(std::isfinite(metrics[0][0].forwardMs) && std::isfinite(metrics[1][0].stepMs));
    EXPECT(std::isnan(metrics[1][0].forwardMs) && std::isnan(metrics[1][0].optimizerMs));
    // Adam moves each weight by about lr per step whatever the gradient's size, so a weight
    // whose gradient is at rounding level may move the other way on the other device; the
    // rest must move alike. A missing or wrong update on either device would set most
    // weights more than lr / 2 apart after three steps.
    int64_t apart = 0, total = 0;
    for (size_t i = 0; i < weights[0].size(); ++i) {
      apart += ((weights[1][i] - weights[0][i]).abs() > 0.5e-3).sum().item<int64_t>();
      total += weights[0][i].numel();
    }
    EXPECT(apart <= total / 10);
  }
}

}  // namespace
