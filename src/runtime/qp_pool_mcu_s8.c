/* Max, average and global average pooling and MEAN for 32-bit MCUs, bit-exact to qp_pool_max_s8,
 * qp_pool_avg_s8, qp_pool_global_avg_s8 and qp_mean_s8 (see qp_runtime_mcu.h).
 *
 * What differs from the reference kernels (which walk one channel at a time, recomputing each element's NHWC
 * index): channels are innermost, 4 at a time, windows walked with pointer steps. Where the input is 4-byte
 * aligned at every pixel (aligned base, C a multiple of 4) the 4 channels come as one 32-bit word, turned into
 * offset binary (u = x + 128, an XOR with 0x80808080) and summed as two words of two 16-bit lanes (even and odd
 * bytes): 7 instructions per 4 values, no sign extension (lx106 has no signed byte load). A 16-bit lane holds
 * 257 values of at most 255, so the lanes are moved into int32 sums every 257 positions; the channel's sum is
 * then sum(u) - 128 * count, the reference's int32 sum exactly. Other layouts take the same loops over bytes.
 *
 * The rounded mean (sum +- count/2) / count, half away from zero, is floor(n / d) for n = |sum| + d/2 with the
 * sign put back. Per window size d (constant per output pixel) the kernel takes m = ceil(2^24 / d),
 * e = m * d - 2^24 in [0, d), and uses floor(n * m / 2^24) when n * m fits 32 bits and N * e < 2^24 for the
 * largest reachable n, N = 128 * d + d/2; else it divides. Proof: write n = q d + r, 0 <= r < d; then
 * n m / 2^24 = n / d + n e / (d 2^24) = q + (r + n e / 2^24) / d, and r + n e / 2^24 < (d - 1) + 1 = d, so the
 * floor is q. Holds for every d <= 361 (e < d), and for every power of two (e = 0); the reachable sum range
 * is also checked exhaustively for d <= 400 (tests/test_runtime_pool_mcu.cpp). */
#include "qp_runtime_mcu.h"

/* 32-bit word loads of 4 channels: GCC-compatible compilers only (an aliasing-safe word type; lane order from
 * the byte order); elsewhere the byte loops run. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && !defined(QP_POOL_NO_WORDS)
#define QP_POOL_WORDS 1
typedef uint32_t qp_pool_word_t __attribute__((may_alias, aligned(4)));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define QP_POOL_LANE(k) (3 - (k))
#else
#define QP_POOL_LANE(k) (k)
#endif
#else
#define QP_POOL_WORDS 0
#endif

/* ---- rounded mean without a division ---- */

typedef struct {
  uint32_t d, half, m; /* divisor, d / 2, ceil(2^24 / d) */
  int exact;           /* 1: floor(n * m / 2^24) = floor(n / d) for every reachable n (see the top) */
} qp_pool_div_t;

static void div_init(qp_pool_div_t *q, uint32_t d) {
  const uint32_t n_max = 128u * d + d / 2u; /* only used for d < 2^24: no overflow */
  uint32_t e;
  q->d = d;
  q->half = d / 2u;
  q->m = 0xFFFFFFu / d + 1u; /* ceil(2^24 / d) */
  e = q->m * d - 0x1000000u; /* < d; m * d < 2^24 + d: no overflow */
  q->exact = d < 0x1000000u && n_max <= 0xFFFFFFFFu / q->m && (e == 0u || n_max <= 0xFFFFFFu / e);
}

/* The reference's rounded_mean(sum, d) for |sum| <= 128 * d. */
static int32_t div_round(const qp_pool_div_t *q, int32_t sum) {
  const uint32_t n = (sum < 0 ? 0u - (uint32_t)sum : (uint32_t)sum) + q->half;
  const uint32_t r = q->exact ? (n * q->m) >> 24 : n / q->d;
  return sum < 0 ? -(int32_t)r : (int32_t)r;
}

int32_t qp_pool_rounded_mean_mcu_s32(int32_t sum, int32_t count) {
  qp_pool_div_t q;
  if (count < 1 || count > 16777215 || sum < -128 * count || sum > 128 * count) return 0;
  div_init(&q, (uint32_t)count);
  return div_round(&q, sum);
}

