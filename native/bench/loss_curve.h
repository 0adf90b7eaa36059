// bf16 against fp32 over many training steps, on any device.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

namespace cover::bench {

// Two default models from the same weights, trained side by side on the same batches and
// views (they share the view generator's seed), one with its backbone under bf16 autocast.
// Prints L_vec / no-motion of each over the first and last 50 steps (fewer when it stopped
// early: `window`), the mean relative gap of their L_vec step by step, skipped steps, and
// each one's last featureVariation. Steps:
// COVER_TORCH_LOSS_CURVE_STEPS (default 300); it stops early, saying so, once
// COVER_TORCH_LOSS_CURVE_BUDGET_S (default 60 s) has passed.
std::function<std::string()> lossCurveScenario(torch::Device device, int dims, int64_t crop,
                                               int64_t batch);

}  // namespace cover::bench
