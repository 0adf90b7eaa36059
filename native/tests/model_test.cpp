// Model structure: parameter counts and PyTorch state_dict names and shapes.
#include "core/model.h"

#include <fstream>
#include <map>

#include "core/unet.h"
#include "tests/harness.h"

namespace {

using cover::core::CoverModel;
using cover::core::ModelOptions;

// "name (d0, d1, ...)" lines -> name -> shape.
std::map<std::string, std::vector<int64_t>> readReference(const std::string& file) {
  std::ifstream in(std::string(COVER_TORCH_FIXTURES_DIR) + "/" + file);
  if (!in) throw cover::tests::Failure("cannot open fixture " + file);
  std::map<std::string, std::vector<int64_t>> shapes;
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    std::vector<int64_t> shape;
    std::string number;
    for (char c : line.substr(space)) {
      if (std::isdigit(static_cast<unsigned char>(c))) {
        number += c;
      } else if (!number.empty()) {
        shape.push_back(std::stoll(number));
        number.clear();
      }
    }
    shapes[line.substr(0, space)] = shape;
  }
  return shapes;
}

void expectMatchesReference(int dims, const std::string& file, int64_t expectedCount) {
  ModelOptions options;
  options.dims = dims;
  CoverModel model(options);
  EXPECT(cover::core::parameterCount(*model) == expectedCount);
  const auto reference = readReference(file);
  const auto params = model->named_parameters();
  EXPECT(params.size() == reference.size());
  for (const auto& item : params) {
    const auto found = reference.find(item.key());
    if (found == reference.end()) throw cover::tests::Failure("unexpected parameter " + item.key());
    if (item.value().sizes().vec() != found->second) {
      throw cover::tests::Failure("shape of " + item.key() + " differs from the reference");
    }
  }
}

TEST_CASE("model: 2D defaults have 7,881,712 parameters named and shaped as in PyTorch") {
  expectMatchesReference(2, "cover-2d-state-dict.txt", 7881712);
}

TEST_CASE("model: 3D defaults have 23,567,920 parameters named and shaped as in PyTorch") {
  expectMatchesReference(3, "cover-3d-state-dict.txt", 23567920);
}

TEST_CASE("model: GroupNorm starts at weight 1, bias 0; conv weights have Kaiming variance") {
  ModelOptions options;
  CoverModel model(options);
  const auto params = model->named_parameters();
  EXPECT(params["backbone.inc.double_conv.1.weight"].eq(1).all().item<bool>());
  EXPECT(params["backbone.inc.double_conv.1.bias"].eq(0).all().item<bool>());
  // kaiming_normal_ (fan_in, leaky_relu with a = 0): std = sqrt(2 / fan_in).
  const auto weight = params["backbone.up1.conv.double_conv.0.weight"];
  const double fanIn = 768.0 * 9.0;
  EXPECT_NEAR(weight.std().item<double>(), std::sqrt(2.0 / fanIn), 0.02 * std::sqrt(2.0 / fanIn));
}

TEST_CASE("model: forward gives full-resolution displacement and features for 2D and 3D") {
  for (int dims : {2, 3}) {
    ModelOptions options;
    options.dims = dims;
    options.channels = {8, 16, 16, 16, 16};
    CoverModel model(options);
    std::vector<int64_t> shape{2, 1, 32, 16};
    if (dims == 3) shape = {1, 1, 16, 32, 16};
    const auto moving = torch::rand(shape);
    const auto output = model->forward(moving, torch::rand(shape));
    auto expected = shape;
    expected[1] = dims;
    EXPECT(output.displacement.sizes().vec() == expected);
    expected[1] = 8;
    EXPECT(output.fixedFeatures.sizes().vec() == expected);
    EXPECT(output.movingFeatures.sizes().vec() == expected);
    EXPECT(torch::isfinite(output.displacement).all().item<bool>());
  }
}

