// The COVER network: a shared U-Net backbone, one projection per pyramid level, and the
// vector pyramid (VPA) that turns features of a moving and a fixed view into a displacement.
// Parameter names follow the PyTorch state_dict (backbone.*, proj.N.{norm,proj}.*).
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <vector>

#include "core/model_options.h"
#include "core/unet.h"

namespace cover::core {

// 1x1 conv to head_dim * J channels, then GroupNorm with one group.
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int dims, int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::AnyModule norm_;
  torch::nn::AnyModule proj_;
};
TORCH_MODULE(Projection);

struct CoverOutput {
  torch::Tensor displacement;    // psi' (B, n, *S), voxels, array-axis order
  torch::Tensor movingFeatures;  // M1 (B, C1, *S), not warped
  torch::Tensor fixedFeatures;   // F1 (B, C1, *S)
  torch::Tensor fixedProjected;  // P1(F1) (B, d1, *S): the finest MoV's queries
};

class CoverModelImpl : public torch::nn::Module {
 public:
  // Weights drawn from `generator` (the process-wide one when omitted). Pass a generator
  // of the model's own so its weights depend on its seed only.
  explicit CoverModelImpl(const ModelOptions& options,
                          at::Generator generator = at::detail::getDefaultCPUGenerator());

  // moving = x_a, fixed = x_b, both (B, C_in, *S) with every spatial size divisible by 16.
  CoverOutput forward(const torch::Tensor& moving, const torch::Tensor& fixed);

  // The backbone alone on images (B, C_in, *S) of any size: the decoder pyramid F1..F5,
  // fine to coarse. Inputs are zero-padded at the far end of each axis to a multiple of 16
  // and every level is cropped back to ceil(S / 2^l). With `fullResolution`, each level is
  // linearly upsampled to S (align_corners = false), so all levels share the input's grid.
  std::vector<torch::Tensor> encode(const torch::Tensor& images, bool fullResolution);

  // The finest level's projection P1 (B, C1, *S) -> (B, d1, *S), e.g. of M1 for a
  // consistency loss on projected features (forward computes it for F1 only).
  torch::Tensor projectFinest(const torch::Tensor& features) const;

  const ModelOptions& options() const { return options_; }

  // Activation recomputation in the backbone while training (see UNetImpl::setRecompute).
  void setRecompute(bool recompute) { backbone_->setRecompute(recompute); }

  // Run the backbone (the U-Net) under bf16 autocast on the model's device: its
  // convolutions in bfloat16, its pyramid handed on as float32, so the projections, MoV
  // and every loss stay in float32. Off by default; the trainer turns it on for its steps
  // when asked (TrainOptions::mixedPrecision).
  void setBackboneBf16(bool bf16) { backboneBf16_ = bf16; }
  bool backboneBf16() const { return backboneBf16_; }

  // Moving the model also puts its 3D weights in the layout of the new device (see
  // backboneLayout). to(dtype) is Module's.
  using torch::nn::Module::to;
  void to(torch::Device device, torch::Dtype dtype, bool nonBlocking = false) override;
  void to(torch::Device device, bool nonBlocking = false) override;

 private:
  static constexpr auto kMemoryFormat3d = torch::MemoryFormat::ChannelsLast3d;
  // The memory layout of the backbone's weights and inputs on a device.
  torch::MemoryFormat backboneLayout(torch::Device device) const;
  void useLayoutOf(torch::Device device);
  // Images in the memory layout the backbone's weights use.
  torch::Tensor inBackboneLayout(const torch::Tensor& images) const;
  torch::Tensor mov(const torch::Tensor& q, const torch::Tensor& k, int64_t heads) const;
  // The backbone's pyramid of `images` (in its layout), float32 whatever its precision.
  std::vector<torch::Tensor> pyramidOf(const torch::Tensor& images);

  ModelOptions options_;
  bool backboneBf16_ = false;
  UNet backbone_{nullptr};
  torch::nn::ModuleList proj_{nullptr};  // index 0 = coarsest level (1/16)
};
TORCH_MODULE(CoverModel);

// The number of scalar parameters.
int64_t parameterCount(torch::nn::Module& module);

}  // namespace cover::core
