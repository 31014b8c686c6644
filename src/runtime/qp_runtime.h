/* qparity integer runtime: the reference INT8 kernels, C99, integer-only.
 *
 * These kernels are the numeric specification of qparity: every faster backend (host SIMD,
 * MCU-optimized, GPU) must produce the same bytes. No float or double, no heap, no libc beyond
 * <stdint.h>/<string.h>; every function returns a status instead of aborting. The same sources build
 * for the host and inside the firmware.
 *
 * Worked example: one 3x3 'same' convolution, per-channel requantization, fused ReLU.
 *
 *   qp_conv_params_t p = {0};
 *   p.input_offset = 128;            // -input_zero_point; pixels p-128 have zero point -128
 *   p.output_offset = -128;          // output zero point
 *   p.stride = 1; p.pad_top = 1; p.pad_left = 1;
 *   p.act_min = -128; p.act_max = 127;   // ReLU: act_min = output zero point
 *   qp_dims_t in = {1, 32, 32, 3}, filt = {16, 3, 3, 3}, out = {1, 32, 32, 16};
 *   qp_status_t s = qp_conv_run_s8(&p, multipliers, shifts, &in, input, &filt, weights, bias,
 *                                  &out, output);
 *
 * Layouts are NHWC for activations, OHWI for conv filters, [1][KH][KW][C] for depthwise filters and
 * [OUT][IN] for fully connected weights, as in TensorFlow Lite.
 *
 * Requantization is TFLite's reference "double rounding": an int32 accumulator times a real
 * multiplier M = m * 2^shift (m in [0.5, 1) as a Q0.31 int32) is computed as
 *   qp_requant_rdbpot_s32(qp_requant_srdhm_s32(acc * 2^max(shift,0), m), max(-shift, 0)).
 * See docs/quantization.md for the exact semantics of each helper.
 */
#ifndef QP_RUNTIME_H
#define QP_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  QP_STATUS_OK = 0,
  QP_STATUS_BAD_ARGUMENT = 1, /* a null pointer, a non-positive size, inconsistent shapes */
  QP_STATUS_BAD_SHIFT = 2     /* a requantization shift outside [-31, 30] */
} qp_status_t;

/* A 4-D shape: n (batch or output channels), h, w, c (channels or input channels). */
typedef struct {
  int32_t n, h, w, c;
} qp_dims_t;

/* ---- requantization helpers (named by rounding mode) ---- */

/* Saturating rounding doubling high multiply: (a * b) / 2^31 rounded to nearest with ties toward
 * +infinity (gemmlowp's nudge-and-truncate), the single overflow case a = b = INT32_MIN saturated to
 * INT32_MAX. */
int32_t qp_requant_srdhm_s32(int32_t a, int32_t b);

/* Rounding divide by power of two: x / 2^exponent rounded half away from zero, exponent in [0, 31]. */
int32_t qp_requant_rdbpot_s32(int32_t x, int32_t exponent);

/* x * M with M = multiplier * 2^(shift - 31): a left shift (wrapping, as the reference does) for
 * shift > 0, then srdhm, then rdbpot for shift < 0. multiplier in [2^30, 2^31) or 0; shift in
 * [-31, 30]. */
int32_t qp_requant_apply_dr_s32(int32_t x, int32_t multiplier, int32_t shift);

/* ---- kernels ---- */

typedef struct {
  int32_t input_offset;      /* -input_zero_point, [-127, 128] */
  int32_t output_offset;     /* output_zero_point, [-128, 127] */
  int32_t stride;            /* >= 1, same in H and W */
  int32_t pad_top, pad_left; /* zero-point padding before the first row/column (bottom/right implied) */
  int32_t act_min, act_max;  /* output clamp, [-128, 127], act_min <= act_max (fused ReLU/ReLU6) */
} qp_conv_params_t;

