/* Depthwise Conv2D (channel multiplier 1) for 32-bit MCUs, bit-exact to qp_dwconv_run_s8. See
 * qp_runtime_mcu.h for the packed layout.
 *
 * The input offset is folded into the packed bias (bias + input_offset * sum of the channel's taps), so
 * a tap inside the image adds w * x and a tap outside it adds w * zero_point (= -w * input_offset): the
 * two cancel exactly as the reference's skipped tap. Per output row and block of 4 channels the taps of
 * rows outside the image are summed once (a row correction); interior pixels then read their KH x KW
 * window in place, two pixels at a time (8 accumulators, each weight loaded once for both; one on Xtensa), and the few
 * pixels at the left/right border take a checked loop. Accumulation is modulo 2^32 (the folded bias may
 * leave int32 on its own; the total is the reference accumulator, which the quantizer proves fits).
 * Requantization is qp_requant_apply_dr_s32's arithmetic inlined, per channel over a run of pixels. */
#include "qp_runtime_mcu.h"

#if defined(__GNUC__) && !defined(__clang__)
#define QP_DW_NOINLINE __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QP_DW_NOINLINE __attribute__((noinline))
#else
#define QP_DW_NOINLINE
#endif

/* Two pixels per register block (8 accumulators) where the core has the registers: not on Xtensa lx106,
 * whose 16 address registers would spill them. */
#ifndef QP_DW_PAIRS
#if defined(__XTENSA__)
#define QP_DW_PAIRS 0
#else
#define QP_DW_PAIRS 1
#endif
#endif

/* Output pixels whose accumulators are kept before requantizing them (4 channels each, on the stack). */
#define QP_DW_CHUNK 8

qp_status_t qp_dwconv_pack_mcu_s8(int32_t input_offset, const qp_dims_t *f, const int8_t *filter, const int32_t *bias,
                                  int16_t *packed_filter, int32_t *packed_bias) {
  int32_t c, t, taps, cp;
  if (!f || !filter || !packed_filter || !packed_bias || f->n != 1 || f->h < 1 || f->w < 1 || f->c < 1 || input_offset < -127 ||
      input_offset > 128)
    return QP_STATUS_BAD_ARGUMENT;
  taps = f->h * f->w;
  cp = QP_DWCONV_MCU_PACKED_CHANNELS(f->c);
  for (c = 0; c < cp; ++c) {
    uint32_t sum = 0; /* modulo 2^32: the kernel adds it back the same way */
    for (t = 0; t < taps; ++t) {
      const int8_t v = c < f->c ? filter[t * f->c + c] : 0;
      packed_filter[((c / 4) * taps + t) * 4 + c % 4] = v;
      sum += (uint32_t)(int32_t)v;
    }
    packed_bias[c] = c < f->c ? (int32_t)((bias ? (uint32_t)bias[c] : 0u) + sum * (uint32_t)input_offset) : 0;
  }
  return QP_STATUS_OK;
}

/* Two output pixels x 4 channels over `rows` x kw taps read in place: x is the first pixel's window
 * origin at the block's first channel, the second pixel starts pixel_step bytes later; w the block's
 * packed taps from the first row read. acc[0..3] receives pixel 0's sums of products, acc[4..7] pixel 1's
 * (each below 2^14 * taps in magnitude: no overflow; the caller adds the start values modulo 2^32). */
