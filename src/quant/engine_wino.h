// Winograd F(2x2, 3x3) for 3x3 stride-1 Conv2D on the optimized engine's AVX2 kernel set (engine_wino.cpp).
// Bit-exact to qp_conv_run_s8: the MCU kernel's integer-exact transform (qp_conv_wino_s8.c) on AVX2.
#pragma once

#include <cstdint>

#include "quant/qmodel.h"

namespace qp::quant {

// 1 when the layer can run by Winograd exactly: Conv2D, 3x3, stride 1, input channels <= QP_CONV_WINO_MAX_CHANNELS
// (which keeps every int16 transform value and int32 sum in range, see engine_wino.cpp).
bool wino_exact(const QLayer &l);
// 1 when the measured AVX2 Winograd kernel beats the AVX2 GEMM for this layer's shape (see engine_wino.cpp).
bool wino_wins(const QLayer &l);
// Fills o's Winograd fields (o: pack_opt_weights(l), a Gemm) and sets o.wino; false (o unchanged) when not
// wino_exact. pack_opt_weights calls it where wino_wins; tests call it directly to force the path.
bool pack_wino(const QLayer &l, OptWeights &o);
// Runs layer l (o.wino) with the AVX2 Winograd kernel; scratch: o.scratch_bytes(), 32-byte aligned.
// Only on x86-64 with AVX2 (opt_isa_available(OptIsa::Avx2)). acc32 (fused max pooling, engine_opt.cpp): out unused,
// the int32 accumulators stored instead, [pixel][tiles2 * J2 * 8].
void wino_conv_avx2(const QLayer &l, const OptWeights &o, const int8_t *in, int8_t *out, uint8_t *scratch,
                    int32_t *acc32 = nullptr);

}  // namespace qp::quant
