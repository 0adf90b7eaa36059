// The self-supervised task (COVER-SPEC section 1): two views of each image with a known
// displacement between them, made on the images' device. Every choice that is not per
// voxel (transforms, crops, appearance parameters, in-painting boxes) is drawn from one
// seeded CPU generator, so it is the same on every device; per-voxel noise (the elastic
// field, image noise, in-painting values) is drawn on the device, from a generator seeded
// by one draw of the CPU one: the same seed gives the same views on a given device.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <vector>

namespace cover::core {

// Defaults here and in lib/model/trainingOptions.ts (the schema that records them in a run's
// config) must agree: test/native/trainingDefaults.test.ts trains with both and compares.
struct ViewOptions {
  std::vector<int64_t> cropSize;  // per spatial axis, each a multiple of 16; required
  // Transform strength g: rotation U(+-g*pi/9) per angle, scale U(1 -+ g/2) per axis,
  // translation U(+-0.2*g*source size) per axis, shear U(+-g*pi/32) per axis pair. 0.5 keeps more
  // than 80% of valid voxels within reach of the default network (31 r = 62 voxels).
  double degree = 0.5;
  // Std of each elastic displacement component, voxels; 0 = off. 3 (not the reference's
  // off): on the brain probe it tripled the linear-probe gain of pretraining (README).
  double elasticAmplitude = 3.0;
  double elasticSigma = 8.0;  // voxels
  bool appearance = true;     // noise, contrast, brightness, in-painting on the moving view
  double noiseStdMax = 0.02;
  double contrastMin = 0.5, contrastMax = 1.5;
  double brightnessStd = 0.1;
  int64_t inpaintMaxBoxes = 10;
  double inpaintProbability = 0.95;
  double inpaintMinFraction = 0.10, inpaintMaxFraction = 0.133;
};

struct Views {
  torch::Tensor moving;  // x_a (B, 1, *P): appearance(crop(I))
  torch::Tensor fixed;   // x_b (B, 1, *P): crop(warp(I, psi))
  torch::Tensor target;  // psi (B, n, *P) in voxels: x_b(x) ~ x_a(x + psi(x))
  torch::Tensor mask;    // eps (B, 1, *P): 1 where x + psi(x) lies inside the crop
  // 0-d float64 tensors on the images' device, so that reading them waits for nothing
  // until the trainer reads every metric of its step at once.
  torch::Tensor reachableFraction;  // share of valid voxels with every |psi_i| <= reach
  torch::Tensor validFraction;      // share of voxels with eps = 1
};

// The appearance change of one moving view: x -> (x + noise - mean) * contrast + mean +
// brightness, then boxes (per axis: start, length) filled with U(0, 1) noise.
struct Appearance {
  double noiseStd = 0;
  double contrast = 1;
  double brightness = 0;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> boxes;
};

// Draws one appearance change for a view of spatial `size`: noise std U(0, noiseStdMax),
// contrast U(contrastMin, contrastMax), brightness N(0, brightnessStd), and up to
// inpaintMaxBoxes boxes, each added with inpaintProbability, sides a fraction
// U(inpaintMinFraction, inpaintMaxFraction) of the view's.
Appearance drawAppearance(const std::vector<int64_t>& size, const ViewOptions& options,
                          at::Generator& generator);

// Gaussian smoothing of (B, C, *S) along every spatial axis, zero padding, the kernel cut at
// ceil(3 sigma) (at least 1) and normalised to sum 1; in the field's dtype and device.
torch::Tensor gaussianSmooth(const torch::Tensor& x, double sigma);

// Standard deviation of uniform [-1, 1] noise after Gaussian smoothing with `sigma` along
// each of `dims` axes (the elastic field's scale before elasticAmplitude).
double elasticNoiseStd(int64_t dims, double sigma);

// A generator of `device`'s kind for per-voxel noise, seeded by one draw of `generator`
// (on the CPU a CPU generator; on CUDA a new Philox generator, not the process-wide one).
at::Generator voxelNoiseGenerator(const torch::Device& device, at::Generator& generator);

// Draws the random affine (+ elastic) displacement psi(x) = T(x) - x on the source grid,
// T about the grid centre, computed on `device`. sourceSize: spatial sizes; returns
// (B, n, *S) float32 on `device`.
torch::Tensor randomDisplacement(int64_t batch, const std::vector<int64_t>& sourceSize,
                                 const ViewOptions& options, at::Generator& generator,
                                 const torch::Device& device);

// The views for given images (B, 1, *S), displacement on the source grid and crop corners
// (B x n). `reach` is the largest displacement per axis the network can express.
Views viewsFromDisplacement(const torch::Tensor& images, const torch::Tensor& displacement,
                            const std::vector<std::vector<int64_t>>& cropCorners,
                            const ViewOptions& options, double reach, at::Generator& generator);

// Everything at once: random displacement, random crop corners, views.
Views generateViews(const torch::Tensor& images, const ViewOptions& options, double reach,
                    at::Generator& generator);

}  // namespace cover::core