QP_DW_NOINLINE static void dw_2x4(const int8_t *x, int32_t pixel_step, int32_t row_step, int32_t channels, int32_t rows,
                                  int32_t kw, const int16_t *w, int32_t *acc) {
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  int32_t r, k;
  for (r = 0; r < rows; ++r, x += row_step) {
    const int8_t *a = x, *b = x + pixel_step;
    for (k = 0; k < kw; ++k, a += channels, b += channels, w += 4) {
      const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
      s0 += a[0] * w0, s1 += a[1] * w1, s2 += a[2] * w2, s3 += a[3] * w3;
      t0 += b[0] * w0, t1 += b[1] * w1, t2 += b[2] * w2, t3 += b[3] * w3;
    }
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3, acc[4] = t0, acc[5] = t1, acc[6] = t2, acc[7] = t3;
}

/* One output pixel x 4 channels, as dw_2x4: its sums into acc[0..3]. */
QP_DW_NOINLINE static void dw_1x4(const int8_t *x, int32_t row_step, int32_t channels, int32_t rows, int32_t kw,
                                  const int16_t *w, int32_t *acc) {
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int32_t r, k;
  for (r = 0; r < rows; ++r, x += row_step) {
    const int8_t *a = x;
    for (k = 0; k < kw; ++k, a += channels, w += 4)
      s0 += a[0] * w[0], s1 += a[1] * w[1], s2 += a[2] * w[2], s3 += a[3] * w[3];
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

/* Requantizes acc[4 * pixel + channel] (pixels < npx, channels < n) into out[pixel * pixel_stride +
 * channel]: qp_requant_apply_dr_s32 inlined (srdhm as floor((x * m + 2^30) / 2^31), its nudge-and-truncate
 * form's equal), + output offset (int32 wrap-around), clamp. */
static void requant_block(const int32_t *acc, int32_t npx, int32_t n, const int32_t *multiplier, const int32_t *shift,
                          const qp_conv_params_t *p, int8_t *out, int32_t pixel_stride) {
  /* Local copies: the int8 stores below could alias *p, so the compiler would reload it per output. */
  const uint32_t offset = (uint32_t)p->output_offset;
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t c, i;
  for (c = 0; c < n; ++c) {
    const int32_t m = multiplier[c];
    const int32_t left = shift[c] > 0 ? shift[c] : 0;
    const int32_t right = shift[c] > 0 ? 0 : -shift[c];
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t half = mask >> 1;
    for (i = 0; i < npx; ++i) {
      const int32_t x = (int32_t)((uint32_t)acc[4 * i + c] << left);
      int32_t h, v;
      if (x == INT32_MIN && m == INT32_MIN)
        h = INT32_MAX; /* srdhm's one saturating case */
      else
        h = (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
      v = (int32_t)((uint32_t)((h >> right) + ((h & mask) > half + (h < 0) ? 1 : 0)) + offset);
      v = v < lo ? lo : (v > hi ? hi : v);
      out[i * pixel_stride + c] = (int8_t)v;
    }
  }
}

/* Checked window of one pixel for channels c0 .. c0 + n - 1 (n <= 4) of rows [ky0, ky1): a tap outside
 * the image reads the zero point. acc[0..n) in and out. */
static void dw_checked(const qp_conv_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *f,
                       const int16_t *wblock, int32_t iy0, int32_t ix0, int32_t ky0, int32_t ky1, int32_t c0, int32_t n,
                       int32_t *acc) {
  const int32_t zp = -p->input_offset;
  int32_t ky, kx, j;
  for (ky = ky0; ky < ky1; ++ky)
    for (kx = 0; kx < f->w; ++kx) {
      const int32_t ix = ix0 + kx;
      const int16_t *w = wblock + (ky * f->w + kx) * 4;
      if (ix < 0 || ix >= in->w)
        for (j = 0; j < n; ++j) acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)(w[j] * zp));
      else {
        const int8_t *x = input + ((iy0 + ky) * in->w + ix) * in->c + c0;
        for (j = 0; j < n; ++j) acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)(w[j] * x[j]));
      }
    }
}

