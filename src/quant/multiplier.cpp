#include "quant/multiplier.h"

#include <cmath>
#include <string>

#include "common/error.h"

namespace qp::quant {

QuantizedMultiplier quantize_multiplier(double real) {
  if (!(real >= 0.0) || !std::isfinite(real)) fail("requantization multiplier " + std::to_string(real) + " is not a finite non-negative number");
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

}  // namespace qp::quant
