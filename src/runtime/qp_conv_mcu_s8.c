/* Conv2D for 32-bit MCUs, bit-exact to qp_conv_run_s8. See qp_runtime_mcu.h for the packed layout.
 *
 * Steps per output row: (1) make the KH input rows it reads addressable as KH runs of KW * IC bytes per
 * output pixel (in place, or copied into the scratch with zero-point padding); (2) for every 4 output
 * pixels and every block of 4 output channels, accumulate sum(w * x) in 16 registers, each input and
 * each weight loaded once per block; (3) add the packed bias (bias + input_offset * sum(w)) modulo 2^32
 * and requantize each output with qp_requant_apply_dr_s32, as the reference does. Leftover pixels (OW
 * not a multiple of 4) take a 1-pixel x 4-channel loop; padded output channels are computed and dropped.
 */
#include <string.h>

#include "qp_runtime_mcu.h"

#ifndef QP_MCU_UNROLL
#define QP_MCU_UNROLL 1 /* taps per loop iteration of the 4x4 block: 1, 2 or 4 (rv32: 4 is 1-2% faster, +700 bytes) */
#endif
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's pre-allocation scheduler hoists the loads of an unrolled tap and then spills accumulators
 * (rv32: conv 3.8 -> 3.1 instructions per MAC without it). */
#define QP_MCU_NOINLINE __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define QP_MCU_NOINLINE __attribute__((noinline))
#else
#define QP_MCU_NOINLINE
#endif

/* One tap for 4 pixels x 4 channels: inputs x0..x3[i], weights w[4i .. 4i+3]. */
#define QP_MCU_TAP_4X4(i)                                                       \
  do {                                                                          \
    const int32_t a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];               \
    int32_t b = w[4 * (i)];                                                     \
    s00 += a0 * b, s10 += a1 * b, s20 += a2 * b, s30 += a3 * b;                 \
    b = w[4 * (i) + 1];                                                         \
    s01 += a0 * b, s11 += a1 * b, s21 += a2 * b, s31 += a3 * b;                 \
    b = w[4 * (i) + 2];                                                         \
    s02 += a0 * b, s12 += a1 * b, s22 += a2 * b, s32 += a3 * b;                 \
    b = w[4 * (i) + 3];                                                         \
    s03 += a0 * b, s13 += a1 * b, s23 += a2 * b, s33 += a3 * b;                 \
  } while (0)

/* acc[4p + c] = sum of taps x[pixel p][t] * w[channel c][t] over t < taps; pixel p starts p * step bytes
 * after x. Not inlined: with 16 accumulators, 4 input pointers and the weight pointer the loop needs 27
 * of rv32's 28 allocatable registers, and inlining it into the caller's loops makes the compiler spill. */
QP_MCU_NOINLINE static void dot_4x4(const int8_t *x, int32_t step, int32_t taps, const int8_t *w, int32_t *acc) {
  int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  int32_t s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  const int8_t *x0 = x, *x1 = x + step, *x2 = x1 + step, *x3 = x2 + step;
  const int8_t *const end_unrolled = x0 + (taps & -QP_MCU_UNROLL);
  const int8_t *const end = x0 + taps;
  while (x0 != end_unrolled) {
    QP_MCU_TAP_4X4(0);
#if QP_MCU_UNROLL >= 2
    QP_MCU_TAP_4X4(1);
#endif
#if QP_MCU_UNROLL >= 4
    QP_MCU_TAP_4X4(2);
    QP_MCU_TAP_4X4(3);
#endif
    x0 += QP_MCU_UNROLL, x1 += QP_MCU_UNROLL, x2 += QP_MCU_UNROLL, x3 += QP_MCU_UNROLL, w += 4 * QP_MCU_UNROLL;
  }
  while (x0 != end) {
    QP_MCU_TAP_4X4(0);
    ++x0, ++x1, ++x2, ++x3, w += 4;
  }
  acc[0] = s00, acc[1] = s01, acc[2] = s02, acc[3] = s03, acc[4] = s10, acc[5] = s11, acc[6] = s12, acc[7] = s13;
  acc[8] = s20, acc[9] = s21, acc[10] = s22, acc[11] = s23, acc[12] = s30, acc[13] = s31, acc[14] = s32, acc[15] = s33;
}

