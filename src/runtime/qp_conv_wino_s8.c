/* 3x3 stride-1 Conv2D by integer-exact Winograd F(2x2, 3x3), bit-exact to qp_conv_run_s8. See
 * qp_runtime_mcu.h for the API and the packed layout.
 *
 * Per 2x2 output tile and input channel, the 4x4 input patch d (raw int8, out-of-image positions hold
 * the input zero point) becomes V = B^T d B (adds only, |V| <= 4 * 128), the 3x3 filter g was turned at
 * pack time into U = (2G) g (2G)^T = 4 G g G^T (an integer matrix, |U| <= 9 * 127), and the 16 products
 * U * V are summed over the input channels in int32. The output transform A^T M A (adds only) then gives
 * exactly 4 * sum(w * d_raw) for each of the tile's 4 outputs: F(2x2, 3x3) computes the correlation
 * exactly in rational arithmetic and the factor 4 clears its halves. Dividing by 4 (an exact arithmetic
 * shift) and adding the packed bias (bias + input_offset * sum(w), as qp_conv_pack_mcu_s8 folds it)
 * gives the reference accumulator; a padded tap has d_raw = -input_offset and contributes 0 there.
 *
 * Range: for IC <= QP_CONV_WINO_MAX_CHANNELS (2048), every product sum is below 2048 * 1143 * 512 <
 * 2^31 and 4 * sum(w * d_raw) below 4 * 9 * 127 * 128 * 2048 < 2^31; the output transform adds modulo
 * 2^32, which is exact because its result fits int32.
 *
 * Work per tile block (one tile row, 4 tiles side by side): gather the 4 x 10 input pixels into a
 * channel-planar patch, transform it into V[ic][16][4 tiles], then for every 4 output channels compute
 * M[16][4 tiles][4 channels] with a 4x4 register block (16 multiplies per 4 + 4 loads), transform,
 * requantize and store the outputs that lie inside the image.
 */
#include <string.h>

#include "qp_runtime_mcu.h"

#if defined(__GNUC__) && !defined(__clang__)
#define QP_WINO_NOINLINE __attribute__((noinline, optimize("no-schedule-insns")))
#define QP_WINO_INLINE __inline__ __attribute__((always_inline))
#elif defined(__GNUC__)
#define QP_WINO_NOINLINE __attribute__((noinline))
#define QP_WINO_INLINE __inline__ __attribute__((always_inline))
#else
#define QP_WINO_NOINLINE
#define QP_WINO_INLINE
#endif

#define QP_WINO_TILES 4       /* tiles per block */
#define QP_WINO_COLS 10       /* input columns a block reads: 2 * QP_WINO_TILES + 2 */
#define QP_WINO_PATCH 40      /* 4 rows x QP_WINO_COLS bytes per input channel */
#define QP_WINO_M_BYTES 1024  /* int32 M[16][4][4] */

int qp_conv_wino_supported(const qp_conv_params_t *p, const qp_dims_t *f, const qp_dims_t *in) {
  return p && f && in && f->h == 3 && f->w == 3 && p->stride == 1 && f->c == in->c && in->c >= 1 &&
         in->c <= QP_CONV_WINO_MAX_CHANNELS && f->n >= 1 && p->pad_top >= 0 && p->pad_left >= 0;
}

int32_t qp_conv_packed_wino_bytes(const qp_dims_t *f) {
  if (!f || f->n < 1 || f->h != 3 || f->w != 3 || f->c < 1 || f->c > QP_CONV_WINO_MAX_CHANNELS) return -1;
  return QP_CONV_WINO_PACKED_COUNT(f->n, f->c) * 2;
}

static int32_t dims_ok(const qp_conv_params_t *p, const qp_dims_t *in, const qp_dims_t *f, const qp_dims_t *out) {
  return qp_conv_wino_supported(p, f, in) && out && in->n == 1 && out->n == 1 && in->h >= 1 && in->w >= 1 &&
         out->c == f->n && out->h >= 1 && out->w >= 1;
}

int32_t qp_conv_scratch_wino_bytes(const qp_conv_params_t *p, const qp_dims_t *in, const qp_dims_t *f, const qp_dims_t *out) {
  if (!dims_ok(p, in, f, out)) return -1;
  /* M, then V (int16 [IC][16][4]), then the patch (int8 [IC][4][10]), plus up to 3 bytes to align M. */
  return 3 + QP_WINO_M_BYTES + in->c * (16 * QP_WINO_TILES * 2 + QP_WINO_PATCH);
}

