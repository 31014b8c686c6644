/* qparity integer runtime: MCU-optimized INT8 Conv2D and fully connected kernels, C99, integer-only.
 *
 * Bit-exact to qp_conv_run_s8 / qp_fc_run_s8 for every input (tests/test_runtime_mcu.cpp), written for
 * 32-bit cores without SIMD (rv32imac, Xtensa lx106): no im2col, 4 output pixels x 4 output channels
 * per register block, weights pre-packed so they stream linearly, the input offset folded into the bias.
 *
 * Worked example: the first layer of rps-cnn (3x3 'same', 3 -> 16 channels, 32x32).
 *
 *   // On the host, at generation time (or once at start-up): pack the OHWI filter and bias.
 *   qp_dims_t f = {16, 3, 3, 3};
 *   int8_t packed_w[QP_CONV_MCU_PACKED_BYTES(16, 3, 3, 3)];
 *   int32_t packed_b[QP_CONV_MCU_PACKED_CHANNELS(16)];
 *   qp_conv_pack_mcu_s8(128, &f, filter, bias, packed_w, packed_b);   // 128 = p.input_offset
 *   // On the device: a scratch buffer of qp_conv_scratch_mcu_bytes(&p, &in, &f, &out) bytes.
 *   qp_conv_run_mcu_s8(&p, multipliers, shifts, &in, input, &f, packed_w, packed_b, &out, output, scratch);
 *
 * Packed layout (what qp_conv_pack_mcu_s8 writes): output channels are grouped in blocks of 4 (the last
 * block zero-padded); block b holds, for every tap t = (ky * KW + kx) * IC + ic in OHWI order, the four
 * bytes w[4b + 0..3][t]. The packed bias is, per output channel (padded to a multiple of 4 with 0),
 * bias[oc] + input_offset * sum_t w[oc][t], computed modulo 2^32 (the kernel adds it modulo 2^32 too, so
 * the final accumulator equals the reference one whenever that fits int32, which the quantizer proves).
 *
 * Padding: the kernel copies the KH input rows an output row needs into the scratch buffer and fills
 * out-of-image positions with the input zero point (-input_offset); with the offset folded into the
 * bias such a tap contributes exactly 0, as in the reference. Where a layer never reads outside the
 * image (no padding, e.g. 'valid' or 1x1 or fully connected) the scratch size is 0 and input is read
 * in place.
 */
#ifndef QP_RUNTIME_MCU_H
#define QP_RUNTIME_MCU_H

#include <stdint.h>

#include "qp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output channels rounded up to the block size (4): the length of the packed bias. */
#define QP_CONV_MCU_PACKED_CHANNELS(oc) ((((oc) + 3) / 4) * 4)
/* Bytes of the packed filter for OC output channels, a KH x KW kernel and IC input channels. */
#define QP_CONV_MCU_PACKED_BYTES(oc, kh, kw, ic) (QP_CONV_MCU_PACKED_CHANNELS(oc) * (kh) * (kw) * (ic))

/* Packs an OHWI filter (dims n=OC, h=KH, w=KW, c=IC) and its bias (or NULL) for qp_conv_run_mcu_s8, for
 * one input_offset ([-127, 128]). packed_filter holds QP_CONV_MCU_PACKED_BYTES bytes, packed_bias
 * QP_CONV_MCU_PACKED_CHANNELS int32. Pure function of its inputs: run it on the host at generation time. */
qp_status_t qp_conv_pack_mcu_s8(int32_t input_offset, const qp_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                int8_t *packed_filter, int32_t *packed_bias);

/* Scratch bytes qp_conv_run_mcu_s8 needs for this layer (KH * ((OW - 1) * stride + KW) * IC, or 0 when
 * the layer never reads outside the input); -1 for inconsistent arguments. */
int32_t qp_conv_scratch_mcu_bytes(const qp_conv_params_t *p, const qp_dims_t *input_dims, const qp_dims_t *filter_dims,
                                  const qp_dims_t *output_dims);

/* Conv2D as qp_conv_run_s8, with the filter and bias packed by qp_conv_pack_mcu_s8 for p->input_offset
 * (filter_dims are the unpacked OHWI dims). scratch: qp_conv_scratch_mcu_bytes bytes, any alignment,
 * owned by the caller (an arena region free during the call); may be NULL when that size is 0.
 * input and output must not overlap. */
qp_status_t qp_conv_run_mcu_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift,
                               const qp_dims_t *input_dims, const int8_t *input, const qp_dims_t *filter_dims,
                               const int8_t *packed_filter, const int32_t *packed_bias, const qp_dims_t *output_dims,
                               int8_t *output, int8_t *scratch);

/* Packs fully connected weights [OUT][IN] and bias [OUT] (or NULL) for qp_fc_run_mcu_s8: the same layout
 * as a 1x1 convolution, QP_CONV_MCU_PACKED_BYTES(OUT, 1, 1, IN) bytes and QP_CONV_MCU_PACKED_CHANNELS(OUT)
 * int32. */
