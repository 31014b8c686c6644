// Host-side half of requantization: turning a real multiplier into the (int32 multiplier, shift)
// pair the integer runtime applies with qp_requant_apply_dr_s32. Same arithmetic as TFLite's
// QuantizeMultiplier; see docs/quantization.md.
#pragma once
#include <cstdint>

namespace qp::quant {

struct QuantizedMultiplier {
  int32_t multiplier = 0;  // Q0.31 in [2^30, 2^31), or 0 for a zero real multiplier
  int32_t shift = 0;       // real = multiplier * 2^(shift - 31)
};

// real >= 0. Values too small to represent (shift < -31) become {0, 0}; real >= 2^30 is rejected
// with qp::Error (no layer of a sane model needs it).
QuantizedMultiplier quantize_multiplier(double real);

}  // namespace qp::quant
