// Host-side half of requantization: turning a real multiplier into the (int32 multiplier, shift)
// pair the integer runtime applies with qp_requant_apply_dr_s32. Same arithmetic as TFLite's
// QuantizeMultiplier; see docs/quantization.md.
#pragma once
#include <cstdint>

#include "qp_runtime.h"

namespace qp::quant {

struct QuantizedMultiplier {
  int32_t multiplier = 0;  // Q0.31 in [2^30, 2^31), or 0 for a zero real multiplier
  int32_t shift = 0;       // real = multiplier * 2^(shift - 31)
};

// real >= 0. Values too small to represent (shift < -31) become {0, 0}; real >= 2^30 is rejected
// with qp::Error (no layer of a sane model needs it).
QuantizedMultiplier quantize_multiplier(double real);

// Parameters of qp_softmax_run_s8 for an int8 input of scale `input_scale` and TFLite's `beta` (softmax of
// beta * x): the multiplier of beta * input_scale * 2^26 (differences enter the exp as Q5.26; the product in
// double, as TFLite's PreprocessSoftmaxScaling) with a left shift >= 0, and diff_min, the smallest difference to
// the row maximum whose exp is still computed. qp::Error when beta * input_scale is not in [2^-26, 2^4].
struct SoftmaxParams {
  int32_t input_multiplier = 0;
  int32_t input_left_shift = 0;
  int32_t diff_min = 0;
};
SoftmaxParams softmax_params(double input_scale, double beta = 1.0);

// Parameters of qp_add_run_s8 (TFLite's int8 ADD) for out = in1 + in2 with the given scales and zero
// points, clamped to [act_min, act_max]. qp::Error for a scale that is not finite and > 0 or a zero
// point outside int8.
qp_add_params_t add_params(double scale1, int32_t zero_point1, double scale2, int32_t zero_point2, double out_scale,
                           int32_t out_zero_point, int32_t act_min = -128, int32_t act_max = 127);

// One input of qp_concat_run_s8: copied when its scale and zero point equal the output's, else
// requantized by s_in / s_out. `data` and `channels` are left for the caller.
qp_concat_input_t concat_input_params(double in_scale, int32_t in_zero_point, double out_scale, int32_t out_zero_point);

}  // namespace qp::quant