qp_status_t qp_conv_pack_wino_s8(int32_t input_offset, const qp_dims_t *f, const int8_t *filter, const int32_t *bias,
                                 int16_t *packed_filter, int32_t *packed_bias) {
  /* 2G: the rows of G (F(2x2, 3x3)) times 2. */
  static const int8_t g2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  int32_t oc, ic, a, b, k, l, ocp;
  if (!f || !filter || !packed_filter || !packed_bias || qp_conv_packed_wino_bytes(f) < 0 || input_offset < -127 ||
      input_offset > 128)
    return QP_STATUS_BAD_ARGUMENT;
  ocp = QP_CONV_MCU_PACKED_CHANNELS(f->n);
  for (oc = 0; oc < ocp; ++oc) {
    uint32_t sum = 0; /* modulo 2^32, as in qp_conv_pack_mcu_s8 */
    for (ic = 0; ic < f->c; ++ic) {
      int32_t g[3][3];
      int16_t *dst = packed_filter + ((oc / 4) * f->c + ic) * 64 + oc % 4;
      for (k = 0; k < 3; ++k)
        for (l = 0; l < 3; ++l) {
          g[k][l] = oc < f->n ? filter[((oc * 3 + k) * 3 + l) * f->c + ic] : 0;
          sum += (uint32_t)g[k][l];
        }
      for (a = 0; a < 4; ++a)
        for (b = 0; b < 4; ++b) {
          int32_t u = 0;
          for (k = 0; k < 3; ++k)
            for (l = 0; l < 3; ++l) u += g2[a][k] * g[k][l] * g2[b][l];
          dst[(a * 4 + b) * 4] = (int16_t)u;
        }
    }
    packed_bias[oc] = oc < f->n ? (int32_t)((bias ? (uint32_t)bias[oc] : 0u) + sum * (uint32_t)input_offset) : 0;
  }
  return QP_STATUS_OK;
}

/* One input channel of the 4 tiles x 4 channels block: V at x[64 * (i) + 0..3], U at w[64 * (i) + 0..3]. */
#define QP_WINO_STEP(i)                                                                               \
  do {                                                                                                \
    const int32_t a0 = x[64 * (i)], a1 = x[64 * (i) + 1], a2 = x[64 * (i) + 2], a3 = x[64 * (i) + 3]; \
    int32_t b = w[64 * (i)];                                                                          \
    s00 += a0 * b, s10 += a1 * b, s20 += a2 * b, s30 += a3 * b;                                       \
    b = w[64 * (i) + 1];                                                                              \
    s01 += a0 * b, s11 += a1 * b, s21 += a2 * b, s31 += a3 * b;                                       \
    b = w[64 * (i) + 2];                                                                              \
    s02 += a0 * b, s12 += a1 * b, s22 += a2 * b, s32 += a3 * b;                                      \
    b = w[64 * (i) + 3];                                                                              \
    s03 += a0 * b, s13 += a1 * b, s23 += a2 * b, s33 += a3 * b;                                       \
  } while (0)

/* m[16 * xi + 4 * t + c] = sum over ic of v[64 * ic + 4 * xi + t] * u[64 * ic + 4 * xi + c], xi < 16.
 * Not inlined, 2 channels per iteration: see dot_4x4 in qp_conv_mcu_s8.c for the register budget. */
QP_WINO_NOINLINE static void wino_gemm(const int16_t *v, const int16_t *u, int32_t ic, int32_t *m) {
  int32_t xi;
  for (xi = 0; xi < 16; ++xi, m += 16) {
    int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    int32_t s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    const int16_t *x = v + 4 * xi, *w = u + 4 * xi;
    const int16_t *const end = x + 64 * ic;
    if (ic & 1) {
      QP_WINO_STEP(0);
      x += 64, w += 64;
    }
    while (x != end) {
      QP_WINO_STEP(0);
      QP_WINO_STEP(1);
      x += 128, w += 128;
    }
    m[0] = s00, m[1] = s01, m[2] = s02, m[3] = s03, m[4] = s10, m[5] = s11, m[6] = s12, m[7] = s13;
    m[8] = s20, m[9] = s21, m[10] = s22, m[11] = s23, m[12] = s30, m[13] = s31, m[14] = s32, m[15] = s33;
  }
}