static int32_t clamp_s32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- sums of 4 channels over a window ---- */

/* Sums of the 4 channels at p over rows x cols positions (row_step, col_step bytes apart) into sum[0..3] (set,
 * not added). Word loads: p and both steps multiples of 4. */
static void sum4(const int8_t *p, int32_t rows, int32_t cols, int32_t row_step, int32_t col_step, int32_t *sum) {
  int32_t y, x;
#if QP_POOL_WORDS
  if ((((uintptr_t)p | (uint32_t)row_step | (uint32_t)col_step) & 3u) == 0u) {
    const uint32_t count = (uint32_t)rows * (uint32_t)cols;
    uint32_t acc[4] = {0u, 0u, 0u, 0u}, even = 0u, odd = 0u;
    int32_t held = 0; /* positions in the 16-bit lanes, at most 257 */
    const uint32_t mask = 0x00FF00FFu;
    if ((int64_t)rows * cols <= 257) { /* a small window: the lanes never fill, no bookkeeping */
      for (y = 0; y < rows; ++y, p += row_step) {
        const int8_t *q = p;
        for (x = cols; x > 0; --x, q += col_step) {
          const uint32_t w = *(const qp_pool_word_t *)(const void *)q ^ 0x80808080u;
          even += w & mask;
          odd += (w >> 8) & mask;
        }
      }
      rows = 0; /* skips the general loop below */
    }
    for (y = 0; y < rows; ++y, p += row_step) {
      const int8_t *q = p;
      x = cols;
      while (x > 0) {
        int32_t n = x < 257 - held ? x : 257 - held;
        x -= n;
        held += n;
        for (; n > 0; --n, q += col_step) {
          const uint32_t w = *(const qp_pool_word_t *)(const void *)q ^ 0x80808080u;
          even += w & mask;
          odd += (w >> 8) & mask;
        }
        if (held == 257) {
          acc[0] += even & 0xFFFFu, acc[2] += even >> 16, acc[1] += odd & 0xFFFFu, acc[3] += odd >> 16;
          even = odd = 0u;
          held = 0;
        }
      }
    }
    acc[0] += even & 0xFFFFu, acc[2] += even >> 16, acc[1] += odd & 0xFFFFu, acc[3] += odd >> 16;
    {
      const uint32_t bias = 128u * count; /* sum(x) = sum(u) - 128 * count */
      sum[QP_POOL_LANE(0)] = (int32_t)(acc[0] - bias), sum[QP_POOL_LANE(1)] = (int32_t)(acc[1] - bias);
      sum[QP_POOL_LANE(2)] = (int32_t)(acc[2] - bias), sum[QP_POOL_LANE(3)] = (int32_t)(acc[3] - bias);
    }
    return;
  }
#endif
  {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (y = 0; y < rows; ++y, p += row_step) {
      const int8_t *q = p;
      for (x = 0; x < cols; ++x, q += col_step) s0 += q[0], s1 += q[1], s2 += q[2], s3 += q[3];
    }
    sum[0] = s0, sum[1] = s1, sum[2] = s2, sum[3] = s3;
  }
}

/* One channel's sum (the channels left over after the blocks of 4). */
static int32_t sum1(const int8_t *p, int32_t rows, int32_t cols, int32_t row_step, int32_t col_step) {
  int32_t y, x, s = 0;
  for (y = 0; y < rows; ++y, p += row_step) {
    const int8_t *q = p;
    for (x = 0; x < cols; ++x, q += col_step) s += *q;
  }
  return s;
}

/* ---- windowed pooling ---- */

/* qp_pool_s8.c's argument checks (the same status for the same arguments). */
static qp_status_t check(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                         const int8_t *output) {
  if (!p || !in || !input || !out || !output) return QP_STATUS_BAD_ARGUMENT;
  if (p->kernel < 1 || p->stride < 1 || in->n != 1 || out->n != 1 || in->c < 1 || out->c != in->c || p->act_min > p->act_max ||
      p->act_min < -128 || p->act_max > 127 || in->h < 1 || in->w < 1 || out->h < 1 || out->w < 1)
    return QP_STATUS_BAD_ARGUMENT;
  if (p->pad_top < 0 || p->pad_left < 0 || p->pad_top >= p->kernel || p->pad_left >= p->kernel ||
      (int64_t)(out->h - 1) * p->stride - p->pad_top >= in->h || (int64_t)(out->w - 1) * p->stride - p->pad_left >= in->w)
    return QP_STATUS_BAD_ARGUMENT;
  return QP_STATUS_OK;
}

