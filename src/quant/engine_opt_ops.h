// Internal to the optimized host engine: the kernels of engine_opt_ops.cpp that engine_opt.cpp's opt_run_layer
// calls (the public entry points are in quant/qmodel.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/qmodel.h"

namespace qp::quant {

// Pad, Mean and Softmax; false where the layer's parameters are outside the reference kernel's contract (the
// reference then reports the error) or for an op it does not run.
bool opt_run_small_op(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out);

// Whether every pooling window of l holds an input position (qp_pool_max_s8 / qp_pool_avg_s8 refuse the layer
// otherwise).
bool opt_pool_windows_valid(const QLayer &l);

// Max pooling with padded windows (TFLite's SAME): the in-bounds part of each window, channels innermost; false
// (nothing written) where a window holds no input position.
bool opt_maxpool_padded_s8(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out);

// Depthwise with depth multiplier M > 1: stages the input as stage_input does for M = 1 (16-bit words
// u = x + 128, the zero point outside the image, [ph][pw][icp]) with input channel c repeated at staged channels
// c*M .. c*M + M-1, so the multiplier-1 kernels run it channel for channel over the output channels.
void opt_stage_dw_expand(const QLayer &l, const OptWeights &o, const int8_t *in, uint16_t *pad);

// Concat over n inputs (o from pack_opt_weights(model, k)); false when o does not describe n inputs.
bool opt_concat_s8(const QLayer &l, const OptWeights &o, const int8_t *const *ins, size_t n, int8_t *out);

}  // namespace qp::quant
