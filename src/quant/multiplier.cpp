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

SoftmaxParams softmax_params(double input_scale) {
  if (!(input_scale >= std::ldexp(1.0, -26) && input_scale <= 16.0))
    fail("softmax input scale " + std::to_string(input_scale) + " is outside [2^-26, 16]",
         "recalibrate: the logits' range is degenerate");
  constexpr int kScaledDiffIntegerBits = 5;
  const double real = std::min(input_scale * std::ldexp(1.0, 31 - kScaledDiffIntegerBits), 2147483647.0);
  const QuantizedMultiplier q = quantize_multiplier(real);
  SoftmaxParams p;
  p.input_multiplier = q.multiplier;
  p.input_left_shift = q.shift;  // >= 1 since real >= 1
  // The largest difference magnitude whose scaled value still fits Q5.26: (2^5 - 1) * 2^26 / 2^shift.
  const double radius = 31.0 * std::ldexp(1.0, 31 - kScaledDiffIntegerBits) / std::ldexp(1.0, q.shift);
  p.diff_min = -static_cast<int32_t>(std::floor(radius));
  return p;
}

}  // namespace qp::quant