/* Conv2D, per-output-channel requantization. input [1][H][W][IC], filter [OC][KH][KW][IC] (dims n=OC,
 * h=KH, w=KW, c=IC), bias [OC] int32 (scale input_scale * weight_scale[oc], zero point 0) or NULL,
 * output [1][OH][OW][OC]. multiplier/shift [OC]. */
qp_status_t qp_conv_run_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift,
                           const qp_dims_t *input_dims, const int8_t *input, const qp_dims_t *filter_dims, const int8_t *filter,
                           const int32_t *bias, const qp_dims_t *output_dims, int8_t *output);

/* Depthwise Conv2D with depth multiplier M = OC / C >= 1 (TFLite's DEPTHWISE_CONV_2D): filter [1][KH][KW][OC]
 * (dims n=1, h=KH, w=KW, c=OC), output [1][OH][OW][OC]; output channel c*M+m reads input channel c.
 * bias/multiplier/shift [OC]. */
qp_status_t qp_dwconv_run_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift,
                             const qp_dims_t *input_dims, const int8_t *input, const qp_dims_t *filter_dims, const int8_t *filter,
                             const int32_t *bias, const qp_dims_t *output_dims, int8_t *output);

/* Fully connected: input [IN], weights [OUT][IN], bias [OUT] or NULL, output [OUT]. Per-output-channel
 * multiplier/shift [OUT] (pass the same value OUT times for per-tensor). */
qp_status_t qp_fc_run_s8(int32_t input_offset, int32_t output_offset, int32_t act_min, int32_t act_max, const int32_t *multiplier,
                         const int32_t *shift, int32_t in_features, int32_t out_features, const int8_t *input,
                         const int8_t *weights, const int32_t *bias, int8_t *output);

typedef struct {
  int32_t kernel; /* window side, >= 1 */
  int32_t stride; /* >= 1 */
  int32_t act_min, act_max;
  int32_t pad_top, pad_left; /* padding before the first row/column, [0, kernel); bottom/right implied by the output
                                dims (TFLite SAME: the odd pixel goes bottom/right); 0, 0: unpadded */
} qp_pool_params_t;

/* Max pooling: input [1][H][W][C] -> output [1][OH][OW][C]. Window (oy, ox) starts at row oy*s - pad_top,
 * column ox*s - pad_left; positions outside the input are ignored (TFLite's MAX_POOL_2D). Every window must hold
 * an input position: pad_top < k and (OH-1)*s - pad_top < H (likewise W). Unpadded: OH = (H - k) / s + 1. */
qp_status_t qp_pool_max_s8(const qp_pool_params_t *p, const qp_dims_t *input_dims, const int8_t *input,
                           const qp_dims_t *output_dims, int8_t *output);

/* Average pooling with TFLite's rounding: (sum +- count/2) / count, half away from zero, where count is the number
 * of the window's positions inside the input (TFLite's AVERAGE_POOL_2D: padding is not counted). Windows as in
 * qp_pool_max_s8. */
qp_status_t qp_pool_avg_s8(const qp_pool_params_t *p, const qp_dims_t *input_dims, const int8_t *input,
                           const qp_dims_t *output_dims, int8_t *output);

/* Global average pooling: input [1][H][W][C] -> output [C], same rounding as qp_pool_avg_s8. Input and
 * output share scale and zero point. */
qp_status_t qp_pool_global_avg_s8(int32_t act_min, int32_t act_max, const qp_dims_t *input_dims, const int8_t *input,
                                  int8_t *output);

typedef struct {
  int32_t input_multiplier; /* beta * input_scale * 2^26 as multiplier (Q0.31) ... */
  int32_t input_left_shift; /* ... and left shift >= 0: see quant::softmax_params */
  int32_t diff_min;         /* differences to the row max below this give probability 0 (output -128) */
} qp_softmax_params_t;

