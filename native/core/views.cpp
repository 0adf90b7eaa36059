#include "core/views.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/warp.h"

namespace cover::core {
namespace {

double uniform(at::Generator& generator, double low, double high) {
  return torch::empty({1}, torch::kFloat64).uniform_(low, high, generator).item<double>();
}

double normal(at::Generator& generator, double stddev) {
  return torch::empty({1}, torch::kFloat64).normal_(0.0, stddev, generator).item<double>();
}

int64_t randomInt(at::Generator& generator, int64_t low, int64_t highInclusive) {
  return torch::randint(low, highInclusive + 1, {1}, generator, torch::kLong).item<int64_t>();
}

// Rotation about one axis pair (a, b) of an n x n matrix.
torch::Tensor planeRotation(int64_t n, int64_t a, int64_t b, double angle) {
  auto r = torch::eye(n, torch::kFloat64);
  r[a][a] = std::cos(angle);
  r[a][b] = -std::sin(angle);
  r[b][a] = std::sin(angle);
  r[b][b] = std::cos(angle);
  return r;
}

// A = R * Shear * Scale for one image.
torch::Tensor randomLinearPart(int64_t n, double g, at::Generator& generator) {
  const double pi = M_PI;
  auto a = torch::eye(n, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      a = torch::matmul(a, planeRotation(n, i, j, uniform(generator, -g * pi / 9, g * pi / 9)));
    }
  }
  auto shear = torch::eye(n, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j)
      shear[i][j] = std::tan(uniform(generator, -g * pi / 32, g * pi / 32));
  }
  auto scale = torch::eye(n, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) scale[i][i] = uniform(generator, 1 - g / 2, 1 + g / 2);
  return torch::matmul(torch::matmul(a, shear), scale);
}

// A normalised 1D Gaussian of radius ceil(3 sigma).
torch::Tensor gaussianKernel(double sigma, const torch::TensorOptions& options) {
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  auto kernel = torch::arange(-radius, radius + 1, options).pow(2).div(-2 * sigma * sigma).exp();
  return kernel / kernel.sum();
}

// Zero-padded smoothing with a symmetric `kernel` along an axis of `length` voxels, as a
// (length x length) banded matrix: M[i][j] = kernel[j - i + radius] within the radius.
torch::Tensor bandMatrix(int64_t length, const torch::Tensor& kernel) {
  const int64_t radius = kernel.size(0) / 2;
  const auto index = torch::TensorOptions().dtype(torch::kLong).device(kernel.device());
  const auto offset = torch::arange(length, index).unsqueeze(0) -
                      torch::arange(length, index).unsqueeze(1) + radius;
  const auto inBand = (offset >= 0) & (offset <= 2 * radius);
  return torch::where(inBand, kernel.index({offset.clamp(0, 2 * radius)}),
                      torch::zeros({}, kernel.options()));
}

// Noise, contrast about the mean, brightness, then in-painting boxes of U(0, 1) noise; the
// noise values come from `voxelNoise`, a generator on the image's device.
void applyAppearance(torch::Tensor& image, const Appearance& a, at::Generator& voxelNoise) {
  image = image + torch::randn(image.sizes(), voxelNoise, image.options()) * a.noiseStd;
  const auto mean = image.mean();
  image = (image - mean) * a.contrast + mean + a.brightness;
  for (const auto& box : a.boxes) {
    auto region = image;
    for (size_t axis = 0; axis < box.size(); ++axis)
      region = region.narrow(static_cast<int64_t>(axis) + 1, box[axis].first, box[axis].second);
    region.copy_(torch::rand(region.sizes(), voxelNoise, image.options()));
  }
}

// The affine part of one image's transform: T(x) = A (x - c) + c + t.
struct AffineDraw {
  torch::Tensor linear;       // A, (n, n) float64 on the CPU
  torch::Tensor translation;  // t, (n, 1) float64 on the CPU, voxels
};

std::vector<AffineDraw> drawAffines(int64_t batch, const std::vector<int64_t>& sourceSize, double g,
                                    at::Generator& generator) {
  const int64_t n = static_cast<int64_t>(sourceSize.size());
  std::vector<AffineDraw> draws;
  for (int64_t b = 0; b < batch; ++b) {
    AffineDraw draw{randomLinearPart(n, g, generator), torch::empty({n, 1}, torch::kFloat64)};
    for (int64_t i = 0; i < n; ++i) {
      const double limit = 0.2 * g * sourceSize[i];
      draw.translation[i][0] = uniform(generator, -limit, limit);
    }
    draws.push_back(std::move(draw));
  }
  return draws;
}

