/* Pooling: max, average (TFLite rounding; padded windows count their in-bounds positions) and global average. Scale
 * and zero point pass through. */
#include "qp_runtime.h"

static int32_t clamp_s32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* (sum +- count/2) / count, rounding half away from zero. |sum| <= 128 * count < 2^31 (count < 2^24), but
 * |sum| + count/2 may not fit int32: the magnitude is rounded in uint32 (at most 2^31 + 2^23). */
static int32_t rounded_mean(int32_t sum, int32_t count) {
  const uint32_t half = (uint32_t)(count / 2);
  if (sum > 0) return (int32_t)(((uint32_t)sum + half) / (uint32_t)count);
  return -(int32_t)(((uint32_t)0 - (uint32_t)sum + half) / (uint32_t)count);
}

static qp_status_t check(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                         const int8_t *output) {
  if (!p || !in || !input || !out || !output) return QP_STATUS_BAD_ARGUMENT;
  if (p->kernel < 1 || p->stride < 1 || in->n != 1 || out->n != 1 || in->c < 1 || out->c != in->c || p->act_min > p->act_max ||
      p->act_min < -128 || p->act_max > 127 || in->h < 1 || in->w < 1 || out->h < 1 || out->w < 1)
    return QP_STATUS_BAD_ARGUMENT;
  /* every window holds at least one input position: the first starts before the kernel's end, the last inside */
  if (p->pad_top < 0 || p->pad_left < 0 || p->pad_top >= p->kernel || p->pad_left >= p->kernel ||
      (int64_t)(out->h - 1) * p->stride - p->pad_top >= in->h || (int64_t)(out->w - 1) * p->stride - p->pad_left >= in->w)
    return QP_STATUS_BAD_ARGUMENT;
  return QP_STATUS_OK;
}

/* Max (is_max != 0) or rounded-mean pooling over the in-bounds part of each window (TFLite's rule). */
static qp_status_t pool_s8(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                           int8_t *output, int is_max) {
  int32_t oy, ox, c, y, x;
  const qp_status_t st = check(p, in, input, out, output);
  if (st != QP_STATUS_OK) return st;
  for (oy = 0; oy < out->h; ++oy) {
    const int32_t y0 = oy * p->stride - p->pad_top;
    const int32_t ys = y0 < 0 ? 0 : y0, ye = y0 + p->kernel < in->h ? y0 + p->kernel : in->h;
    for (ox = 0; ox < out->w; ++ox) {
      const int32_t x0 = ox * p->stride - p->pad_left;
      const int32_t xs = x0 < 0 ? 0 : x0, xe = x0 + p->kernel < in->w ? x0 + p->kernel : in->w;
      for (c = 0; c < in->c; ++c) {
        int32_t acc = is_max ? -128 : 0;
        for (y = ys; y < ye; ++y)
          for (x = xs; x < xe; ++x) {
            const int32_t v = input[((int64_t)y * in->w + x) * in->c + c];
            if (!is_max)
              acc += v;
            else if (v > acc)
              acc = v;
          }
        if (!is_max) acc = rounded_mean(acc, (ye - ys) * (xe - xs));
        output[((int64_t)oy * out->w + ox) * out->c + c] = (int8_t)clamp_s32(acc, p->act_min, p->act_max);
      }
    }
  }
  return QP_STATUS_OK;
}

qp_status_t qp_pool_max_s8(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                           int8_t *output) {
  return pool_s8(p, in, input, out, output, 1);
}

qp_status_t qp_pool_avg_s8(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                           int8_t *output) {
  return pool_s8(p, in, input, out, output, 0);
}

qp_status_t qp_pool_global_avg_s8(int32_t act_min, int32_t act_max, const qp_dims_t *in, const int8_t *input, int8_t *output) {
  int32_t c, i;
  if (!in || !input || !output || in->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || act_min > act_max ||
      (int64_t)in->h * in->w > 16777215 /* the int32 sum cannot overflow below 2^24 elements */)
    return QP_STATUS_BAD_ARGUMENT;
  for (c = 0; c < in->c; ++c) {
    int32_t sum = 0;
    for (i = 0; i < in->h * in->w; ++i) sum += input[(int64_t)i * in->c + c];
    output[c] = (int8_t)clamp_s32(rounded_mean(sum, in->h * in->w), act_min, act_max);
  }
  return QP_STATUS_OK;
}
