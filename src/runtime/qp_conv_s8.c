/* Conv2D and depthwise Conv2D, int8 in/out, int32 accumulation, per-channel requantization. */
#include "qp_runtime.h"

static int32_t clamp_s32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

static qp_status_t check_common(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                                const int8_t *input, const qp_dims_t *f, const int8_t *filter, const qp_dims_t *out,
                                int8_t *output, int32_t out_channels) {
  int32_t i;
  if (!p || !multiplier || !shift || !in || !input || !f || !filter || !out || !output) return QP_STATUS_BAD_ARGUMENT;
  if (in->n != 1 || out->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || f->h < 1 || f->w < 1 || p->stride < 1)
    return QP_STATUS_BAD_ARGUMENT;
  if (out->c != out_channels || out->h < 1 || out->w < 1 || p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127 ||
      p->pad_top < 0 || p->pad_left < 0)
    return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < out_channels; ++i)
    if (shift[i] < -31 || shift[i] > 30) return QP_STATUS_BAD_SHIFT;
  return QP_STATUS_OK;
}

qp_status_t qp_conv_run_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                           const int8_t *input, const qp_dims_t *f, const int8_t *filter, const int32_t *bias,
                           const qp_dims_t *out, int8_t *output) {
  int32_t oy, ox, oc, ky, kx, ic;
  const qp_status_t st = check_common(p, multiplier, shift, in, input, f, filter, out, output, f ? f->n : 0);
  if (st != QP_STATUS_OK) return st;
  if (f->c != in->c) return QP_STATUS_BAD_ARGUMENT;
  for (oy = 0; oy < out->h; ++oy)
    for (ox = 0; ox < out->w; ++ox)
      for (oc = 0; oc < out->c; ++oc) {
        int32_t acc = bias ? bias[oc] : 0;
        for (ky = 0; ky < f->h; ++ky) {
          const int32_t iy = oy * p->stride + ky - p->pad_top;
          if (iy < 0 || iy >= in->h) continue; /* padding holds the zero point: contributes 0 */
          for (kx = 0; kx < f->w; ++kx) {
            const int32_t ix = ox * p->stride + kx - p->pad_left;
            const int8_t *x, *w;
            if (ix < 0 || ix >= in->w) continue;
            x = input + ((int64_t)iy * in->w + ix) * in->c;
            w = filter + (((int64_t)oc * f->h + ky) * f->w + kx) * f->c;
            for (ic = 0; ic < in->c; ++ic) acc += (int32_t)w[ic] * ((int32_t)x[ic] + p->input_offset);
          }
        }
        acc = (int32_t)((uint32_t)qp_requant_apply_dr_s32(acc, multiplier[oc], shift[oc]) + (uint32_t)p->output_offset);
        output[((int64_t)oy * out->w + ox) * out->c + oc] = (int8_t)clamp_s32(acc, p->act_min, p->act_max);
      }
  return QP_STATUS_OK;
}

qp_status_t qp_dwconv_run_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                             const int8_t *input, const qp_dims_t *f, const int8_t *filter, const int32_t *bias,
                             const qp_dims_t *out, int8_t *output) {
  int32_t oy, ox, c, m, ky, kx, mult;
  const qp_status_t st = check_common(p, multiplier, shift, in, input, f, filter, out, output, out ? out->c : 0);
  if (st != QP_STATUS_OK) return st;
  /* depth multiplier: OC = C * M, output channel c * M + m reads input channel c */
  if (f->n != 1 || f->c != out->c || out->c % in->c != 0) return QP_STATUS_BAD_ARGUMENT;
  mult = out->c / in->c;
  for (oy = 0; oy < out->h; ++oy)
    for (ox = 0; ox < out->w; ++ox)
      for (c = 0; c < in->c; ++c)
        for (m = 0; m < mult; ++m) {
          const int32_t oc = c * mult + m;
          int32_t acc = bias ? bias[oc] : 0;
          for (ky = 0; ky < f->h; ++ky) {
            const int32_t iy = oy * p->stride + ky - p->pad_top;
            if (iy < 0 || iy >= in->h) continue;
            for (kx = 0; kx < f->w; ++kx) {
              const int32_t ix = ox * p->stride + kx - p->pad_left;
              if (ix < 0 || ix >= in->w) continue;
              acc += (int32_t)filter[((int64_t)ky * f->w + kx) * f->c + oc] *
                     ((int32_t)input[((int64_t)iy * in->w + ix) * in->c + c] + p->input_offset);
            }
          }
          acc = (int32_t)((uint32_t)qp_requant_apply_dr_s32(acc, multiplier[oc], shift[oc]) + (uint32_t)p->output_offset);
          output[((int64_t)oy * out->w + ox) * out->c + oc] = (int8_t)clamp_s32(acc, p->act_min, p->act_max);
        }
  return QP_STATUS_OK;
}