/* V[ic][4 * xi + t] = (B^T d B)[xi] for tile t's 4x4 patch d (rows of 10 bytes, starting at column 2t). */
static void input_transform(const int8_t *patch, int32_t ic, int16_t *v) {
  const int8_t *const end = patch + ic * QP_WINO_PATCH;
  int32_t t, c;
  for (; patch != end; patch += QP_WINO_PATCH, v += 64)
    for (t = 0; t < QP_WINO_TILES; ++t) {
      int32_t e0[4], e1[4], e2[4], e3[4];
      for (c = 0; c < 4; ++c) { /* B^T along the rows (unrolled by the compiler) */
        const int8_t *d = patch + 2 * t + c;
        const int32_t d0 = d[0], d1 = d[QP_WINO_COLS], d2 = d[2 * QP_WINO_COLS], d3 = d[3 * QP_WINO_COLS];
        e0[c] = d0 - d2, e1[c] = d1 + d2, e2[c] = d2 - d1, e3[c] = d1 - d3;
      }
      /* B along the columns */
      v[t] = (int16_t)(e0[0] - e0[2]), v[4 + t] = (int16_t)(e0[1] + e0[2]);
      v[8 + t] = (int16_t)(e0[2] - e0[1]), v[12 + t] = (int16_t)(e0[1] - e0[3]);
      v[16 + t] = (int16_t)(e1[0] - e1[2]), v[20 + t] = (int16_t)(e1[1] + e1[2]);
      v[24 + t] = (int16_t)(e1[2] - e1[1]), v[28 + t] = (int16_t)(e1[1] - e1[3]);
      v[32 + t] = (int16_t)(e2[0] - e2[2]), v[36 + t] = (int16_t)(e2[1] + e2[2]);
      v[40 + t] = (int16_t)(e2[2] - e2[1]), v[44 + t] = (int16_t)(e2[1] - e2[3]);
      v[48 + t] = (int16_t)(e3[0] - e3[2]), v[52 + t] = (int16_t)(e3[1] + e3[2]);
      v[56 + t] = (int16_t)(e3[2] - e3[1]), v[60 + t] = (int16_t)(e3[1] - e3[3]);
    }
}

/* Copies input rows y0 .. y0 + 3, columns x0 .. x0 + 9 into patch[ic][row][col], the zero point outside. */
static void gather_patch(const qp_dims_t *in, const int8_t *input, int32_t y0, int32_t x0, int8_t zero_point, int8_t *patch) {
  const int32_t ic = in->c;
  int32_t r, c, i;
  for (r = 0; r < 4; ++r)
    for (c = 0; c < QP_WINO_COLS; ++c) {
      const int32_t y = y0 + r, x = x0 + c;
      int8_t *dst = patch + r * QP_WINO_COLS + c;
      if (y < 0 || y >= in->h || x < 0 || x >= in->w) {
        for (i = 0; i < ic; ++i) dst[i * QP_WINO_PATCH] = zero_point;
      } else {
        const int8_t *src = input + (y * in->w + x) * ic;
        for (i = 0; i < ic; ++i) dst[i * QP_WINO_PATCH] = src[i];
      }
    }
}

/* Requantization of one channel, qp_requant_apply_dr_s32 + offset + clamp with the per-channel parts
 * hoisted: the same inlined arithmetic as store_block in qp_conv_mcu_s8.c (see there). */
typedef struct {
  uint32_t bias;
  int32_t left, m, right, mask, half, offset, lo, hi;
} requant_t;

static QP_WINO_INLINE int8_t requant(const requant_t *q, uint32_t acc) {
  const int32_t x = (int32_t)((q->bias + acc) << q->left);
  int32_t h, v;
  if (x == INT32_MIN && q->m == INT32_MIN)
    h = INT32_MAX; /* srdhm's one saturating case */
  else
    h = (int32_t)(((int64_t)x * q->m + ((int64_t)1 << 30)) >> 31);
  v = (h >> q->right) + ((h & q->mask) > q->half + (h < 0) ? 1 : 0) + q->offset;
  return (int8_t)(v < q->lo ? q->lo : (v > q->hi ? q->hi : v));
}

/* Output transform of M (see wino_gemm) for channels < n and the block's tiles, requantized into the
 * output; o points at the block's first output pixel, channel 0; rows (1 or 2) and cols (1 .. 8): the
 * block's output rows and columns inside the image. A^T M A is computed modulo 2^32: its result,
 * 4 * sum(w * d_raw), fits int32 (see the top of the file), so it is exact; dividing it by 4 is an
 * exact arithmetic shift. */
