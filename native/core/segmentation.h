// Fine-tuning a pretrained encoder for segmentation: a 1x1 convolution head on the decoder's
// finest features F1, trained with cross-entropy plus soft Dice, either alone (a linear
// probe of frozen features) or together with the whole backbone (full fine-tuning).
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/trainer.h"

namespace cover::core {

struct SegmentationOptions {
  int64_t classes = 2;
  // One weight per class for both loss terms; empty = every class 1.
  std::vector<double> classWeights;
  // Voxels with this label add nothing to the loss; negative = none ignored.
  int64_t ignoreLabel = -1;
  // Only the head learns (a linear probe of the pretrained features); the backbone runs
  // without autograd, so a step costs a forward pass.
  bool freezeEncoder = false;
  double diceWeight = 1.0;  // L = CE + diceWeight * (1 - weighted mean soft Dice)
  OptimizerOptions optimizer;
  double gradClip = 1.0;  // max global gradient norm; 0 disables clipping
};

void validate(const SegmentationOptions& options);

// 1x1 convolution from F1's channels to one logit per class; parameters "weight", "bias".
class SegmentationHeadImpl : public torch::nn::Module {
 public:
  SegmentationHeadImpl(const ModelOptions& model, int64_t classes, at::Generator generator);
  torch::Tensor forward(const torch::Tensor& features) { return conv_.forward(features); }
  int64_t classes() const { return classes_; }

 private:
  int64_t classes_;
  torch::nn::AnyModule conv_;
};
TORCH_MODULE(SegmentationHead);

// Class logits (B, K, *S) of images (B, C_in, *S) of any size.
torch::Tensor segmentationLogits(CoverModel& model, SegmentationHead& head,
                                 const torch::Tensor& images);

struct SegmentationLoss {
  torch::Tensor total, crossEntropy, dice;  // dice = 1 - weighted mean soft Dice
};

// Refuses labels that are not integers in [0, K) or the ignore label. One read from the
// labels' device: check labels on the CPU before moving them to a GPU.
void checkLabels(const torch::Tensor& labels, const SegmentationOptions& options);

// logits (B, K, *S); labels (B, *S) integer in [0, K) or the ignore label.
SegmentationLoss segmentationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  const SegmentationOptions& options);

struct SegmentationMetrics {
  double loss = 0, crossEntropy = 0, diceLoss = 0;
  double gradNorm = 0;  // before clipping, over the parameters that learn
  double learningRate = 0;
  bool skipped = false;  // the loss or gradient was not finite: no update was made
  int threads = 0;
  double stepMs = 0;
};

class SegmentationTrainer {
 public:
  SegmentationTrainer(CoverModel model, SegmentationHead head, SegmentationOptions options);

  // images (B, C_in, *S) of any size, labels (B, *S), both on any device.
  SegmentationMetrics step(const torch::Tensor& images, const torch::Tensor& labels,
                           double learningRate);

  const SegmentationOptions& options() const { return options_; }

  // The optimiser's state by parameter name ("segmentation_head.weight.exp_avg",
  // "backbone.<...>.step", ...), for checkpoints; loading replaces all of it or nothing.
  NamedTensorList optimizerState() const;
  void loadOptimizerState(const NamedTensorList& state);

 private:
  CoverModel model_;
  SegmentationHead head_;
  SegmentationOptions options_;
  std::vector<torch::Tensor> parameters_;  // the ones that learn
  std::vector<std::string> parameterNames_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace cover::core