qp_status_t qp_dwconv_run_mcu_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                                 const int8_t *input, const qp_dims_t *f, const int16_t *packed_filter,
                                 const int32_t *packed_bias, const qp_dims_t *out, int8_t *output) {
  int32_t oy, ox, c0, i, j, taps, ox_lo, ox_hi;
  int32_t acc[4 * QP_DW_CHUNK];
  if (!p || !multiplier || !shift || !in || !input || !f || !packed_filter || !packed_bias || !out || !output)
    return QP_STATUS_BAD_ARGUMENT;
  if (in->n != 1 || out->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || f->n != 1 || f->h < 1 || f->w < 1 || f->c != in->c ||
      out->c != in->c || out->h < 1 || out->w < 1 || p->stride < 1 || p->pad_top < 0 || p->pad_left < 0 ||
      p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127 || p->input_offset < -127 || p->input_offset > 128)
    return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < in->c; ++i)
    if (shift[i] < -31 || shift[i] > 30) return QP_STATUS_BAD_SHIFT;
  taps = f->h * f->w;
  /* Output columns whose window lies inside the image: ox * stride - pad_left >= 0 and + KW <= W. */
  ox_lo = (p->pad_left + p->stride - 1) / p->stride;
  ox_hi = in->w - f->w + p->pad_left < 0 ? 0 : (in->w - f->w + p->pad_left) / p->stride + 1;
  if (ox_hi > out->w) ox_hi = out->w;
  if (ox_lo > ox_hi) ox_lo = ox_hi;
  for (oy = 0; oy < out->h; ++oy) {
    const int32_t iy0 = oy * p->stride - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int32_t ky1 = iy0 + f->h > in->h ? (in->h - iy0 > 0 ? in->h - iy0 : 0) : f->h;
    const int32_t rows = ky1 > ky0 ? ky1 - ky0 : 0;
    int8_t *const orow = output + oy * out->w * out->c;
    for (c0 = 0; c0 < in->c; c0 += 4) {
      const int32_t n = in->c - c0 < 4 ? in->c - c0 : 4;
      const int16_t *const wblock = packed_filter + (c0 / 4) * taps * 4;
      int32_t start[4];
      int32_t ky, kx;
      /* The packed bias plus the taps of rows outside the image (they read the zero point). */
      for (j = 0; j < 4; ++j) start[j] = j < n ? packed_bias[c0 + j] : 0;
      for (ky = 0; ky < f->h; ++ky) {
        if (ky >= ky0 && ky < ky1) continue;
        for (kx = 0; kx < f->w; ++kx)
          for (j = 0; j < n; ++j)
            start[j] = (int32_t)((uint32_t)start[j] - (uint32_t)(wblock[(ky * f->w + kx) * 4 + j] * p->input_offset));
      }
      ox = 0;
      while (ox < out->w) {
        /* A run of up to QP_DW_CHUNK pixels of one kind: interior (4 channels, window inside the image)
         * or checked (the border columns; every pixel of a block of fewer than 4 channels). */
        const int32_t fast = n == 4 && rows > 0;
        const int32_t interior = fast && ox >= ox_lo && ox < ox_hi;
        int32_t end = interior ? ox_hi : (fast && ox < ox_lo ? ox_lo : out->w);
        if (end - ox > QP_DW_CHUNK) end = ox + QP_DW_CHUNK;
        if (interior) {
          const int32_t row_step = in->w * in->c, pixel_step = p->stride * in->c;
          const int8_t *x = input + ((iy0 + ky0) * in->w + ox * p->stride - p->pad_left) * in->c + c0;
          const int16_t *w = wblock + ky0 * f->w * 4;
          for (i = 0; QP_DW_PAIRS && i + 2 <= end - ox; i += 2, x += 2 * pixel_step)
            dw_2x4(x, pixel_step, row_step, in->c, rows, f->w, w, acc + 4 * i);
          for (; i < end - ox; ++i, x += pixel_step) dw_1x4(x, row_step, in->c, rows, f->w, w, acc + 4 * i);
          for (i = 0; i < 4 * (end - ox); ++i) acc[i] = (int32_t)((uint32_t)acc[i] + (uint32_t)start[i & 3]);
        } else {
          for (i = 0; i < end - ox; ++i) {
            for (j = 0; j < 4; ++j) acc[4 * i + j] = start[j];
            dw_checked(p, in, input, f, wblock, iy0, (ox + i) * p->stride - p->pad_left, ky0, ky1, c0, n, acc + 4 * i);
          }
        }
        requant_block(acc, end - ox, n, multiplier + c0, shift + c0, p, orow + ox * out->c + c0, out->c);
        ox = end;
      }
    }
  }
  return QP_STATUS_OK;
}