qp_status_t qp_pool_avg_mcu_s8(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                               int8_t *output) {
  int32_t oy, ox, c;
  const qp_status_t st = check(p, in, input, out, output);
  qp_pool_div_t q;
  if (st != QP_STATUS_OK) return st;
  div_init(&q, 1u); /* replaced at the first window */
  q.d = 0u;
  {
    const int32_t C = in->c, row_step = in->w * in->c, lo = p->act_min, hi = p->act_max;
    int8_t *o = output;
    for (oy = 0; oy < out->h; ++oy) {
      const int32_t y0 = oy * p->stride - p->pad_top;
      const int32_t ys = y0 < 0 ? 0 : y0, ye = y0 + p->kernel < in->h ? y0 + p->kernel : in->h;
      for (ox = 0; ox < out->w; ++ox, o += C) {
        const int32_t x0 = ox * p->stride - p->pad_left;
        const int32_t xs = x0 < 0 ? 0 : x0, xe = x0 + p->kernel < in->w ? x0 + p->kernel : in->w;
        const int32_t rows = ye - ys, cols = xe - xs;
        const int8_t *w = input + ((int64_t)ys * in->w + xs) * C;
        if ((uint32_t)(rows * cols) != q.d) div_init(&q, (uint32_t)(rows * cols)); /* new window size: border */
        for (c = 0; c + 4 <= C; c += 4) {
          int32_t s[4];
          sum4(w + c, rows, cols, row_step, C, s);
          o[c] = (int8_t)clamp_s32(div_round(&q, s[0]), lo, hi);
          o[c + 1] = (int8_t)clamp_s32(div_round(&q, s[1]), lo, hi);
          o[c + 2] = (int8_t)clamp_s32(div_round(&q, s[2]), lo, hi);
          o[c + 3] = (int8_t)clamp_s32(div_round(&q, s[3]), lo, hi);
        }
        for (; c < C; ++c) o[c] = (int8_t)clamp_s32(div_round(&q, sum1(w + c, rows, cols, row_step, C)), lo, hi);
      }
    }
  }
  return QP_STATUS_OK;
}

qp_status_t qp_pool_max_mcu_s8(const qp_pool_params_t *p, const qp_dims_t *in, const int8_t *input, const qp_dims_t *out,
                               int8_t *output) {
  int32_t oy, ox, c, y, x;
  const qp_status_t st = check(p, in, input, out, output);
  if (st != QP_STATUS_OK) return st;
  {
    const int32_t C = in->c, row_step = in->w * in->c, lo = p->act_min, hi = p->act_max;
    int8_t *o = output;
    for (oy = 0; oy < out->h; ++oy) {
      const int32_t y0 = oy * p->stride - p->pad_top;
      const int32_t ys = y0 < 0 ? 0 : y0, ye = y0 + p->kernel < in->h ? y0 + p->kernel : in->h;
      for (ox = 0; ox < out->w; ++ox, o += C) {
        const int32_t x0 = ox * p->stride - p->pad_left;
        const int32_t xs = x0 < 0 ? 0 : x0, xe = x0 + p->kernel < in->w ? x0 + p->kernel : in->w;
        const int8_t *w = input + ((int64_t)ys * in->w + xs) * C;
        for (c = 0; c + 4 <= C; c += 4) {
          int32_t m0 = -128, m1 = -128, m2 = -128, m3 = -128;
          const int8_t *r = w + c;
          for (y = ys; y < ye; ++y, r += row_step) {
            const int8_t *v = r;
            for (x = xs; x < xe; ++x, v += C) {
              if (v[0] > m0) m0 = v[0];
              if (v[1] > m1) m1 = v[1];
              if (v[2] > m2) m2 = v[2];
              if (v[3] > m3) m3 = v[3];
            }
          }
          o[c] = (int8_t)clamp_s32(m0, lo, hi), o[c + 1] = (int8_t)clamp_s32(m1, lo, hi);
          o[c + 2] = (int8_t)clamp_s32(m2, lo, hi), o[c + 3] = (int8_t)clamp_s32(m3, lo, hi);
        }
        for (; c < C; ++c) {
          int32_t m = -128;
          const int8_t *r = w + c;
          for (y = ys; y < ye; ++y, r += row_step) {
            const int8_t *v = r;
            for (x = xs; x < xe; ++x, v += C)
              if (*v > m) m = *v;
          }
          o[c] = (int8_t)clamp_s32(m, lo, hi);
        }
      }
    }
  }
  return QP_STATUS_OK;
}