// psi(x) = T(x) - x on the source grid for each draw, plus the elastic part (noise from
// `voxelNoise`), computed on `device`: (B, n, *S) float32.
torch::Tensor displacementField(const std::vector<AffineDraw>& affines,
                                const std::vector<int64_t>& sourceSize, const ViewOptions& options,
                                at::Generator& voxelNoise, const torch::Device& device) {
  const int64_t n = static_cast<int64_t>(sourceSize.size());
  const auto float64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  // Voxel coordinates of the grid relative to its centre: (n, *S).
  std::vector<torch::Tensor> axes;
  for (int64_t i = 0; i < n; ++i) {
    axes.push_back(torch::arange(sourceSize[i], float64) - (sourceSize[i] - 1) / 2.0);
  }
  const auto grid = torch::stack(torch::meshgrid(axes, "ij"), 0).reshape({n, -1});
  std::vector<torch::Tensor> fields;
  for (const auto& affine : affines) {
    // psi(x) = A (x - c) + c + t - x, with grid = x - c.
    fields.push_back(torch::matmul(affine.linear.to(device), grid) + affine.translation.to(device) -
                     grid);
  }
  std::vector<int64_t> shape{static_cast<int64_t>(affines.size()), n};
  shape.insert(shape.end(), sourceSize.begin(), sourceSize.end());
  auto psi = torch::stack(fields, 0).reshape(shape);
  if (options.elasticAmplitude > 0) {
    auto noise = torch::rand(shape, voxelNoise, float64) * 2 - 1;
    // Scaled so that each component has standard deviation elasticAmplitude voxels (away
    // from the borders, where the zero padding of the smoothing lowers it).
    const double scale = options.elasticAmplitude / elasticNoiseStd(n, options.elasticSigma);
    psi = psi + gaussianSmooth(noise, options.elasticSigma) * scale;
  }
  return psi.to(torch::kFloat32);
}

// The views of `images` given everything random about them: the displacement, the crop
// corners, the moving views' appearance changes (empty: none) and the per-voxel noise.
Views renderViews(const torch::Tensor& images, const torch::Tensor& displacement,
                  const std::vector<std::vector<int64_t>>& cropCorners,
                  const std::vector<Appearance>& appearances, const ViewOptions& options,
                  double reach, at::Generator& voxelNoise) {
  torch::NoGradGuard noGrad;
  const int64_t batch = images.size(0);
  const int64_t n = images.dim() - 2;
  const auto& crop = options.cropSize;
  const auto fixedFull = warp(images, displacement.to(images.scalar_type()));
  std::vector<torch::Tensor> moving, fixed, target;
  for (int64_t b = 0; b < batch; ++b) {
    auto cut = [&](const torch::Tensor& x) {
      auto region = x[b];
      for (int64_t i = 0; i < n; ++i) region = region.narrow(i + 1, cropCorners[b][i], crop[i]);
      return region;
    };
    auto source = cut(images).clone();
    if (!appearances.empty()) applyAppearance(source, appearances[b], voxelNoise);
    moving.push_back(source);
    fixed.push_back(cut(fixedFull));
    target.push_back(cut(displacement));
  }
  Views views;
  views.moving = torch::stack(moving, 0).contiguous();
  views.fixed = torch::stack(fixed, 0).contiguous();
  views.target = torch::stack(target, 0).to(images.scalar_type()).contiguous();
  // eps: x + psi(x) inside [0, P_i - 1] on every axis.
  auto inside = torch::ones_like(views.target.select(1, 0), torch::kBool);
  auto reachable = inside.clone();
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> shape(n + 1, 1);
    shape[i + 1] = crop[i];
    const auto position =
        views.target.select(1, i) + torch::arange(crop[i], views.target.options()).reshape(shape);
    inside = inside & (position >= 0) & (position <= crop[i] - 1);
    reachable = reachable & (views.target.select(1, i).abs() <= reach);
  }
  views.mask = inside.unsqueeze(1).to(images.scalar_type());
  const auto valid = inside.sum().to(torch::kFloat64);
  views.validFraction = valid / static_cast<double>(inside.numel());
  // 0 when no voxel is valid (clamp_min keeps 0 / 0 out).
  views.reachableFraction = (inside & reachable).sum().to(torch::kFloat64) / valid.clamp_min(1.0);
  return views;
}

std::vector<Appearance> drawAppearances(int64_t batch, const ViewOptions& options,
                                        at::Generator& generator) {
  std::vector<Appearance> appearances;
  if (!options.appearance) return appearances;
  for (int64_t b = 0; b < batch; ++b)
    appearances.push_back(drawAppearance(options.cropSize, options, generator));
  return appearances;
}

}  // namespace

