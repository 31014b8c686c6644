// Internal to the optimized host engine: elementwise int8 ADD (the residual Add) on vector lanes.
#pragma once
#include <cstdint>

#include "quant/qmodel.h"
#include "qp_runtime.h"

namespace qp::quant {

// qp_add_run_s8's arithmetic (TensorFlow Lite's int8 ADD: each input off its zero point, shifted left by 20, rescaled
// by its own multiplier, the sum requantized, offset, clamped) on 16 lanes (avx512-vnni kernel set) or 8 lanes (avx2),
// the last length % lanes values through the MCU kernel with `table` (qp_add_table_mcu_s8's for the same parameters);
// every other kernel set runs that MCU kernel on the whole tensor. Byte-equal to qp_add_run_s8; returns its status
// (parameters outside its contract: nothing written, not OK).
qp_status_t opt_add_s8(const qp_add_params_t &p, const int32_t *table, OptIsa isa, int32_t length, const int8_t *in1,
                       const int8_t *in2, int8_t *out);

}  // namespace qp::quant
