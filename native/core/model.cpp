#include "core/model.h"

#include <ATen/autocast_mode.h>

#include "core/mov.h"
#include "core/warp.h"

namespace cover::core {

ProjectionImpl::ProjectionImpl(int dims, int64_t in, int64_t out)
    : norm_(makeGroupNorm(1, out)), proj_(makeConv(dims, in, out, 1)) {
  // Registration order matches the PyTorch module: norm, then proj.
  register_module("norm", norm_.ptr());
  register_module("proj", proj_.ptr());
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  return norm_.forward(proj_.forward(x));
}

CoverModelImpl::CoverModelImpl(const ModelOptions& options, at::Generator generator)
    : options_(options) {
  validate(options_);
  backbone_ = register_module("backbone", UNet(options_));
  proj_ = register_module("proj", torch::nn::ModuleList());
  // Pyramid widths coarse to fine: F5 (channels[4]), F4 (channels[3]), ..., F1 (channels[0]).
  for (int level = 0; level < 5; ++level) {
    const int64_t in = options_.channels[4 - level];
    proj_->push_back(Projection(options_.dims, in, options_.headDim * options_.heads[level]));
  }
  // LibTorch's constructors drew defaults from the process-wide generator; all of it is
  // redrawn here, in registration order, from the given one.
  initializeWeights(*this, generator);
  useLayoutOf(torch::kCPU);
}

void CoverModelImpl::to(torch::Device device, torch::Dtype dtype, bool nonBlocking) {
  torch::nn::Module::to(device, dtype, nonBlocking);
  useLayoutOf(device);
}

void CoverModelImpl::to(torch::Device device, bool nonBlocking) {
  torch::nn::Module::to(device, nonBlocking);
  useLayoutOf(device);
}

torch::MemoryFormat CoverModelImpl::backboneLayout(torch::Device device) const {
  // Channels-last 3D convolutions run ~13% faster forward + backward in oneDNN on CPU
  // (measured on the backbone, 2 x 64^3); in 2D it measured no gain. On CUDA, GroupNorm
  // makes its input contiguous, so channels-last would cost two copies of every activation
  // per layer (back to contiguous for GroupNorm, to channels-last for the next convolution).
  return options_.dims == 3 && device.is_cpu() ? kMemoryFormat3d : torch::MemoryFormat::Contiguous;
}

void CoverModelImpl::useLayoutOf(torch::Device device) {
  if (options_.dims != 3) return;
  torch::NoGradGuard noGrad;
  const auto layout = backboneLayout(device);
  for (auto& parameter : parameters()) {
    if (parameter.dim() == 5) parameter.set_data(parameter.contiguous(layout));
  }
}

torch::Tensor CoverModelImpl::inBackboneLayout(const torch::Tensor& images) const {
  return images.contiguous(backboneLayout(images.device()));
}

namespace {

// bf16 autocast on one device type for a scope, restoring what was set before.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(c10::DeviceType type) : type_(type) {
    wasEnabled_ = at::autocast::is_autocast_enabled(type_);
    previousDtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    // The weights' bf16 copies are cached for the scope; drop them when the outermost ends.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type_, wasEnabled_);
    at::autocast::set_autocast_dtype(type_, previousDtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  c10::DeviceType type_;
  bool wasEnabled_ = false;
  at::ScalarType previousDtype_ = at::kFloat;
};

}  // namespace

std::vector<torch::Tensor> CoverModelImpl::pyramidOf(const torch::Tensor& images) {
  if (!backboneBf16_) return backbone_->forward(inBackboneLayout(images));
  std::vector<torch::Tensor> pyramid;
  {
    Bf16Autocast autocast(images.device().type());
    pyramid = backbone_->forward(inBackboneLayout(images));
  }
  for (auto& level : pyramid) level = level.to(torch::kFloat32);
  return pyramid;
}

torch::Tensor CoverModelImpl::mov(const torch::Tensor& q, const torch::Tensor& k,
                                  int64_t heads) const {
  if (q.device().is_cpu()) return movFused(q, k, heads, options_.radius);
  const bool kernels = q.is_cuda() && movCudaKernelsBuilt() &&
                       (q.scalar_type() == torch::kFloat32 || q.scalar_type() == torch::kBFloat16);
  if (kernels) return movPointwise(q, k, heads, options_.radius);
  // Any other device (or dtype) takes the reference, which materialises every logit.
  return movReference(q, k, heads, options_.radius);
}

CoverOutput CoverModelImpl::forward(const torch::Tensor& moving, const torch::Tensor& fixed) {
  TORCH_CHECK(moving.sizes() == fixed.sizes(),
              "moving and fixed views must have the same shape, got ", moving.sizes(), " and ",
              fixed.sizes());
  TORCH_CHECK(moving.dim() == options_.dims + 2 && moving.size(1) == options_.inChannels,
              "expected views of shape (B, ", options_.inChannels,
              options_.dims == 2 ? ", H, W)" : ", D, H, W)", ", got ", moving.sizes());
  for (int64_t i = 2; i < moving.dim(); ++i) {
    TORCH_CHECK(moving.size(i) % 16 == 0 && moving.size(i) > 0,
                "every spatial size must be a positive multiple of 16, got ", moving.sizes());
  }
  const int64_t batch = moving.size(0);
  // One backbone pass over both views.
  const auto pyramid = pyramidOf(torch::cat({moving, fixed}, 0));
  std::vector<torch::Tensor> m, f;  // index 0 = F1 (fine) .. 4 = F5 (coarse)
  for (const auto& level : pyramid) {
    m.push_back(level.narrow(0, 0, batch));
    f.push_back(level.narrow(0, batch, batch));
  }
  auto project = [&](int level, const torch::Tensor& x) {
    return proj_[level]->as<ProjectionImpl>()->forward(x);
  };

  // Coarsest level (1/16), then 1/8, 1/4, 1/2, then full resolution (COVER-SPEC, VPA).
  auto w = 2 * mov(project(0, f[4]), project(0, m[4]), options_.heads[0]);
  auto psi = up2(w);
  for (int level = 1; level <= 3; ++level) {
    const int scale = 4 - level;  // pyramid index: 3 (1/8), 2 (1/4), 1 (1/2)
    const auto warped = warp(m[scale], psi);
    w = up2(2 * mov(project(level, f[scale]), project(level, warped), options_.heads[level]));
    psi = warp(up2(2 * psi), w) + w;
  }
  const auto warpedFine = warp(m[0], psi);
  const auto fixedProjected = project(4, f[0]);
  w = mov(fixedProjected, project(4, warpedFine), options_.heads[4]);
  psi = warp(psi, w) + w;
  return CoverOutput{psi, m[0], f[0], fixedProjected};
}

torch::Tensor CoverModelImpl::projectFinest(const torch::Tensor& features) const {
  return proj_->ptr(4)->as<ProjectionImpl>()->forward(features);
}

std::vector<torch::Tensor> CoverModelImpl::encode(const torch::Tensor& images,
                                                  bool fullResolution) {
  const int64_t n = options_.dims;
  TORCH_CHECK(images.dim() == n + 2 && images.size(1) == options_.inChannels,
              "expected images of shape (B, ", options_.inChannels,
              n == 2 ? ", H, W)" : ", D, H, W)", ", got ", images.sizes());
  std::vector<int64_t> size(images.sizes().begin() + 2, images.sizes().end());
  std::vector<int64_t> padding;  // F::pad order: last axis first, (before, after) pairs
  for (int64_t i = n - 1; i >= 0; --i) {
    TORCH_CHECK(size[i] > 0, "every spatial size must be positive, got ", images.sizes());
    padding.push_back(0);
    padding.push_back((16 - size[i] % 16) % 16);
  }
  namespace F = torch::nn::functional;
  const auto padded = F::pad(images, F::PadFuncOptions(padding));
  std::vector<int64_t> paddedSize(padded.sizes().begin() + 2, padded.sizes().end());
  auto pyramid = pyramidOf(padded);
  for (size_t level = 0; level < pyramid.size(); ++level) {
    auto x = pyramid[level];
    if (fullResolution && level > 0) {
      // Upsample before cropping so each level scales by exactly 2^l.
      auto options = F::InterpolateFuncOptions()
                         .size(paddedSize)
                         .mode(n == 2 ? F::InterpolateFuncOptions::mode_t(torch::kBilinear)
                                      : F::InterpolateFuncOptions::mode_t(torch::kTrilinear))
                         .align_corners(false);
      x = F::interpolate(x, options);
    }
    const int shift = fullResolution ? 0 : static_cast<int>(level);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t keep = (size[i] + (int64_t{1} << shift) - 1) >> shift;
      x = x.narrow(i + 2, 0, keep);
    }
    pyramid[level] = x.contiguous();
  }
  return pyramid;
}

int64_t parameterCount(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace cover::core
