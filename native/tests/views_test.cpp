// View generation: the geometry of the two views, the mask, seeding, default reach.
#include "core/views.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/warp.h"
#include "tests/harness.h"

namespace {

using namespace cover::core;

at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Smooth random images with structure at a few scales, values in about [0, 1].
torch::Tensor texture(std::vector<int64_t> shape, uint64_t seed) {
  auto generator = seeded(seed);
  auto image = torch::rand(shape, generator, torch::kFloat32);
  const auto pool = [&](const torch::Tensor& x, int64_t k) {
    return shape.size() == 4 ? torch::avg_pool2d(x, k, 1, k / 2)
                             : torch::avg_pool3d(x, k, 1, k / 2);
  };
  return (pool(pool(image, 5), 5) + 0.3 * image).clamp(0, 1);
}

TEST_CASE("views: on valid voxels the fixed view is the source sampled at x + psi(x)") {
  for (int dims : {2, 3}) {
    ViewOptions options;
    options.appearance = false;  // moving == crop(I)
    options.degree = 1.0;
    options.elasticAmplitude = 2.0;
    options.cropSize = dims == 2 ? std::vector<int64_t>{32, 48} : std::vector<int64_t>{16, 32, 16};
    const auto images = texture(
        dims == 2 ? std::vector<int64_t>{3, 1, 48, 72} : std::vector<int64_t>{2, 1, 24, 48, 24}, 1);
    auto generator = seeded(7);
    const auto views = generateViews(images, options, 62.0, generator);
    const auto expected = warp(views.moving, views.target);
    EXPECT(views.mask.sum().item<double>() > 0.3 * views.mask.numel());
    EXPECT(((views.fixed - expected).abs() * views.mask).max().item<double>() < 1e-4);
  }
}

TEST_CASE("views: the mask is exactly the set of x with x + psi(x) inside the crop") {
  const auto images = texture({1, 1, 40, 40}, 2);
  auto psi = torch::zeros({1, 2, 40, 40});
  psi.select(1, 0).fill_(3);   // rows: x + 3
  psi.select(1, 1).fill_(-2);  // columns: x - 2
  ViewOptions options;
  options.appearance = false;
  options.cropSize = {16, 16};
  auto generator = seeded(0);
  const auto views = viewsFromDisplacement(images, psi, {{10, 12}}, options, 62.0, generator);
  const auto mask = views.mask[0][0];
  for (int64_t y = 0; y < 16; ++y) {
    for (int64_t x = 0; x < 16; ++x) {
      const bool inside = y + 3 <= 15 && x - 2 >= 0;
      EXPECT((mask[y][x].item<float>() == 1.0f) == inside);
    }
  }
  // And the fixed view is the source moved by exactly that shift.
  EXPECT(torch::equal(views.fixed[0][0][0][2], images[0][0][13][12]));
  EXPECT_NEAR(views.validFraction.item<double>(), 13.0 * 14.0 / 256.0, 1e-9);
}

TEST_CASE("views: the same seed gives the same views, another seed other views") {
  ViewOptions options;
  options.cropSize = {32, 32};
  options.elasticAmplitude = 1.0;
  const auto images = texture({2, 1, 48, 48}, 3);
  auto first = seeded(42), second = seeded(42), third = seeded(43);
  const auto a = generateViews(images, options, 62.0, first);
  const auto b = generateViews(images, options, 62.0, second);
  const auto c = generateViews(images, options, 62.0, third);
  EXPECT(torch::equal(a.moving, b.moving) && torch::equal(a.fixed, b.fixed) &&
         torch::equal(a.target, b.target));
  EXPECT(!torch::equal(a.target, c.target));
}

TEST_CASE("views: default strength keeps >= 80% of valid voxels within 31 r (2D 384 from 576)") {
  ViewOptions options;
  options.cropSize = {384, 384};
  options.appearance = false;
  const auto images = torch::rand({8, 1, 576, 576});
  auto generator = seeded(5);
  double reachable = 0;
  for (int round = 0; round < 4; ++round)
    reachable += generateViews(images, options, 62.0, generator).reachableFraction.item<double>();
  reachable /= 4;
  std::cout << "  reachable fraction at g = 0.5, r = 2: " << reachable << "\n";
  EXPECT(reachable >= 0.8);
  options.degree = 1.5;  // the reference's strength reaches far less
  const double strong =
      generateViews(images, options, 62.0, generator).reachableFraction.item<double>();
  std::cout << "  reachable fraction at g = 1.5, r = 2: " << strong << "\n";
  EXPECT(strong < 0.5);
}

TEST_CASE("views: appearance changes only the moving view, within the documented ranges") {
  ViewOptions options;
  options.cropSize = {32, 32};
  options.degree = 0.0;
  options.elasticAmplitude = 0.0;  // no spatial change at all
  const auto images = texture({4, 1, 32, 32}, 4);
  auto generator = seeded(9);
  const auto views = generateViews(images, options, 62.0, generator);
  EXPECT_CLOSE(views.fixed, images, 1e-6);  // identity transform, crop = whole image
  EXPECT(!torch::allclose(views.moving, images));
  EXPECT(torch::isfinite(views.moving).all().item<bool>());
}

TEST_CASE("views: Gaussian smoothing equals a zero-padded depthwise convolution per axis") {
  for (int dims : {2, 3}) {
    for (const double sigma : {0.2, 1.5, 4.0}) {
      auto generator = seeded(5);
      std::vector<int64_t> shape{2, 3, 19, 24};
      if (dims == 3) shape.push_back(11);  // shorter than the kernel at sigma 4
      const auto field = torch::rand(shape, generator, torch::kFloat64);
      // Reference: the kernel written out, one convolution per axis.
      const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
      auto kernel = torch::exp(-torch::arange(-radius, radius + 1, torch::kFloat64).pow(2) /
                               (2 * sigma * sigma));
      kernel = kernel / kernel.sum();
      auto expected = field;
      for (int axis = 0; axis < dims; ++axis) {
        std::vector<int64_t> kernelShape(dims + 2, 1);
        kernelShape[0] = 3;
        kernelShape[axis + 2] = 2 * radius + 1;
        std::vector<int64_t> padding(dims, 0);
        padding[axis] = radius;
        const auto weight = kernel.reshape({-1}).expand({3, 2 * radius + 1}).reshape(kernelShape);
        expected = dims == 2 ? torch::conv2d(expected, weight, {}, 1, padding, 1, 3)
                             : torch::conv3d(expected, weight, {}, 1, padding, 1, 3);
      }
      const auto smoothed = gaussianSmooth(field, sigma);
      EXPECT(smoothed.sizes() == field.sizes());
      EXPECT(smoothed.scalar_type() == torch::kFloat64);
      EXPECT(cover::tests::maxAbsDiff(smoothed, expected) < 1e-12);
    }
  }
}

TEST_CASE("views: elastic amplitude is the displacement's standard deviation in voxels") {
  for (int dims : {2, 3}) {
    ViewOptions options;
    options.degree = 0.0;  // identity affine: psi is the elastic part alone
    options.elasticAmplitude = 3.0;
    options.elasticSigma = 4.0;
    const std::vector<int64_t> size(dims, dims == 2 ? 160 : 64);
    auto generator = seeded(11);
    const auto psi = randomDisplacement(2, size, options, generator, torch::kCPU);
    // Away from the borders, where zero padding of the smoothing lowers the spread.
    auto inner = psi;
    for (int i = 0; i < dims; ++i) inner = inner.narrow(i + 2, 16, size[i] - 32);
    const double std = inner.std().item<double>();
    std::cout << "  " << dims << "D elastic std " << std << " voxels for amplitude 3\n";
    EXPECT(std > 3.0 * 0.85 && std < 3.0 * 1.15);
    // The normalisation is the uniform noise's own spread after smoothing.
    EXPECT(elasticNoiseStd(dims, 4.0) < 0.1);
  }
}

TEST_CASE("views: translation spans +-0.2 g of the source size per axis") {
  ViewOptions options;
  options.degree = 1.0;
  options.elasticAmplitude = 0.0;  // the affine part alone
  const std::vector<int64_t> source{96, 144};
  auto generator = seeded(12);
  const auto psi = randomDisplacement(400, source, options, generator, torch::kCPU);
  // psi at the grid centre is the translation (the linear part acts about the centre); the
  // centre lies between voxels, so average the four around it.
  const auto centre = psi.narrow(2, 47, 2).narrow(3, 71, 2).mean({2, 3});  // (400, 2)
  for (int axis = 0; axis < 2; ++axis) {
    const double limit = 0.2 * source[axis];
    const auto t = centre.select(1, axis);
    std::cout << "  translation axis " << axis << ": [" << t.min().item<double>() << ", "
              << t.max().item<double>() << "], limit " << limit << "\n";
    EXPECT(t.abs().max().item<double>() <= limit + 1e-6);
    EXPECT(t.abs().max().item<double>() > 0.9 * limit);  // uses the range, not the crop's
  }
}

TEST_CASE("views: appearance parameters are drawn within their ranges") {
  ViewOptions options;
  auto generator = seeded(13);
  const std::vector<int64_t> size{64, 80};
  double boxes = 0, brightness = 0, brightnessSq = 0;
  const int draws = 2000;
  for (int d = 0; d < draws; ++d) {
    const auto a = drawAppearance(size, options, generator);
    EXPECT(a.noiseStd >= 0 && a.noiseStd <= options.noiseStdMax);
    EXPECT(a.contrast >= options.contrastMin && a.contrast <= options.contrastMax);
    EXPECT(static_cast<int64_t>(a.boxes.size()) <= options.inpaintMaxBoxes);
    for (const auto& box : a.boxes) {
      for (size_t axis = 0; axis < size.size(); ++axis) {
        const auto [start, length] = box[axis];
        EXPECT(length >= std::round(options.inpaintMinFraction * size[axis]) &&
               length <= std::round(options.inpaintMaxFraction * size[axis]));
        EXPECT(start >= 0 && start + length <= size[axis]);
      }
    }
    boxes += static_cast<double>(a.boxes.size()) / draws;
    brightness += a.brightness / draws;
    brightnessSq += a.brightness * a.brightness / draws;
  }
  // Each box is added with p = 0.95 up to 10: expected count sum_{k=1..10} 0.95^k = 7.6.
  EXPECT_NEAR(boxes, 7.6, 0.3);
  EXPECT_NEAR(brightness, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(brightnessSq), options.brightnessStd, 0.01);
}

TEST_CASE("views: per-voxel noise leaves the geometry drawn for a seed as it is") {
  // Transforms and crops come first from the seed, per-voxel noise from a generator of its
  // own: turning noise on changes nothing else, which is what keeps the geometry the same
  // on every device.
  ViewOptions plain;
  plain.cropSize = {48, 48};
  plain.elasticAmplitude = 0.0;
  plain.appearance = false;
  ViewOptions withAppearance = plain;
  withAppearance.appearance = true;
  ViewOptions withElastic = plain;
  withElastic.elasticAmplitude = 3.0;
  withElastic.elasticSigma = 4.0;
  const auto images = texture({3, 1, 96, 96}, 5);
  auto first = seeded(21), second = seeded(21), third = seeded(21);
  const auto a = generateViews(images, plain, 62.0, first);
  const auto b = generateViews(images, withAppearance, 62.0, second);
  const auto c = generateViews(images, withElastic, 62.0, third);
  EXPECT(torch::equal(a.fixed, b.fixed) && torch::equal(a.target, b.target));
  EXPECT(!torch::allclose(a.moving, b.moving));
  // The elastic run's displacement is the plain one plus a smooth field of about 3 voxels.
  const double elastic = (c.target - a.target).std().item<double>();
  std::cout << "  elastic part on the crops: std " << elastic << " voxels for amplitude 3\n";
  EXPECT(elastic > 3.0 * 0.6 && elastic < 3.0 * 1.3);
  EXPECT(torch::equal(a.moving, c.moving));  // same crops of the same images
}

TEST_CASE("cuda: views on the GPU have the CPU's geometry and their own reproducible noise") {
  cover::tests::requireCuda();
  ViewOptions options;
  options.cropSize = {32, 48, 32};
  options.elasticAmplitude = 0.0;
  options.appearance = false;
  const auto images = texture({2, 1, 48, 64, 48}, 6);
  auto cpuGenerator = seeded(31), gpuGenerator = seeded(31);
  const auto cpu = generateViews(images, options, 62.0, cpuGenerator);
  const auto gpu = generateViews(images.to(torch::kCUDA), options, 62.0, gpuGenerator);
  EXPECT(gpu.fixed.is_cuda() && gpu.target.is_cuda() && gpu.reachableFraction.is_cuda());
  EXPECT(cover::tests::maxAbsDiff(gpu.target, cpu.target) < 1e-4);
  EXPECT(cover::tests::maxAbsDiff(gpu.moving, cpu.moving) == 0.0);
  // A voxel exactly on the crop's border may fall either side by rounding.
  EXPECT((gpu.mask.cpu() != cpu.mask).to(torch::kFloat64).mean().item<double>() < 1e-3);
  EXPECT(cover::tests::maxAbsDiff(gpu.fixed * cpu.mask.to(torch::kCUDA), cpu.fixed * cpu.mask) <
         1e-4);
  // With every kind of noise on, the same seed on the GPU gives the same views again.
  options.elasticAmplitude = 3.0;
  options.appearance = true;
  auto again = seeded(32), andAgain = seeded(32);
  const auto x = generateViews(images.to(torch::kCUDA), options, 62.0, again);
  const auto y = generateViews(images.to(torch::kCUDA), options, 62.0, andAgain);
  EXPECT(torch::equal(x.moving, y.moving) && torch::equal(x.fixed, y.fixed) &&
         torch::equal(x.target, y.target));
  // And the elastic field drawn there has the asked spread.
  options.degree = 0.0;
  options.elasticSigma = 4.0;
  auto elastic = seeded(33);
  auto psi = randomDisplacement(2, {64, 64, 64}, options, elastic, torch::kCUDA);
  for (int i = 0; i < 3; ++i) psi = psi.narrow(i + 2, 16, 32);
  const double std = psi.std().item<double>();
  std::cout << "  3D elastic std on the GPU " << std << " voxels for amplitude 3\n";
  EXPECT(std > 3.0 * 0.85 && std < 3.0 * 1.15);
}

}  // namespace