/* One tap for 1 pixel x 4 channels. */
#define QP_MCU_TAP_1X4(i)                                                                                    \
  do {                                                                                                       \
    const int32_t a = x0[i];                                                                                 \
    s0 += a * w[4 * (i)], s1 += a * w[4 * (i) + 1], s2 += a * w[4 * (i) + 2], s3 += a * w[4 * (i) + 3]; \
  } while (0)

/* acc[c] = sum of taps x[t] * w[channel c][t] over t < taps. */
QP_MCU_NOINLINE static void dot_1x4(const int8_t *x, int32_t taps, const int8_t *w, int32_t *acc) {
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const int8_t *x0 = x;
  const int8_t *const end_unrolled = x0 + (taps & -4);
  const int8_t *const end = x0 + taps;
  while (x0 != end_unrolled) {
    QP_MCU_TAP_1X4(0);
    QP_MCU_TAP_1X4(1);
    QP_MCU_TAP_1X4(2);
    QP_MCU_TAP_1X4(3);
    x0 += 4, w += 16;
  }
  while (x0 != end) {
    QP_MCU_TAP_1X4(0);
    ++x0, w += 4;
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

/* Requantizes a block of accumulators acc[4 * pixel + channel] (pixels < npx, channels < n <= 4) into
 * out[pixel * pixel_stride + channel]. The arithmetic is qp_requant_apply_dr_s32's, inlined with the
 * per-channel parts hoisted (a call per output costs ~45 instructions on rv32, a sixth of an inference);
 * tests/test_runtime_mcu.cpp checks equality over the whole input range. srdhm as
 * floor((x * m + 2^30) / 2^31), which equals its nudge-and-truncate form; rdbpot unchanged; arithmetic
 * right shifts of negative values, as in qp_requant.c. The packed bias is added modulo 2^32: its folded
 * input offset may leave int32 on its own, the total is the reference accumulator. */
static void store_block(const int32_t *acc, int32_t npx, int32_t n, const int32_t *packed_bias, const int32_t *multiplier,
                        const int32_t *shift, const qp_conv_params_t *p, int8_t *out, int32_t pixel_stride) {
  /* Local copies: the int8 stores below could alias *p, so the compiler would reload it per output. */
  const uint32_t offset = (uint32_t)p->output_offset;
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t c, i;
  for (c = 0; c < n; ++c) {
    const uint32_t bias = (uint32_t)packed_bias[c];
    const int32_t m = multiplier[c];
    const int32_t left = shift[c] > 0 ? shift[c] : 0;
    const int32_t right = shift[c] > 0 ? 0 : -shift[c];
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t half = mask >> 1;
    for (i = 0; i < npx; ++i) {
      const int32_t x = (int32_t)((bias + (uint32_t)acc[4 * i + c]) << left);
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

/* Whether the input rows can be read in place: a 1-row kernel that never reads outside the input. */
static int32_t reads_in_place(const qp_conv_params_t *p, const qp_dims_t *in, const qp_dims_t *f, const qp_dims_t *out) {
  return f->h == 1 && p->pad_top == 0 && p->pad_left == 0 && (out->h - 1) * p->stride + 1 <= in->h &&
         (out->w - 1) * p->stride + f->w <= in->w;
}

static int32_t dims_ok(const qp_conv_params_t *p, const qp_dims_t *in, const qp_dims_t *f, const qp_dims_t *out) {
  return p && in && f && out && in->n == 1 && out->n == 1 && in->h >= 1 && in->w >= 1 && in->c >= 1 && f->n >= 1 &&
         f->h >= 1 && f->w >= 1 && f->c == in->c && out->c == f->n && out->h >= 1 && out->w >= 1 && p->stride >= 1 &&
         p->pad_top >= 0 && p->pad_left >= 0;
}

int32_t qp_conv_scratch_mcu_bytes(const qp_conv_params_t *p, const qp_dims_t *in, const qp_dims_t *f, const qp_dims_t *out) {
  if (!dims_ok(p, in, f, out)) return -1;
  if (reads_in_place(p, in, f, out)) return 0;
  return ((out->w - 1) * p->stride + f->w) * f->h * in->c;
}

qp_status_t qp_conv_pack_mcu_s8(int32_t input_offset, const qp_dims_t *f, const int8_t *filter, const int32_t *bias,
                                int8_t *packed_filter, int32_t *packed_bias) {
  int32_t oc, ky, kx, ic, taps, ocp;
  if (!f || !filter || !packed_filter || !packed_bias || f->n < 1 || f->h < 1 || f->w < 1 || f->c < 1 || input_offset < -127 ||
      input_offset > 128)
    return QP_STATUS_BAD_ARGUMENT;
  taps = f->h * f->w * f->c;
  ocp = QP_CONV_MCU_PACKED_CHANNELS(f->n);
  for (oc = 0; oc < ocp; ++oc) {
    uint32_t sum = 0; /* modulo 2^32: the kernel adds it back the same way */
    int8_t *dst = packed_filter + (oc / 4) * 4 * taps + oc % 4;
    for (kx = 0; kx < f->w; ++kx)
      for (ky = 0; ky < f->h; ++ky)
        for (ic = 0; ic < f->c; ++ic, dst += 4) {
          const int8_t v = oc < f->n ? filter[((oc * f->h + ky) * f->w + kx) * f->c + ic] : 0;
          *dst = v;
          sum += (uint32_t)(int32_t)v;
        }
    packed_bias[oc] = oc < f->n ? (int32_t)((bias ? (uint32_t)bias[oc] : 0u) + sum * (uint32_t)input_offset) : 0;
  }
  return QP_STATUS_OK;
}

/* Copies the input an output row reads into scratch, column-major: scratch[(c * KH + ky) * IC + ic] is
 * input row oy * stride + ky - pad_top, column c - pad_left, channel ic, or the zero point outside. */
static void gather_row(const qp_conv_params_t *p, const qp_dims_t *in, const int8_t *input, int32_t kh, int32_t span, int32_t oy,
                       int8_t *scratch) {
  const int8_t zero_point = (int8_t)-p->input_offset;
  const int32_t ic = in->c;
  int32_t ky, c;
  for (ky = 0; ky < kh; ++ky) {
    const int32_t iy = oy * p->stride + ky - p->pad_top;
    const int8_t *src = input + (iy * in->w - p->pad_left) * ic;
    int8_t *dst = scratch + ky * ic;
    for (c = 0; c < span; ++c, src += ic, dst += kh * ic) {
      const int32_t ix = c - p->pad_left;
      if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
        memset(dst, zero_point, (size_t)ic);
      else
        memcpy(dst, src, (size_t)ic);
    }
  }
}

qp_status_t qp_conv_run_mcu_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                               const int8_t *input, const qp_dims_t *f, const int8_t *packed_filter, const int32_t *packed_bias,
                               const qp_dims_t *out, int8_t *output, int8_t *scratch) {
  int32_t oy, ox, oc, i, taps, span, step, in_place;
  int32_t acc[16];
  if (!dims_ok(p, in, f, out) || !multiplier || !shift || !input || !packed_filter || !packed_bias || !output ||
      p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127)
    return QP_STATUS_BAD_ARGUMENT;
  in_place = reads_in_place(p, in, f, out);
  if (!in_place && !scratch) return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < out->c; ++i)
    if (shift[i] < -31 || shift[i] > 30) return QP_STATUS_BAD_SHIFT;
  taps = f->h * f->w * in->c;
  span = (out->w - 1) * p->stride + f->w; /* input columns one output row reads */
  step = p->stride * f->h * in->c;         /* bytes between neighbouring output pixels' taps */
  for (oy = 0; oy < out->h; ++oy) {
    const int8_t *rows = in_place ? input + oy * p->stride * in->w * in->c : scratch;
    int8_t *const orow = output + oy * out->w * out->c;
    if (!in_place) gather_row(p, in, input, f->h, span, oy, scratch);
    for (ox = 0; ox + 4 <= out->w; ox += 4)
      for (oc = 0; oc < out->c; oc += 4) {
        const int32_t n = out->c - oc < 4 ? out->c - oc : 4;
        int8_t *const o = orow + ox * out->c + oc;
        dot_4x4(rows + ox * step, step, taps, packed_filter + oc * taps, acc);
        store_block(acc, 4, n, packed_bias + oc, multiplier + oc, shift + oc, p, o, out->c);
      }
    for (; ox < out->w; ++ox)
      for (oc = 0; oc < out->c; oc += 4) {
        const int32_t n = out->c - oc < 4 ? out->c - oc : 4;
        dot_1x4(rows + ox * step, taps, packed_filter + oc * taps, acc);
        store_block(acc, 1, n, packed_bias + oc, multiplier + oc, shift + oc, p, orow + ox * out->c + oc, out->c);
      }
  }
  return QP_STATUS_OK;
}
