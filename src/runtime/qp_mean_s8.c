/* Mean over H and W, TFLite's int8 MEAN arithmetic: the int32 sum of each channel, offset by the input zero point,
 * requantized by (input_scale / output_scale) / (H*W), the division folded into the multiplier as TFLite folds it. */
#include "qp_runtime.h"

/* floor(log2(n)) for n >= 1 */
static int32_t floor_log2(int64_t n) {
  int32_t b = 0;
  while (n > 1) {
    n >>= 1;
    ++b;
  }
  return b;
}

qp_status_t qp_mean_s8(const qp_mean_params_t *p, const qp_dims_t *in, const int8_t *input, int8_t *output) {
  int32_t c, i, s, mult, shift;
  int64_t n;
  if (!p || !in || !input || !output || in->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || p->input_offset < -127 ||
      p->input_offset > 128 || p->output_offset < -128 || p->output_offset > 127 || p->multiplier < 0 ||
      (int64_t)in->h * in->w > 16777215 /* the int32 sum cannot overflow below 2^24 elements */)
    return QP_STATUS_BAD_ARGUMENT;
  if (p->shift < -31 || p->shift > 30) return QP_STATUS_BAD_SHIFT;
  n = (int64_t)in->h * in->w;
  /* 1/n folded into the multiplier: s bits of headroom (at most 32, and the shift stays >= -31) */
  s = floor_log2(n);
  if (s > 32) s = 32;
  if (s > 31 + p->shift) s = 31 + p->shift;
  mult = (int32_t)(((int64_t)p->multiplier * ((int64_t)1 << s)) / n);
  shift = p->shift - s;
  for (c = 0; c < in->c; ++c) {
    int32_t sum = 0, v;
    for (i = 0; i < in->h * in->w; ++i) sum += input[(int64_t)i * in->c + c];
    v = (int32_t)((int64_t)sum + (int64_t)p->input_offset * n);
    v = (int32_t)((uint32_t)qp_requant_apply_dr_s32(v, mult, shift) + (uint32_t)p->output_offset);
    output[c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
  }
  return QP_STATUS_OK;
}
