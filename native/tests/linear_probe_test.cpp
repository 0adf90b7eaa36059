// The linear probe: it separates what a linear map can separate, ignores constant channels,
// reads feature maps voxel by voxel, and refuses bad labels.
#include "core/linear_probe.h"

#include <ATen/CPUGeneratorImpl.h>

#include "tests/harness.h"

namespace {

using namespace cover::core;

TEST_CASE("probe: classes that differ along one direction are recovered on new samples") {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const int64_t n = 600, channels = 6, classes = 3;
  const auto labels = torch::arange(n) % classes;
  // Class k sits at 4k along channel 2 (unit noise elsewhere), plus a constant channel 5.
  auto sample = [&] {
    auto x = torch::randn({n, channels}, generator, torch::kFloat32);
    x.select(1, 2) += 4.0 * labels.to(torch::kFloat32);
    x.select(1, 5).fill_(7.0);
    return x;
  };
  const auto probe = fitLinearProbe(sample(), labels, classes, {});
  const auto predicted = predictLinearProbe(probe, sample());
  const double accuracy =
      predicted.to(torch::kLong).eq(labels).to(torch::kDouble).mean().item<double>();
  std::cout << "  accuracy on new samples " << accuracy << "\n";
  EXPECT(accuracy > 0.9);  // the Bayes rate for 4-sigma spacing is about 0.95
  EXPECT(probe.inverseStd[5].item<float>() == 0.0f);
  EXPECT(probe.weight.select(1, 2).abs().sum().item<float>() >
         5 * probe.weight.select(1, 0).abs().sum().item<float>());
}

TEST_CASE("probe: a feature map (1, C, H, W) is read voxel by voxel in row-major order") {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(2);
  const auto rows = torch::randn({12, 4}, generator, torch::kFloat32);
  const auto labels = torch::arange(12) % 2;
  const auto probe = fitLinearProbe(rows, labels, 2, {});
  const auto map = rows.t().reshape({1, 4, 3, 4});
  EXPECT(torch::equal(predictLinearProbe(probe, map), predictLinearProbe(probe, rows)));
}

TEST_CASE("probe: labels outside [0, classes) are refused") {
  bool threw = false;
  try {
    fitLinearProbe(torch::randn({4, 2}), torch::tensor({0, 1, 2, 3}), 3, {});
  } catch (const c10::Error& error) {
    threw = std::string(error.what_without_backtrace()).find("[0, 3)") != std::string::npos;
  }
  EXPECT(threw);
}

}  // namespace
