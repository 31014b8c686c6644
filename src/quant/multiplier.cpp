#include "quant/multiplier.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"

namespace qp::quant {

QuantizedMultiplier quantize_multiplier(double real) {
  if (!(real >= 0.0) || !std::isfinite(real))
    fail("requantization multiplier " + std::to_string(real) + " is not a finite non-negative number");
  if (real == 0.0) return {};
  if (real >= 1073741824.0) fail("requantization multiplier " + std::to_string(real) + " is too large (>= 2^30)");
  int exponent = 0;
  const double fraction = std::frexp(real, &exponent);  // real = fraction * 2^exponent, fraction in [0.5, 1)
  int64_t q = static_cast<int64_t>(std::llround(fraction * 2147483648.0));
  if (q == (int64_t{1} << 31)) {  // rounding reached 1.0: renormalise
    q /= 2;
    ++exponent;
  }
  if (exponent < -31) return {};  // below the smallest representable shift: the product is 0 anyway
  return {static_cast<int32_t>(q), exponent};
}

SoftmaxParams softmax_params(double input_scale, double beta) {
  const double scaled = beta * input_scale;
  if (!(scaled >= std::ldexp(1.0, -26) && scaled <= 16.0))
    fail("softmax input scale " + std::to_string(input_scale) + " times beta " + std::to_string(beta) +
             " is outside [2^-26, 16]",
         "recalibrate: the logits' range is degenerate (or beta is not a positive number of sane size)");
  constexpr int kScaledDiffIntegerBits = 5;
  const double real = std::min(scaled * std::ldexp(1.0, 31 - kScaledDiffIntegerBits), 2147483647.0);
  const QuantizedMultiplier q = quantize_multiplier(real);
  SoftmaxParams p;
  p.input_multiplier = q.multiplier;
  p.input_left_shift = q.shift;  // >= 1 since real >= 1
  // The largest difference magnitude whose scaled value still fits Q5.26: (2^5 - 1) * 2^26 / 2^shift.
  const double radius = 31.0 * std::ldexp(1.0, 31 - kScaledDiffIntegerBits) / std::ldexp(1.0, q.shift);
  p.diff_min = -static_cast<int32_t>(std::floor(radius));
  return p;
}

namespace {

void check_qparams(double scale, int32_t zero_point, const char *what) {
  if (!(scale > 0.0) || !std::isfinite(scale))
    fail(std::string(what) + " scale " + std::to_string(scale) + " is not a finite positive number");
  if (zero_point < -128 || zero_point > 127)
    fail(std::string(what) + " zero point " + std::to_string(zero_point) + " is outside int8 [-128, 127]");
}

}  // namespace

qp_add_params_t add_params(double scale1, int32_t zero_point1, double scale2, int32_t zero_point2, double out_scale,
                           int32_t out_zero_point, int32_t act_min, int32_t act_max) {
  check_qparams(scale1, zero_point1, "ADD input 1");
  check_qparams(scale2, zero_point2, "ADD input 2");
  check_qparams(out_scale, out_zero_point, "ADD output");
  const double twice_max = 2.0 * std::max(scale1, scale2);
  const QuantizedMultiplier m1 = quantize_multiplier(scale1 / twice_max);
  const QuantizedMultiplier m2 = quantize_multiplier(scale2 / twice_max);
  const QuantizedMultiplier mo = quantize_multiplier(twice_max / (std::ldexp(1.0, QP_ADD_LEFT_SHIFT) * out_scale));
  if (mo.shift < -31 || mo.shift > 30) fail("ADD output multiplier is out of range (input and output scales too far apart)");
  qp_add_params_t p{};
  p.input1_offset = -zero_point1;
  p.input2_offset = -zero_point2;
  p.input1_multiplier = m1.multiplier;
  p.input1_shift = m1.shift;
  p.input2_multiplier = m2.multiplier;
  p.input2_shift = m2.shift;
  p.output_multiplier = mo.multiplier;
  p.output_shift = mo.shift;
  p.output_offset = out_zero_point;
  p.act_min = act_min;
  p.act_max = act_max;
  return p;
}

qp_concat_input_t concat_input_params(double in_scale, int32_t in_zero_point, double out_scale, int32_t out_zero_point) {
  check_qparams(in_scale, in_zero_point, "CONCATENATION input");
  check_qparams(out_scale, out_zero_point, "CONCATENATION output");
  qp_concat_input_t c{};
  if (in_scale == out_scale && in_zero_point == out_zero_point) return c;  // copied as is
  const QuantizedMultiplier m = quantize_multiplier(in_scale / out_scale);
  c.requantize = 1;
  c.input_offset = -in_zero_point;
  c.multiplier = m.multiplier;
  c.shift = m.shift;
  return c;
}

}  // namespace qp::quant