qp_status_t qp_fc_pack_mcu_s8(int32_t input_offset, int32_t in_features, int32_t out_features, const int8_t *weights,
                              const int32_t *bias, int8_t *packed_weights, int32_t *packed_bias);

/* Fully connected as qp_fc_run_s8, with weights and bias packed by qp_fc_pack_mcu_s8 (which took the
 * input offset). No scratch. */
qp_status_t qp_fc_run_mcu_s8(int32_t output_offset, int32_t act_min, int32_t act_max, const int32_t *multiplier,
                             const int32_t *shift, int32_t in_features, int32_t out_features,
                             const int8_t *input, const int8_t *packed_weights, const int32_t *packed_bias, int8_t *output);

/* ---- 3x3 stride-1 Conv2D by integer-exact Winograd F(2x2, 3x3) (qp_conv_wino_s8.c) ----
 *
 * Same results as qp_conv_run_s8 (and qp_conv_run_mcu_s8) with 16 multiplies per 2x2 output tile and
 * input channel instead of 36. Usable when qp_conv_wino_supported: KH = KW = 3, stride 1, any padding,
 * IC <= QP_CONV_WINO_MAX_CHANNELS (which keeps every intermediate sum inside int32).
 *
 *   qp_dims_t f = {32, 3, 3, 16};
 *   static int16_t packed_w[QP_CONV_WINO_PACKED_COUNT(32, 16)];   // 16 * 32 * 16 int16 = 16 KB
 *   int32_t packed_b[QP_CONV_MCU_PACKED_CHANNELS(32)];
 *   qp_conv_pack_wino_s8(p.input_offset, &f, filter, bias, packed_w, packed_b);        // host
 *   qp_conv_run_wino_s8(&p, mult, shift, &in, input, &f, packed_w, packed_b, &out, output, scratch);
 *
 * Packed filter: per block of 4 output channels (the last zero-padded), per input channel, the 4x4
 * transformed filter U = 4 G g G^T (|U| <= 1143) as U[xi][4 channels], xi = 4 * row + column:
 * packed[((oc / 4) * IC + ic) * 64 + xi * 4 + oc % 4]. The packed bias is qp_conv_pack_mcu_s8's. */

#define QP_CONV_WINO_MAX_CHANNELS 2048
/* int16 elements of the Winograd-packed filter for OC output and IC input channels. */
#define QP_CONV_WINO_PACKED_COUNT(oc, ic) (QP_CONV_MCU_PACKED_CHANNELS(oc) * 16 * (ic))

/* 1 when qp_conv_run_wino_s8 handles this layer (filter dims n=OC, h=KH, w=KW, c=IC), else 0. */
int qp_conv_wino_supported(const qp_conv_params_t *p, const qp_dims_t *filter_dims, const qp_dims_t *input_dims);

/* Bytes of the Winograd-packed filter (2 * QP_CONV_WINO_PACKED_COUNT), -1 for an unsupported filter. */
int32_t qp_conv_packed_wino_bytes(const qp_dims_t *filter_dims);

/* Packs an OHWI 3x3 filter and its bias (or NULL) for qp_conv_run_wino_s8 and one input_offset
 * ([-127, 128]): packed_filter holds QP_CONV_WINO_PACKED_COUNT int16, packed_bias
 * QP_CONV_MCU_PACKED_CHANNELS int32. Pure function of its inputs: run it on the host. */
qp_status_t qp_conv_pack_wino_s8(int32_t input_offset, const qp_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                 int16_t *packed_filter, int32_t *packed_bias);

/* Scratch bytes qp_conv_run_wino_s8 needs: 1027 + 168 * IC (any alignment); -1 for unsupported or
 * inconsistent arguments. */
int32_t qp_conv_scratch_wino_bytes(const qp_conv_params_t *p, const qp_dims_t *input_dims, const qp_dims_t *filter_dims,
                                   const qp_dims_t *output_dims);

/* Conv2D as qp_conv_run_s8 for a layer qp_conv_wino_supported accepts, with the filter and bias packed
 * by qp_conv_pack_wino_s8 for p->input_offset. scratch: qp_conv_scratch_wino_bytes bytes, never NULL.
 * input and output must not overlap. */
qp_status_t qp_conv_run_wino_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift,
                                const qp_dims_t *input_dims, const int8_t *input, const qp_dims_t *filter_dims,
                                const int16_t *packed_filter, const int32_t *packed_bias, const qp_dims_t *output_dims,
                                int8_t *output, int8_t *scratch);