Appearance drawAppearance(const std::vector<int64_t>& size, const ViewOptions& o,
                          at::Generator& generator) {
  Appearance a;
  a.noiseStd = uniform(generator, 0, o.noiseStdMax);
  a.contrast = uniform(generator, o.contrastMin, o.contrastMax);
  a.brightness = normal(generator, o.brightnessStd);
  for (int64_t box = 0; box < o.inpaintMaxBoxes; ++box) {
    if (uniform(generator, 0, 1) >= o.inpaintProbability) break;
    std::vector<std::pair<int64_t, int64_t>> extent;
    for (const int64_t side : size) {
      const int64_t length = std::clamp<int64_t>(
          static_cast<int64_t>(
              std::round(uniform(generator, o.inpaintMinFraction, o.inpaintMaxFraction) * side)),
          1, side);
      extent.emplace_back(randomInt(generator, 0, side - length), length);
    }
    a.boxes.push_back(std::move(extent));
  }
  return a;
}

// Separable: each axis is a matrix product: a depthwise convolution in float64 would unfold the
// field into one copy per kernel tap (49 at sigma 8: 1.1 GB for a 96^3 source, 3.5 GB for 144^3).
torch::Tensor gaussianSmooth(const torch::Tensor& x, double sigma) {
  const auto kernel = gaussianKernel(sigma, x.options());
  auto y = x;
  for (int64_t axis = 2; axis < x.dim(); ++axis) {
    // M is symmetric, so (..., L) x M smooths the last axis.
    const auto band = bandMatrix(x.size(axis), kernel);
    y = torch::matmul(y.movedim(axis, -1), band).movedim(-1, axis);
  }
  return y;
}

double elasticNoiseStd(int64_t dims, double sigma) {
  // Uniform noise on [-1, 1] has variance 1/3; smoothing by a normalised kernel k multiplies
  // it by sum(k^2) per axis.
  const double perAxis = gaussianKernel(sigma, torch::kFloat64).pow(2).sum().item<double>();
  return std::sqrt(std::pow(perAxis, static_cast<double>(dims)) / 3.0);
}

at::Generator voxelNoiseGenerator(const torch::Device& device, at::Generator& generator) {
  const auto seed = static_cast<uint64_t>(
      torch::randint(0, std::numeric_limits<int64_t>::max(), {1}, generator, torch::kLong)
          .item<int64_t>());
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  // A generator of the device's own kind (Philox on CUDA), owned by the caller, not the
  // process-wide default one.
  auto onDevice = at::globalContext()
                      .getAcceleratorHooksInterface(device.type())
                      .getNewGenerator(device.index());
  onDevice.set_current_seed(seed);
  return onDevice;
}

torch::Tensor randomDisplacement(int64_t batch, const std::vector<int64_t>& sourceSize,
                                 const ViewOptions& options, at::Generator& generator,
                                 const torch::Device& device) {
  const auto affines = drawAffines(batch, sourceSize, options.degree, generator);
  auto voxelNoise = voxelNoiseGenerator(device, generator);
  return displacementField(affines, sourceSize, options, voxelNoise, device);
}

Views viewsFromDisplacement(const torch::Tensor& images, const torch::Tensor& displacement,
                            const std::vector<std::vector<int64_t>>& cropCorners,
                            const ViewOptions& options, double reach, at::Generator& generator) {
  const auto appearances = drawAppearances(images.size(0), options, generator);
  auto voxelNoise = voxelNoiseGenerator(images.device(), generator);
  return renderViews(images, displacement.to(images.device()), cropCorners, appearances, options,
                     reach, voxelNoise);
}

Views generateViews(const torch::Tensor& images, const ViewOptions& options, double reach,
                    at::Generator& generator) {
  const int64_t n = images.dim() - 2;
  TORCH_CHECK(n == 2 || n == 3, "images must be (B, 1, H, W) or (B, 1, D, H, W), got ",
              images.sizes());
  TORCH_CHECK(static_cast<int64_t>(options.cropSize.size()) == n, "cropSize needs ", n,
              " sizes for these images, got ", options.cropSize.size());
  std::vector<int64_t> source(images.sizes().begin() + 2, images.sizes().end());
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(options.cropSize[i] > 0 && options.cropSize[i] % 16 == 0, "cropSize[", i,
                "] must be a positive multiple of 16, got ", options.cropSize[i]);
    TORCH_CHECK(options.cropSize[i] <= source[i], "cropSize[", i, "] = ", options.cropSize[i],
                " is larger than the image (", source[i],
                "); images should be about 1.5x the crop");
  }
  // Every choice that is not per voxel first, from the CPU generator (the same on every
  // device), then the per-voxel noise on the images' device.
  const int64_t batch = images.size(0);
  const auto affines = drawAffines(batch, source, options.degree, generator);
  std::vector<std::vector<int64_t>> corners;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> corner;
    for (int64_t i = 0; i < n; ++i)
      corner.push_back(randomInt(generator, 0, source[i] - options.cropSize[i]));
    corners.push_back(corner);
  }
  const auto appearances = drawAppearances(batch, options, generator);
  auto voxelNoise = voxelNoiseGenerator(images.device(), generator);
  const auto psi = displacementField(affines, source, options, voxelNoise, images.device());
  return renderViews(images, psi, corners, appearances, options, reach, voxelNoise);
}

}  // namespace cover::core