static void output_block(const int32_t *m, int32_t n, const int32_t *packed_bias, const int32_t *multiplier, const int32_t *shift,
                         const qp_conv_params_t *p, int32_t oc_stride, int32_t row_stride, int32_t rows, int32_t cols, int8_t *o) {
  int32_t c, t;
  requant_t q;
  q.offset = p->output_offset, q.lo = p->act_min, q.hi = p->act_max;
  for (c = 0; c < n; ++c) {
    q.bias = (uint32_t)packed_bias[c];
    q.m = multiplier[c];
    q.left = shift[c] > 0 ? shift[c] : 0;
    q.right = shift[c] > 0 ? 0 : -shift[c];
    q.mask = (int32_t)(((uint32_t)1 << q.right) - 1u);
    q.half = q.mask >> 1;
    for (t = 0; t < QP_WINO_TILES && 2 * t < cols; ++t) {
      const uint32_t *r = (const uint32_t *)m + 4 * t + c; /* M[xi] at r[16 * xi] */
      int8_t *const d = o + 2 * t * oc_stride + c;
      /* A^T along the rows: a = M[0][b] + M[1][b] + M[2][b], b = M[1][b] - M[2][b] - M[3][b] */
      const uint32_t a0 = r[0] + r[64] + r[128], b0 = r[64] - r[128] - r[192];
      const uint32_t a1 = r[16] + r[80] + r[144], b1 = r[80] - r[144] - r[208];
      const uint32_t a2 = r[32] + r[96] + r[160], b2 = r[96] - r[160] - r[224];
      const uint32_t a3 = r[48] + r[112] + r[176], b3 = r[112] - r[176] - r[240];
      const int32_t full = 2 * t + 1 < cols;
      d[0] = requant(&q, (uint32_t)((int32_t)(a0 + a1 + a2) >> 2));
      if (full) d[oc_stride] = requant(&q, (uint32_t)((int32_t)(a1 - a2 - a3) >> 2));
      if (rows == 2) {
        d[row_stride] = requant(&q, (uint32_t)((int32_t)(b0 + b1 + b2) >> 2));
        if (full) d[row_stride + oc_stride] = requant(&q, (uint32_t)((int32_t)(b1 - b2 - b3) >> 2));
      }
    }
  }
}

qp_status_t qp_conv_run_wino_s8(const qp_conv_params_t *p, const int32_t *multiplier, const int32_t *shift, const qp_dims_t *in,
                                const int8_t *input, const qp_dims_t *f, const int16_t *packed_filter,
                                const int32_t *packed_bias, const qp_dims_t *out, int8_t *output, int8_t *scratch) {
  int32_t ty, tx, oc, i;
  int32_t *m;
  int16_t *v;
  int8_t *patch;
  if (!dims_ok(p, in, f, out) || !multiplier || !shift || !input || !packed_filter || !packed_bias || !output || !scratch ||
      p->act_min > p->act_max || p->act_min < -128 || p->act_max > 127)
    return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < out->c; ++i)
    if (shift[i] < -31 || shift[i] > 30) return QP_STATUS_BAD_SHIFT;
  m = (int32_t *)(void *)(scratch + ((4u - (uint32_t)((uintptr_t)scratch & 3u)) & 3u));
  v = (int16_t *)(void *)(m + QP_WINO_M_BYTES / 4);
  patch = (int8_t *)(v + 64 * in->c);
  for (ty = 0; 2 * ty < out->h; ++ty) {
    const int32_t rows = out->h - 2 * ty < 2 ? 1 : 2;
    for (tx = 0; 2 * tx < out->w; tx += QP_WINO_TILES) {
      const int32_t cols = out->w - 2 * tx < 2 * QP_WINO_TILES ? out->w - 2 * tx : 2 * QP_WINO_TILES;
      int8_t *const o = output + (2 * ty * out->w + 2 * tx) * out->c;
      gather_patch(in, input, 2 * ty - p->pad_top, 2 * tx - p->pad_left, (int8_t)-p->input_offset, patch);
      input_transform(patch, in->c, v);
      for (oc = 0; oc < out->c; oc += 4) {
        wino_gemm(v, packed_filter + oc * 16 * in->c, in->c, m);
        output_block(m, out->c - oc < 4 ? out->c - oc : 4, packed_bias + oc, multiplier + oc, shift + oc, p, out->c,
                     out->w * out->c, rows, cols, o + oc);
      }
    }
  }
  return QP_STATUS_OK;
}