/* ---- depthwise Conv2D, channel multiplier 1 (qp_dwconv_mcu_s8.c) ----
 *
 * Same results as qp_dwconv_run_s8 for any kernel size, stride and padding, no scratch:
 *
 *   qp_dims_t f = {1, 3, 3, 32};
 *   int16_t packed_w[QP_DWCONV_MCU_PACKED_COUNT(3, 3, 32)];
 *   int32_t packed_b[QP_DWCONV_MCU_PACKED_CHANNELS(32)];
 *   qp_dwconv_pack_mcu_s8(p.input_offset, &f, filter, bias, packed_w, packed_b);     // host
 *   qp_dwconv_run_mcu_s8(&p, mult, shift, &in, input, &f, packed_w, packed_b, &out, output);
 *
 * Packed filter: int16 (a signed 16-bit load is one instruction on both cores; lx106 has no signed byte
 * load), channels in blocks of 4 (the last zero-padded), per block every tap t = ky * KW + kx with its 4
 * channels' weights: packed[((c / 4) * KH * KW + t) * 4 + c % 4]. Packed bias: per channel
 * (padded to a multiple of 4 with 0) bias[c] + input_offset * sum_t w[t][c], modulo 2^32. */
#define QP_DWCONV_MCU_PACKED_CHANNELS(c) ((((c) + 3) / 4) * 4)
/* int16 elements of the packed filter. */
#define QP_DWCONV_MCU_PACKED_COUNT(kh, kw, c) (QP_DWCONV_MCU_PACKED_CHANNELS(c) * (kh) * (kw))

/* Packs a depthwise filter [1][KH][KW][C] (dims n=1, h=KH, w=KW, c=C) and its bias (or NULL) for one
 * input_offset ([-127, 128]). Pure function of its inputs: run it on the host at generation time. */
qp_status_t qp_dwconv_pack_mcu_s8(int32_t input_offset, const qp_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                  int16_t *packed_filter, int32_t *packed_bias);

/* Depthwise Conv2D as qp_dwconv_run_s8 (multiplier 1), filter and bias packed by qp_dwconv_pack_mcu_s8
 * for p->input_offset (filter_dims are the unpacked dims). input and output must not overlap. */
qp_status_t qp_dwconv_run_mcu_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift,
                                 const qp_dims_t *input_dims, const int8_t *input, const qp_dims_t *filter_dims,
                                 const int16_t *packed_filter, const int32_t *packed_bias, const qp_dims_t *output_dims,
                                 int8_t *output);

/* ---- elementwise ADD (qp_add_mcu_s8.c) ----
 *
 * Same results as qp_add_run_s8. Each input's rescaling depends on its int8 value only, so it is a
 * table of QP_ADD_MCU_TABLE_COUNT int32 (input 1's 256 values, then input 2's, indexed by value + 128)
 * built by qp_add_table_mcu_s8 with the reference arithmetic (host, at generation time). */
#define QP_ADD_MCU_TABLE_COUNT 512

qp_status_t qp_add_table_mcu_s8(const qp_add_params_t *p, int32_t *table);

/* qp_add_run_s8 with the table of qp_add_table_mcu_s8 for the same parameters; same status codes. */
qp_status_t qp_add_run_mcu_s8(const qp_add_params_t *p, const int32_t *table, int32_t length, const int8_t *input1,
                              const int8_t *input2, int8_t *output);

/* ---- pooling and MEAN (qp_pool_mcu_s8.c) ----
 *
 * Same arguments, results and status codes as qp_pool_max_s8, qp_pool_avg_s8, qp_pool_global_avg_s8 and
 * qp_mean_s8, for every shape, padding and parameter; no scratch, no packing. Channels innermost, 4 at a time
 * (one 32-bit word, two 16-bit lanes per add, where the input is 4-byte aligned at every pixel: aligned base and
 * C a multiple of 4); the rounded mean of a window through a multiply by ceil(2^24 / count) where that is
 * proven exact for the reachable sums, else a division. */
qp_status_t qp_pool_max_mcu_s8(const qp_pool_params_t *p, const qp_dims_t *input_dims, const int8_t *input,
                               const qp_dims_t *output_dims, int8_t *output);
qp_status_t qp_pool_avg_mcu_s8(const qp_pool_params_t *p, const qp_dims_t *input_dims, const int8_t *input,
                               const qp_dims_t *output_dims, int8_t *output);
qp_status_t qp_pool_global_avg_mcu_s8(int32_t act_min, int32_t act_max, const qp_dims_t *input_dims, const int8_t *input,
                                      int8_t *output);
qp_status_t qp_mean_mcu_s8(const qp_mean_params_t *p, const qp_dims_t *input_dims, const int8_t *input, int8_t *output);

/* The pooling kernels' rounded mean, (sum +- count/2) / count half away from zero, as the kernels compute it
 * (exposed for the exhaustive test); count in [1, 2^24), |sum| <= 128 * count, else 0. */
int32_t qp_pool_rounded_mean_mcu_s32(int32_t sum, int32_t count);

#ifdef __cplusplus
}
#endif

#endif /* QP_RUNTIME_MCU_H */