/* ---- whole-map reductions ---- */

/* The int32 sum of each channel over all H*W positions (a run of H*W pixels C bytes apart) into sums[0..C). */
static void channel_sums(const qp_dims_t *in, const int8_t *input, int32_t *sums, int32_t c_begin, int32_t c_end) {
  const int32_t n = in->h * in->w, C = in->c;
  int32_t c = c_begin;
  for (; c + 4 <= c_end; c += 4) sum4(input + c, 1, n, 0, C, sums + (c - c_begin));
  for (; c < c_end; ++c) sums[c - c_begin] = sum1(input + c, 1, n, 0, C);
}

/* Channels handled per batch of sums (a small stack array). */
#define QP_POOL_BATCH 16

qp_status_t qp_pool_global_avg_mcu_s8(int32_t act_min, int32_t act_max, const qp_dims_t *in, const int8_t *input,
                                      int8_t *output) {
  int32_t c0, c;
  qp_pool_div_t q;
  if (!in || !input || !output || in->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || act_min > act_max ||
      (int64_t)in->h * in->w > 16777215)
    return QP_STATUS_BAD_ARGUMENT;
  div_init(&q, (uint32_t)(in->h * in->w));
  for (c0 = 0; c0 < in->c; c0 += QP_POOL_BATCH) {
    int32_t s[QP_POOL_BATCH];
    const int32_t c1 = c0 + QP_POOL_BATCH < in->c ? c0 + QP_POOL_BATCH : in->c;
    channel_sums(in, input, s, c0, c1);
    for (c = c0; c < c1; ++c) output[c] = (int8_t)clamp_s32(div_round(&q, s[c - c0]), act_min, act_max);
  }
  return QP_STATUS_OK;
}

/* floor(log2(n)) for n >= 1 */
static int32_t floor_log2(int64_t n) {
  int32_t b = 0;
  while (n > 1) {
    n >>= 1;
    ++b;
  }
  return b;
}

qp_status_t qp_mean_mcu_s8(const qp_mean_params_t *p, const qp_dims_t *in, const int8_t *input, int8_t *output) {
  int32_t c0, c, s, mult, shift;
  int64_t n;
  if (!p || !in || !input || !output || in->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 || p->input_offset < -127 ||
      p->input_offset > 128 || p->output_offset < -128 || p->output_offset > 127 || p->multiplier < 0 ||
      (int64_t)in->h * in->w > 16777215)
    return QP_STATUS_BAD_ARGUMENT;
  if (p->shift < -31 || p->shift > 30) return QP_STATUS_BAD_SHIFT;
  /* qp_mean_s8's folding of 1/n into the multiplier, once per call */
  n = (int64_t)in->h * in->w;
  s = floor_log2(n);
  if (s > 32) s = 32;
  if (s > 31 + p->shift) s = 31 + p->shift;
  mult = (int32_t)(((int64_t)p->multiplier * ((int64_t)1 << s)) / n);
  shift = p->shift - s;
  for (c0 = 0; c0 < in->c; c0 += QP_POOL_BATCH) {
    int32_t sums[QP_POOL_BATCH];
    const int32_t c1 = c0 + QP_POOL_BATCH < in->c ? c0 + QP_POOL_BATCH : in->c;
    channel_sums(in, input, sums, c0, c1);
    for (c = c0; c < c1; ++c) {
      int32_t v = (int32_t)((int64_t)sums[c - c0] + (int64_t)p->input_offset * n);
      v = (int32_t)((uint32_t)qp_requant_apply_dr_s32(v, mult, shift) + (uint32_t)p->output_offset);
      output[c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
  }
  return QP_STATUS_OK;
}
