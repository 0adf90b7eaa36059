// Activation recomputation changes memory, never results: the same outputs and the same
// gradients (parameters and input) as the plain backbone, 2D and 3D; nor does feeding a
// decoder block its two inputs instead of their concatenation.
#include <ATen/CPUGeneratorImpl.h>

#include <set>
#include <string>
#include <vector>

#include "core/model.h"
#include "tests/harness.h"

namespace {

using namespace cover::core;

// Whether the autograd graph behind `output` holds a node whose name contains `name`.
bool graphHasNode(const torch::Tensor& output, const std::string& name) {
  std::vector<torch::autograd::Node*> pending{output.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!pending.empty()) {
    auto* node = pending.back();
    pending.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find(name) != std::string::npos) return true;
    for (const auto& edge : node->next_edges()) pending.push_back(edge.function.get());
  }
  return false;
}

struct Gradients {
  std::vector<torch::Tensor> outputs, parameters;
  torch::Tensor input;
};

Gradients gradientsOf(int dims, bool recompute) {
  ModelOptions options;
  options.dims = dims;
  options.channels = {8, 16, 16, 16, 16};
  options.headDim = 4;
  options.heads = {1, 1, 1, 1, 1};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  CoverModel model(options, generator);
  model->setRecompute(recompute);
  std::vector<int64_t> shape{2, 1};
  for (int i = 0; i < dims; ++i) shape.push_back(16 + 16 * (i == 0));
  const auto input = torch::rand(shape, generator).requires_grad_(true);
  const auto levels = model->encode(input, /*fullResolution=*/false);
  EXPECT(graphHasNode(levels[0], "RecomputedStage") == recompute);
  auto loss = torch::zeros({});
  for (size_t l = 0; l < levels.size(); ++l) {
    // A weighting that differs per position and level, so every gradient entry matters.
    loss = loss + (levels[l] * torch::rand(levels[l].sizes(), generator)).sum() * (l + 1);
  }
  loss.backward();
  Gradients result;
  for (const auto& level : levels) result.outputs.push_back(level.detach());
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) result.parameters.push_back(p.grad().clone());
  }
  result.input = input.grad().clone();
  return result;
}

void expectSame(int dims) {
  const auto plain = gradientsOf(dims, false);
  const auto recomputed = gradientsOf(dims, true);
  EXPECT(plain.parameters.size() == recomputed.parameters.size());
  EXPECT(!plain.parameters.empty());
  for (size_t i = 0; i < plain.outputs.size(); ++i)
    EXPECT_CLOSE(plain.outputs[i], recomputed.outputs[i], 0.0);
  for (size_t i = 0; i < plain.parameters.size(); ++i) {
    const double scale = plain.parameters[i].abs().max().item<double>() + 1e-12;
    EXPECT_NEAR(cover::tests::maxAbsDiff(plain.parameters[i], recomputed.parameters[i]) / scale,
                0.0, 1e-5);
  }
  const double scale = plain.input.abs().max().item<double>();
  EXPECT(scale > 0);
  EXPECT_NEAR(cover::tests::maxAbsDiff(plain.input, recomputed.input) / scale, 0.0, 1e-5);
}

TEST_CASE("recompute: same outputs and gradients as the plain backbone, 2D") { expectSame(2); }
TEST_CASE("recompute: same outputs and gradients as the plain backbone, 3D") { expectSame(3); }

}  // namespace

namespace {

// A decoder block fed (skip, up) gives what it gives on their concatenation, and the same
// gradients for its weights and both inputs (the first convolution is split by channels).
void expectConcatenationFree(int dims) {
  torch::manual_seed(11);
  cover::core::DoubleConv block(dims, 24, 16);
  if (dims == 3) {  // the model keeps 3D weights channels-last
    torch::NoGradGuard noGrad;
    for (auto& p : block->parameters())
      if (p.dim() == 5) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast3d));
  }
  std::vector<int64_t> shape{2, 8};
  for (int i = 0; i < dims; ++i) shape.push_back(12 + 4 * i);
  auto upShape = shape;
  upShape[1] = 16;
  const auto skip = torch::randn(shape);
  const auto up = torch::randn(upShape);
  const auto weighting = torch::randn([&] {
    auto s = shape;
    s[1] = 16;
    return s;
  }());
  std::vector<torch::Tensor> grads[2];
  torch::Tensor outputs[2];
  for (int form = 0; form < 2; ++form) {
    block->zero_grad();
    const auto a = skip.clone().requires_grad_(true);
    const auto b = up.clone().requires_grad_(true);
    outputs[form] =
        form == 0 ? block->forward(torch::cat({a, b}, 1)) : block->forwardConcatenated(a, b);
    (outputs[form] * weighting).sum().backward();
    grads[form] = {a.grad(), b.grad()};
    for (const auto& p : block->parameters()) grads[form].push_back(p.grad().clone());
  }
  EXPECT(cover::tests::maxRelativeDiff(outputs[1], outputs[0]) < 1e-5);
  EXPECT(grads[0].size() == grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT(cover::tests::maxRelativeDiff(grads[1][i], grads[0][i]) < 1e-5);
}

}  // namespace

TEST_CASE("unet: a decoder block on (skip, up) equals it on their concatenation, 2D and 3D") {
  expectConcatenationFree(2);
  expectConcatenationFree(3);
}
