// One COVER training step, native end to end: views, forward, losses, backward, gradient
// clipping, optimiser step at the learning rate the caller's schedule gives.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/views.h"

namespace cover::core {

// Defaults: see the note on ViewOptions (views.h).
struct OptimizerOptions {
  std::string kind = "adam";  // adam (L2-style weight decay), adamw (decoupled), sgd
  double weightDecay = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
  double momentum = 0.9;                          // sgd
  bool nesterov = false;                          // sgd
};

struct TrainOptions {
  ViewOptions views;
  OptimizerOptions optimizer;
  double gradClip = 1.0;           // max global gradient norm; 0 disables clipping
  double consistencyWeight = 1.0;  // lambda in L = L_vec + lambda * L_con
  // What L_con compares: "backbone" (F1 and M1, the spec), "centered" (F1 and M1 minus
  // their spatial mean per channel, so a constant map scores 0, not 1) or "projection"
  // (P1(F1) and P1(M1), the tensors the finest MoV matches).
  std::string consistencyFeatures = "backbone";
  // lambda ramps linearly from 0 over this many steps. From random features L_con is
  // lowered fastest by making F1 constant, which also flattens MoV and stalls L_vec;
  // letting L_vec shape the features first avoids that collapse. 0 = full weight at once.
  int64_t consistencyWarmupSteps = 0;
  // Recompute the backbone's activations in backward instead of keeping them: much less
  // memory for one more backbone forward pass per step (see UNetImpl::setRecompute).
  bool recompute = false;
  // "bf16": the backbone (U-Net) runs under bf16 autocast in the trainer's steps, while the
  // projections, MoV and losses stay float32 (CoverModelImpl::setBackboneBf16); "none":
  // float32 throughout. Not with recompute (its backward would recompute in float32).
  std::string mixedPrecision = "none";
  // On a GPU, wait for the device after each phase to time it (views, forward, backward,
  // optimiser); otherwise the step waits once, for its metrics, and phase times are NaN.
  bool phaseTimings = false;
  uint64_t seed = 0;  // view generation
};

// Tensors by name, in a stable order (optimiser state, state dicts).
using NamedTensorList = std::vector<std::pair<std::string, torch::Tensor>>;

struct StepMetrics {
  double vectorLoss = 0;       // L_vec
  double consistencyLoss = 0;  // L_con
  double totalLoss = 0;        // L_vec + lambda * L_con
  double zeroBaseline = 0;     // L_vec of predicting psi' = 0, for the same views
  double gradNorm = 0;         // before clipping
  double reachableFraction = 0;
  double validFraction = 0;
  double featureVariation = 0;  // of F1 (see featureVariation); near 0 = collapsed
  double learningRate = 0;
  double consistencyWeight = 0;  // lambda used at this step (after warmup)
  bool skipped = false;          // the loss or gradient was not finite: no update was made
  int threads = 0;               // LibTorch intra-op threads the step ran with
  double viewMs = 0, forwardMs = 0, backwardMs = 0, optimizerMs = 0, stepMs = 0;
};

class Trainer {
 public:
  Trainer(CoverModel model, TrainOptions options);

  // images: (B, C_in, *S) on the model's device, S >= crop size per axis.
  StepMetrics step(const torch::Tensor& images, double learningRate);

  const TrainOptions& options() const { return options_; }
  int64_t stepsTaken() const { return steps_; }

  // Optimiser state as named tensors ("<param>.exp_avg", "<param>.step", ...) and back.
  // Loading replaces the whole state or, when any entry is missing or misshapen, nothing.
  NamedTensorList optimizerState() const;
  void loadOptimizerState(const NamedTensorList& state);

  // The view generator's state, for exact resume.
  torch::Tensor generatorState() const { return generator_.get_state(); }
  void setStepsTaken(int64_t steps) { steps_ = steps; }

  // Everything a resume needs (optimiser, view generator, step count), all or nothing: a
  // state that fails any check leaves the trainer as it was.
  void loadTrainingState(const NamedTensorList& optimizer, const torch::Tensor& generator,
                         int64_t steps);

 private:
  double currentConsistencyWeight() const;
  torch::Tensor consistencyOf(const CoverOutput& output, const Views& views) const;

  CoverModel model_;
  TrainOptions options_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::string> parameterNames_;
  at::Generator generator_;
  int64_t steps_ = 0;
};

// The global L2 norm of the parameters' gradients, and the gradients scaled down to at most
// maxNorm, exactly as torch::nn::utils::clip_grad_norm_ computes them, but the norm stays a
// tensor on the device (clip_grad_norm_ reads it back, a wait for the device). A 0-d zero
// on `device` when no parameter has a gradient.
torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm,
                           const torch::Device& device);

// The start of the message of a step whose optimiser update failed part-way. LibTorch's
// optimisers update one parameter after another, so an error inside (memory for the first
// step's moments, say) can leave some weights moved and others not, and no later step can
// tell. The JS Trainer looks for this text to write no checkpoint of such weights.
inline constexpr const char* kPartialUpdate = "The optimiser's update failed part-way";

// Sets the learning rate and steps the optimiser; an error inside becomes one that starts
// with kPartialUpdate and says what to do.
void applyUpdate(torch::optim::Optimizer& optimizer, double learningRate);

// Refuses a learning rate that is negative, not finite, or above the largest float32: the
// optimiser applies it in float32, and a larger one would overflow partway through a step,
// after some parameters had already moved.
void checkLearningRate(double learningRate);

// Scalar tensors (any device, any floating dtype) as doubles, read back in one transfer:
// one wait for the device per step rather than one per number. float64 throughout, so
// float32 values convert exactly.
std::vector<double> readScalars(const std::vector<torch::Tensor>& scalars);

// An optimiser's per-parameter state as named tensors ("<name>.exp_avg", "<name>.step", ...),
// names[i] naming the i-th parameter of its first group; parameters never stepped have none.
NamedTensorList namedOptimizerState(torch::optim::Optimizer& optimizer,
                                    const std::vector<std::string>& names);

// Replaces the optimiser's state with what namedOptimizerState wrote or, when any entry is
// missing or misshapen, changes nothing. `kind` is OptimizerOptions::kind.
void loadNamedOptimizerState(torch::optim::Optimizer& optimizer,
                             const std::vector<std::string>& names, const std::string& kind,
                             const NamedTensorList& state);

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const std::vector<torch::Tensor>& parameters,
                                                       const OptimizerOptions& options);

}  // namespace cover::core
