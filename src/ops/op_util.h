// Helpers the op files share: window arithmetic and parameter-size checks for shape inference, int8
// activation parameters for the quantization rules.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/ir.h"
#include "ops/registry.h"
#include "quant/qmodel.h"

namespace qp::ops {

// Output side and padding of a window (conv/pool) of side k and stride over an input side `in`.
void window_out(int in, int k, int stride, model::Padding pad, int &out, int &before, int &after, const std::string &where);

// Checks (or, with allocate and an empty v, sizes with `fill`) that a parameter vector holds n values.
void expect_size(std::vector<float> &v, int64_t n, const std::string &what, bool allocate, float fill = 0.f);

// An activation's element count, checked against model::kMaxActivationElements.
void check_activation(const model::Shape &s, const std::string &where);

// Asymmetric int8 parameters covering [lo, hi] (widened to include 0); the scale is float32.
quant::QParams activation_params(double lo, double hi);

// v quantized with p: rounded half away from zero, saturated to int8 (NaN -> the zero point).
int32_t quantize_value(double v, const quant::QParams &p);

// The output parameters of a layer that may have an activation fused into it: the range observed at
// the activation's output (clamped to the activation's range) or at the layer's own; sets ql.output,
// and with a fused activation ql.activation and ql.fp32_index.
void quantize_output_with_activation(const QuantArgs &args, quant::QLayer &ql);

// Conv/Dense: the int8 weights in the FP32 order ([out][...]) rearranged into the runtime layout.
using WeightLayout = std::function<std::vector<int8_t>(std::vector<int8_t> fp32_order)>;

// The quantization rule of a layer with weights (Conv2D, DepthwiseConv2D, Dense): output parameters
// (with a fused activation), per-channel or per-tensor weight scales (max|w| / 127, raised to a floor
// where the bias would not fit int32), int8 weights in `layout`, int32 biases at input_scale *
// weight_scale, the requantization multipliers, and the proof that the int32 accumulator cannot
// overflow. Throws qp::Error naming the layer.
void quantize_weighted(const QuantArgs &args, quant::QLayer &ql, const WeightLayout &layout);

// The per-channel requantization multiplier and shift of a conv/dense layer: input_scale *
// weight_scale[c] / output_scale. qp::Error for a shift outside [-31, 30].
void derive_weighted(quant::QLayer &l);

}  // namespace qp::ops