// 3D weights are channels-last on the CPU (oneDNN's fast layout) and in the standard layout
// elsewhere (CUDA's GroupNorm would convert activations back at every layer); moving the
// model sets them, through either of Module's device overloads. The GPU side is checked
// in "cuda: a training step on the GPU matches a CPU step ...".
TEST_CASE("model: moving a 3D model to the CPU puts its weights in the CPU's layout") {
  ModelOptions options;
  options.dims = 3;
  options.channels = {8, 16, 16, 16, 16};
  const auto expectWeightsIn = [](CoverModel& model, torch::MemoryFormat layout) {
    int64_t count = 0;
    for (const auto& parameter : model->parameters()) {
      if (parameter.dim() != 5) continue;
      EXPECT(parameter.is_contiguous(layout));
      ++count;
    }
    EXPECT(count > 0);
  };
  CoverModel model(options);
  expectWeightsIn(model, torch::MemoryFormat::ChannelsLast3d);
  const auto image = torch::rand({1, 1, 16, 16, 16});
  const auto before = model->encode(image, false);
  // Weights in the standard layout, as a model coming back from a GPU has them, return to
  // the CPU's through either overload, and the features do not change.
  const auto toStandardLayout = [&] {
    for (auto& parameter : model->parameters()) parameter.set_data(parameter.contiguous());
  };
  toStandardLayout();
  model->to(torch::kCPU);
  expectWeightsIn(model, torch::MemoryFormat::ChannelsLast3d);
  toStandardLayout();
  model->to(torch::kCPU, torch::kFloat32);
  expectWeightsIn(model, torch::MemoryFormat::ChannelsLast3d);
  const auto after = model->encode(image, false);
  EXPECT(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_RELATIVE(after[i], before[i], 1e-5);
}

TEST_CASE("model: 3D features in float32 are as close to float64 ones as in 2D") {
  // The worst level's relative error of float32 features against the same weights in float64.
  const auto float32Error = [](int dims) {
    ModelOptions options;
    options.dims = dims;
    options.channels = {8, 8, 8, 8, 16};
    CoverModel model(options);
    torch::manual_seed(5);
    // An object on a zero background, as scans and padded images are: over the background
    // GroupNorm's inputs are the biases, far from zero-mean.
    std::vector<int64_t> shape{2, 1, 32, 32, 32};
    if (dims == 2) shape = {2, 1, 64, 48};
    auto image = torch::zeros(shape);
    auto object = image.narrow(2, 0, 17).narrow(3, 0, 20);
    object = dims == 3 ? object.narrow(4, 0, 19) : object.narrow(3, 0, 19);
    object.copy_(torch::rand(object.sizes()));
    const auto inFloat32 = model->encode(image, false);
    model->to(torch::kCPU, torch::kFloat64);
    const auto exact = model->encode(image.to(torch::kFloat64), false);
    double worst = 0;
    for (size_t level = 0; level < exact.size(); ++level)
      worst = std::max(worst, cover::tests::maxRelativeDiff(inFloat32[level], exact[level]));
    return worst;
  };
  const double error2d = float32Error(2);
  const double error3d = float32Error(3);
  EXPECT(error2d < 1e-5);
  EXPECT(error3d < 1e-5);
}

}  // namespace

namespace {

// The native bounds are lib/model/modelOptions.ts's, so C++ callers get the same limits.
TEST_CASE("model: options beyond the TypeScript schema's bounds are refused natively too") {
  const auto refused = [](auto change, const std::string& text) {
    ModelOptions options;
    change(options);
    try {
      cover::core::validate(options);
    } catch (const c10::Error& error) {
      EXPECT(std::string(error.what_without_backtrace()).find(text) != std::string::npos);
      return;
    }
    throw cover::tests::Failure("expected an error containing \"" + text + "\"");
  };
  refused([](ModelOptions& o) { o.inChannels = 4097; }, "inChannels must be in 1..4096");
  refused([](ModelOptions& o) { o.channels[2] = 2056; }, "channels[2] must be a multiple of 8");
  refused([](ModelOptions& o) { o.headDim = 4097; }, "headDim must be in 1..4096");
  refused([](ModelOptions& o) { o.heads[0] = 65; }, "heads[0] must be in 1..64");
  ModelOptions edge;
  edge.inChannels = 4096;
  edge.channels = {2048, 2048, 8, 8, 8};
  edge.heads = {64, 1, 1, 1, 1};
  cover::core::validate(edge);  // the bounds themselves are allowed
}

}  // namespace