/* Softmax over `length` int8 values; output scale 1/256, zero point -128, so a confidence is
 * (q + 128) / 256 and a clear winner gives 127 (0.9961). TFLite's int8 reference arithmetic. */
qp_status_t qp_softmax_run_s8(const qp_softmax_params_t *p, int32_t length, const int8_t *input, int8_t *output);

/* Left shift TFLite's int8 ADD applies to both inputs before rescaling them. */
#define QP_ADD_LEFT_SHIFT 20

typedef struct {
  int32_t input1_offset, input2_offset;        /* -input zero points, [-127, 128] */
  int32_t input1_multiplier, input1_shift;     /* s1 / (2 max(s1, s2)): Q0.31 multiplier, shift in [-31, 0] */
  int32_t input2_multiplier, input2_shift;     /* s2 / (2 max(s1, s2)), likewise */
  int32_t output_multiplier, output_shift;     /* 2 max(s1, s2) / (2^20 s_out), shift in [-31, 30] */
  int32_t output_offset;                       /* output zero point, [-128, 127] */
  int32_t act_min, act_max;                    /* fused ReLU/ReLU6 clamp, [-128, 127] */
} qp_add_params_t;

/* Elementwise add of two int8 tensors of `length` values (same shape, any layout), TensorFlow Lite's
 * int8 ADD arithmetic (see qp_add_s8.c). The host derives the parameters with quant::add_params. */
qp_status_t qp_add_run_s8(const qp_add_params_t *p, int32_t length, const int8_t *input1, const int8_t *input2,
                          int8_t *output);

typedef struct {
  const int8_t *data;     /* [outer][channels] */
  int32_t channels;       /* > 0 */
  int32_t requantize;     /* 0: same scale and zero point as the output, copied; 1: requantized */
  int32_t input_offset;   /* -input zero point, [-127, 128] (requantize only) */
  int32_t multiplier;     /* s_in / s_out as Q0.31 multiplier and shift in [-31, 30] (requantize only) */
  int32_t shift;
} qp_concat_input_t;

/* Concatenates `count` int8 tensors along the innermost axis (channels in NHWC): output
 * [outer][sum of channels]. output_offset is the output zero point. */
qp_status_t qp_concat_run_s8(int32_t count, const qp_concat_input_t *inputs, int32_t outer, int32_t output_offset,
                             int8_t *output);

/* Constant padding of H and W (TFLite's int8 PAD; input and output share scale and zero point): input [1][H][W][C]
 * -> output [1][OH][OW][C] with the input at row pad_top, column pad_left (OH >= H + pad_top, OW >= W + pad_left,
 * the rest is bottom/right padding); every padded position holds `value` (the zero point). */
qp_status_t qp_pad_s8(int32_t pad_top, int32_t pad_left, int8_t value, const qp_dims_t *input_dims, const int8_t *input,
                      const qp_dims_t *output_dims, int8_t *output);

typedef struct {
  int32_t input_offset;  /* -input zero point, [-127, 128] */
  int32_t output_offset; /* output zero point, [-128, 127] */
  int32_t multiplier;    /* input_scale / output_scale as Q0.31 multiplier and shift in [-31, 30] (TFLite's
                            QuantizeMultiplier); the kernel folds 1 / (H*W) into them as TFLite does */
  int32_t shift;
} qp_mean_params_t;

/* Mean over H and W (TFLite's int8 MEAN, axes {1, 2}, keep_dims either way): input [1][H][W][C] -> output [C].
 * sum = the int32 sum of the H*W values; with n = H*W, s = min(floor(log2 n), 32, 31 + shift):
 * out = clamp(requant(sum + input_offset * n, (multiplier * 2^s) / n, shift - s) + output_offset), the division
 * truncating in 64 bits and requant the double rounding of qp_requant_apply_dr_s32. H*W < 2^24. */
qp_status_t qp_mean_s8(const qp_mean_params_t *p, const qp_dims_t *input_dims, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* QP_RUNTIME_H */
