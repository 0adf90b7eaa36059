// Reading option objects passed from JS into core option structs. lib/ has validated them
// already (ranges, unknown keys); here a wrong type is a TypeError naming the field.
#pragma once

#include <napi.h>

#include "core/model_options.h"
#include "core/segmentation.h"
#include "core/trainer.h"

namespace cover::addon {

core::ModelOptions modelOptionsFromJs(const Napi::Object& object);
core::TrainOptions trainOptionsFromJs(const Napi::Object& object);
core::SegmentationOptions segmentationOptionsFromJs(const Napi::Object& object);

}  // namespace cover::addon
