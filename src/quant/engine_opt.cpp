// The optimized host kernels for conv, dense and max pooling: bit-exact to the reference kernels of src/runtime.
//
// Reference: acc = bias + sum w * (x + input_offset), skipping padded positions, input_offset = -zp.
// Here the layer's input is first copied into a padded buffer of unsigned bytes u = x + 128 (padded
// positions hold the input zero point, so that x + input_offset = 0 there, as in the reference; the
// channel count is rounded up to a multiple of 4, the extra channels meeting zero weights). Then
//   sum w * (x + input_offset) = sum w * u - (zp + 128) * sum(w),
// an identity in integers, so acc starts at base[c] = bias[c] - (zp + 128) * sum(w[c]) and collects
// u8 x s8 products: the same int32 as the reference. The partial sums wrap modulo 2^32 at worst and
// the final value fits int32 (the quantizer proved |bias| + 255 * sum|w| < 2^31), so it is exact.
//
// Layout: a conv is a GEMM [output pixels] x [steps of 4 patch bytes] x [output channels]. The weights
// are packed as [channel tile][step][16 channels][4 bytes]: one 64-byte row per 16 channels and step,
// what vpdpbusd (AVX-512 VNNI) multiplies with 4 patch bytes broadcast to every lane. A register block
// holds P output pixels x J*16 channels of int32 accumulators; each broadcast patch dword feeds J
// instructions and each weight row P of them. The accumulators are requantized 16 channels at a time
// with TFLite's double rounding in 64-bit lanes (bit-exact to qp_requant_apply_dr_s32), clamped and
// narrowed to int8. A dense layer is the same GEMM on a 1x1 image.
//
// The AVX2 path runs the same GEMM on 16-bit words with exact vpmaddwd products (see its comment); the
// portable path runs it with plain loops and the reference requantization.
#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "qp_runtime_mcu.h"
#include "quant/qmodel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define QP_HAVE_VNNI_PATH 1
#endif

namespace qp::quant {

namespace {

constexpr int kLanes = 16;    // int32 lanes of a zmm register: output channels per row of packed weights
constexpr int kAvx2MaxJ = 2;  // AVX2 tiles: up to 2 ymm registers of 8 int32 channels

int round_up(int v, int m) {
  return (v + m - 1) / m * m;
}

#ifdef QP_HAVE_VNNI_PATH
bool cpu_has_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}
#endif

// ---------------------------------------------------------------------------------------------
// Input staging: int8 NHWC -> padded buffer [ph][pw][icp] of u = x + 128, as bytes (VNNI, portable) or
// as 16-bit words (AVX2, whose vpmaddwd multiplies words); the same element offsets either way.
template <typename U>
void stage_input(const QLayer &l, const OptWeights &o, const int8_t *in, U *pad) {
  const int ih = o.dense ? 1 : l.in.h, iw = o.dense ? 1 : l.in.w, ic = l.in.c;
  const int pt = o.dense ? 0 : l.pad_top, pl = o.dense ? 0 : l.pad_left;
  const auto zp_u = static_cast<U>(l.input.zero_point + 128);
  const size_t icp = static_cast<size_t>(o.icp);
  for (int y = 0; y < o.ph; ++y) {
    U *row = pad + static_cast<size_t>(y) * o.pw * icp;
    const int sy = y - pt;
    if (sy < 0 || sy >= ih) {
      for (int x = 0; x < o.pw; ++x) {
        std::fill_n(row + x * icp, ic, zp_u);
        std::fill_n(row + x * icp + ic, icp - static_cast<size_t>(ic), U{0});
      }
      continue;
    }
    const int8_t *src = in + static_cast<size_t>(sy) * iw * ic;
    const int x0 = std::min(pl, o.pw), x1 = std::min(pl + iw, o.pw);  // columns [x0, x1) come from the input
    for (int x = 0; x < x0; ++x) std::fill_n(row + x * icp, ic, zp_u);
    for (int x = x1; x < o.pw; ++x) std::fill_n(row + x * icp, ic, zp_u);
    if (icp == static_cast<size_t>(ic)) {
      U *d = row + static_cast<size_t>(x0) * icp;
      const int8_t *s = src + static_cast<size_t>(x0 - pl) * ic;
      const size_t n = static_cast<size_t>(x1 - x0) * icp;
      for (size_t i = 0; i < n; ++i) d[i] = static_cast<U>(static_cast<uint8_t>(s[i]) ^ 0x80u);
    } else {
      for (int x = 0; x < o.pw; ++x) std::fill_n(row + x * icp + ic, icp - static_cast<size_t>(ic), U{0});
      for (int x = x0; x < x1; ++x) {
        U *d = row + x * icp;
        const int8_t *s = src + static_cast<size_t>(x - pl) * ic;
        for (int c = 0; c < ic; ++c) d[c] = static_cast<U>(static_cast<uint8_t>(s[c]) ^ 0x80u);
      }
    }
  }
}

// Element offset in the padded buffer of output pixel i's window origin.
inline int32_t pixel_offset(const OptWeights &o, int i) {
  const int y = i / o.ow, x = i % o.ow;
  return (y * o.stride * o.pw + x * o.stride) * o.icp;
}

inline int8_t narrow(int32_t v, const OptWeights &o) {
  return static_cast<int8_t>(std::clamp(v + o.out_zp, o.act_min, o.act_max));
}

// ---------------------------------------------------------------------------------------------
// Portable path: one output pixel at a time; its patch gathered contiguous (the steps' 4-byte groups in
// order), then one dot product per output channel against that channel's row (a reduction the
// compiler vectorises), and the double-rounding requantization inlined.
inline int32_t requant_dr(int32_t x, int32_t mult, int32_t left, int32_t right, int32_t rmask) {
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  int32_t h;
  if (shifted == INT32_MIN && mult == INT32_MIN) {
    h = INT32_MAX;
  } else {
    const int64_t ab = static_cast<int64_t>(shifted) * mult;
    const int64_t v = ab + (ab >= 0 ? int64_t{1} << 30 : 1 - (int64_t{1} << 30));
    h = static_cast<int32_t>(v / (int64_t{1} << 31));  // truncates toward zero
  }
  const int32_t threshold = (rmask >> 1) + (h < 0 ? 1 : 0);
  return (h >> right) + ((h & rmask) > threshold ? 1 : 0);
}

__attribute__((always_inline)) inline void gemm_rows(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  const int n_pix = o.oh * o.ow, oc = o.oc, kp = o.steps * 4;
  std::vector<uint8_t> patch(static_cast<size_t>(kp));
  for (int i = 0; i < n_pix; ++i) {
    const uint8_t *src = pad + pixel_offset(o, i);
    for (int s = 0; s < o.steps; ++s) std::memcpy(patch.data() + 4 * s, src + o.soff[static_cast<size_t>(s)], 4);
    int8_t *dst = out + static_cast<size_t>(i) * oc;
    for (int c = 0; c < oc; ++c) {
      const auto cc = static_cast<size_t>(c);
      const int8_t *w = o.wrow.data() + cc * static_cast<size_t>(kp);
      int32_t d = 0;  // |d| <= 255 * sum|w| < 2^31 (the quantizer's overflow proof)
      for (int k = 0; k < kp; ++k) d += static_cast<int32_t>(patch[static_cast<size_t>(k)]) * w[k];
      const auto acc = static_cast<int32_t>(static_cast<uint32_t>(o.base[cc]) + static_cast<uint32_t>(d));
      dst[c] = narrow(requant_dr(acc, o.mult[cc], o.left[cc], o.right[cc], o.rmask[cc]), o);
    }
  }
}

void gemm_portable(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  gemm_rows(o, pad, out);
}

#ifdef QP_HAVE_VNNI_PATH
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
#endif

void maxpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      std::memset(d, 0x80, static_cast<size_t>(c));  // -128, the reference's starting value
      for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; ++kx) {
          const int8_t *src = in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c;
          for (int i = 0; i < c; ++i) d[i] = std::max(d[i], src[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX2 path. No saturating vpmaddubsw: the staged input is 16-bit words u in [0, 255], the weights
// sign-extended words, and vpmaddwd forms u0 * w0 + u1 * w1 exactly (|.| <= 2 * 255 * 128 < 2^31) per
// int32 lane; vpaddd collects. A step's 4 bytes are two such pairs (two rows of w16). A register block
// holds P pixels x J*8 channels; each broadcast pair feeds J vpmaddwd and each weight row P of them.
#ifdef QP_HAVE_VNNI_PATH
#define QP_AVX2 __attribute__((target("avx2")))

// 64-bit lanes: the low 32 bits of (ab + nudge) / 2^31 truncated toward zero, nudge = ab >= 0 ? 2^30 :
// 1 - 2^30. AVX2 has no 64-bit arithmetic shift, but the quotient fits int32 (the one overflowing
// case, INT32_MIN * INT32_MIN, is saturated by the caller), so a logical shift gives the same low half.
QP_AVX2 inline __m256i round_high64_avx2(__m256i ab) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i nudge =
      _mm256_add_epi64(_mm256_set1_epi64x(int64_t{1} << 30),
                       _mm256_and_si256(_mm256_cmpgt_epi64(zero, ab), _mm256_set1_epi64x(1 - (int64_t{1} << 31))));
  __m256i v = _mm256_add_epi64(ab, nudge);
  v = _mm256_add_epi64(v, _mm256_and_si256(_mm256_cmpgt_epi64(zero, v), _mm256_set1_epi64x((int64_t{1} << 31) - 1)));
  return _mm256_srli_epi64(v, 31);
}

QP_AVX2 inline __m256i load8(const std::vector<int32_t> &v, int c) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(v.data() + c));
}

// qp_requant_apply_dr_s32 on 8 lanes (channels c .. c + 7), + zero point, clamp; the 8 int8 results in
// the low 8 bytes.
QP_AVX2 inline __m128i requant8_avx2(__m256i acc, const OptWeights &o, int c) {
  const __m256i mult = load8(o.mult, c), left = load8(o.left, c), right = load8(o.right, c), rmask = load8(o.rmask, c);
  const __m256i x = _mm256_sllv_epi32(acc, left);  // wraps, as the reference's uint32 shift
  const __m256i even = round_high64_avx2(_mm256_mul_epi32(x, mult));
  const __m256i odd = round_high64_avx2(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32)));
  __m256i h = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i int_min = _mm256_set1_epi32(INT32_MIN);
  const __m256i sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, int_min), _mm256_cmpeq_epi32(mult, int_min));
  h = _mm256_blendv_epi8(h, _mm256_set1_epi32(INT32_MAX), sat);
  // Rounding divide by 2^right: (h >> right) + (remainder > (mask >> 1) + (h < 0)).
  const __m256i rem = _mm256_and_si256(h, rmask);
  const __m256i thr = _mm256_sub_epi32(_mm256_srai_epi32(rmask, 1), _mm256_srai_epi32(h, 31));
  __m256i r = _mm256_sub_epi32(_mm256_srav_epi32(h, right), _mm256_cmpgt_epi32(rem, thr));
  r = _mm256_add_epi32(r, _mm256_set1_epi32(o.out_zp));
  r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(o.act_min)), _mm256_set1_epi32(o.act_max));
  const __m128i r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));  // exact: in [-128, 127]
  return _mm_packs_epi16(r16, r16);
}

// P output pixels (window origins off[0..P)) x J*8 channels of AVX2 tile t.
template <int J, int P>
QP_AVX2 void block_avx2(const OptWeights &o, const uint16_t *pad, const int32_t *off, int t, int8_t *out, const int pix0) {
  constexpr int kRow = J * 8 * 2;  // int16 per row of w16: J*8 channels x one pair
  __m256i acc[P][J];
  const int c0 = t * J * 8;
  for (int j = 0; j < J; ++j) {
    const __m256i b = load8(o.base, c0 + j * 8);
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const uint16_t *src[P];
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int16_t *w = o.w16.data() + static_cast<size_t>(t) * o.steps * 2 * kRow;
  const int32_t *soff = o.soff.data();
  for (int s = 0; s < o.steps; ++s) {
    const int32_t so = soff[s];
    for (int half = 0; half < 2; ++half, w += kRow) {
      __m256i wv[J];
      for (int j = 0; j < J; ++j) wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + j * 16));
      for (int p = 0; p < P; ++p) {
        int32_t d;  // two staged words: one input pair
        std::memcpy(&d, src[p] + so + 2 * half, 4);
        const __m256i u = _mm256_set1_epi32(d);
        for (int j = 0; j < J; ++j) acc[p][j] = _mm256_add_epi32(acc[p][j], _mm256_madd_epi16(u, wv[j]));
      }
    }
  }
  for (int j = 0; j < J; ++j) {
    const int c = c0 + j * 8;
    if (c >= o.oc) break;
    const int n = std::min(8, o.oc - c);
    for (int p = 0; p < P; ++p) {
      const __m128i v = requant8_avx2(acc[p][j], o, c);
      int8_t *dst = out + static_cast<size_t>(pix0 + p) * o.oc + c;
      if (n == 8) {
        _mm_storel_epi64(reinterpret_cast<__m128i *>(dst), v);
      } else {
        alignas(16) int8_t tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i *>(tmp), v);
        std::memcpy(dst, tmp, static_cast<size_t>(n));
      }
    }
  }
}

template <int J, int P>
QP_AVX2 void gemm_avx2_j(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  const int n_pix = o.oh * o.ow;
  int32_t off[P];
  int i = 0;
  for (; i + P <= n_pix; i += P) {
    for (int p = 0; p < P; ++p) off[p] = pixel_offset(o, i + p);
    for (int t = 0; t < o.tiles2; ++t) block_avx2<J, P>(o, pad, off, t, out, i);
  }
  for (; i < n_pix; ++i) {  // the last < P pixels, one at a time
    off[0] = pixel_offset(o, i);
    for (int t = 0; t < o.tiles2; ++t) block_avx2<J, 1>(o, pad, off, t, out, i);
  }
}

QP_AVX2 void gemm_avx2(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  switch (o.J2) {
    case 1: gemm_avx2_j<1, 8>(o, pad, out); break;
    default: gemm_avx2_j<2, 6>(o, pad, out); break;
  }
}

QP_AVX2 void maxpool_avx2(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      const auto at = [&](int ky, int kx) { return in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c; };
      int i = 0;
      for (; i + 32 <= c; i += 32) {
        __m256i v = _mm256_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            v = _mm256_max_epi8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at(ky, kx) + i)));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + i), v);
      }
      for (; i + 16 <= c; i += 16) {
        __m128i v = _mm_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) v = _mm_max_epi8(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(at(ky, kx) + i)));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + i), v);
      }
      for (; i < c; ++i) {  // the last < 16 channels
        int8_t m = -128;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) m = std::max(m, at(ky, kx)[i]);
        d[i] = m;
      }
    }
}
#endif

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI path.
#ifdef QP_HAVE_VNNI_PATH
#define QP_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
// GCC 12's AVX-512 headers build vectors from _mm512_undefined_*() and trip -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// 64-bit lanes: (ab + nudge) / 2^31 truncated toward zero, nudge = ab >= 0 ? 2^30 : 1 - 2^30.
QP_VNNI inline __m512i round_high64(__m512i ab) {
  const __m512i zero = _mm512_setzero_si512();
  const __mmask8 neg = _mm512_cmplt_epi64_mask(ab, zero);
  __m512i v = _mm512_add_epi64(ab, _mm512_mask_blend_epi64(neg, _mm512_set1_epi64(int64_t{1} << 30),
                                                           _mm512_set1_epi64(1 - (int64_t{1} << 30))));
  const __mmask8 vneg = _mm512_cmplt_epi64_mask(v, zero);
  v = _mm512_mask_add_epi64(v, vneg, v, _mm512_set1_epi64((int64_t{1} << 31) - 1));
  return _mm512_srai_epi64(v, 31);
}

// qp_requant_apply_dr_s32 on 16 lanes (channels c .. c + 15), then + zero point, clamp, narrow.
QP_VNNI inline __m128i requant16(__m512i acc, const OptWeights &o, int c) {
  const __m512i mult = _mm512_loadu_si512(o.mult.data() + c), left = _mm512_loadu_si512(o.left.data() + c);
  const __m512i right = _mm512_loadu_si512(o.right.data() + c), rmask = _mm512_loadu_si512(o.rmask.data() + c);
  const __m512i x = _mm512_sllv_epi32(acc, left);  // wraps, as the reference's uint32 shift
  const __m512i even = round_high64(_mm512_mul_epi32(x, mult));
  const __m512i odd = round_high64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32)));
  __m512i h = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  const __m512i int_min = _mm512_set1_epi32(INT32_MIN);
  const __mmask16 sat = _mm512_cmpeq_epi32_mask(x, int_min) & _mm512_cmpeq_epi32_mask(mult, int_min);
  h = _mm512_mask_mov_epi32(h, sat, _mm512_set1_epi32(INT32_MAX));
  // Rounding divide by 2^right: (h >> right) + (remainder > (mask >> 1) + (h < 0)).
  const __m512i rem = _mm512_and_si512(h, rmask);
  const __m512i thr = _mm512_sub_epi32(_mm512_srai_epi32(rmask, 1), _mm512_srai_epi32(h, 31));
  __m512i r = _mm512_srav_epi32(h, right);
  r = _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, _mm512_set1_epi32(1));
  r = _mm512_add_epi32(r, _mm512_set1_epi32(o.out_zp));
  r = _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(o.act_min)), _mm512_set1_epi32(o.act_max));
  return _mm512_cvtepi32_epi8(r);
}

// P output pixels (window origins off[0..P)) x J*16 channels of tile t.
template <int J, int P>
QP_VNNI void block_vnni(const OptWeights &o, const uint8_t *pad, const int32_t *off, int t, int8_t *out, const int pix0) {
  __m512i acc[P][J];
  const int c0 = t * J * kLanes;
  for (int j = 0; j < J; ++j) {
    const __m512i b = _mm512_loadu_si512(o.base.data() + c0 + j * kLanes);
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const uint8_t *src[P];
  for (int p = 0; p < P; ++p) src[p] = pad + off[p];
  const int8_t *w = o.w.data() + static_cast<size_t>(t) * o.steps * J * kLanes * 4;
  const int32_t *soff = o.soff.data();
  for (int s = 0; s < o.steps; ++s, w += J * kLanes * 4) {
    __m512i wv[J];
    for (int j = 0; j < J; ++j) wv[j] = _mm512_loadu_si512(w + j * kLanes * 4);
    const int32_t so = soff[s];
    for (int p = 0; p < P; ++p) {
      int32_t d;
      std::memcpy(&d, src[p] + so, 4);
      const __m512i u = _mm512_set1_epi32(d);
      for (int j = 0; j < J; ++j) acc[p][j] = _mm512_dpbusd_epi32(acc[p][j], u, wv[j]);
    }
  }
  for (int j = 0; j < J; ++j) {
    const int c = c0 + j * kLanes;
    if (c >= o.oc) break;
    const __mmask16 m = o.oc - c >= kLanes ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (o.oc - c)) - 1);
    for (int p = 0; p < P; ++p) {
      const __m128i v = requant16(acc[p][j], o, c);
      _mm_mask_storeu_epi8(out + static_cast<size_t>(pix0 + p) * o.oc + c, m, v);
    }
  }
}

template <int J, int P>
QP_VNNI void gemm_vnni_j(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  const int n_pix = o.oh * o.ow;
  int32_t off[P];
  int i = 0;
  for (; i + P <= n_pix; i += P) {
    for (int p = 0; p < P; ++p) off[p] = pixel_offset(o, i + p);
    for (int t = 0; t < o.tiles; ++t) block_vnni<J, P>(o, pad, off, t, out, i);
  }
  for (; i < n_pix; ++i) {  // the last < P pixels, one at a time
    off[0] = pixel_offset(o, i);
    for (int t = 0; t < o.tiles; ++t) block_vnni<J, 1>(o, pad, off, t, out, i);
  }
}

QP_VNNI void gemm_vnni(const OptWeights &o, const uint8_t *pad, int8_t *out) {
  switch (o.J) {
    case 1: gemm_vnni_j<1, 8>(o, pad, out); break;
    case 2: gemm_vnni_j<2, 8>(o, pad, out); break;
    case 3: gemm_vnni_j<3, 6>(o, pad, out); break;
    default: gemm_vnni_j<4, 4>(o, pad, out); break;
  }
}

QP_VNNI void maxpool_vnni(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, iw = l.in.w, c = l.in.c, oh = l.out.h, ow = l.out.w;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      int8_t *d = out + (static_cast<size_t>(y) * ow + x) * c;
      for (int i = 0; i < c; i += 64) {
        const __mmask64 m = c - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (c - i)) - 1;
        __m512i v = _mm512_set1_epi8(-128);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx)
            v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, in + (static_cast<size_t>(y * s + ky) * iw + x * s + kx) * c + i));
        _mm512_mask_storeu_epi8(d + i, m, v);
      }
    }
}
#pragma GCC diagnostic pop
#endif

// ---------------------------------------------------------------------------------------------
// Depthwise conv (channel multiplier 1). The input is staged as for a conv (16-bit words u = x + 128,
// padded positions holding the zero point, channels rounded up to 8), so every window is read without
// bounds checks and sum w * (x + input_offset) = sum w * u - (zp + 128) * sum w, the second term folded
// into base. Per output pixel the KH x KW taps accumulate into one int32 lane per channel (the channel
// loop is what the compiler vectorises: |u * w| < 2^15, the total is the reference accumulator, partial
// sums wrap modulo 2^32 at worst, so they are kept unsigned), then each channel is requantized.
__attribute__((always_inline)) inline void dw_accumulate(const OptWeights &o, const uint16_t *pad, int y, int x, uint32_t *acc) {
  const int icp = o.icp, k = o.k;
  for (int c = 0; c < icp; ++c) acc[c] = static_cast<uint32_t>(o.base[static_cast<size_t>(c)]);
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      const uint16_t *u = pad + (static_cast<size_t>(y * o.stride + ky) * o.pw + static_cast<size_t>(x * o.stride + kx)) * icp;
      const int16_t *w = o.w16.data() + static_cast<size_t>(ky * k + kx) * icp;
      for (int c = 0; c < icp; ++c) acc[c] += static_cast<uint32_t>(static_cast<int32_t>(u[c]) * w[c]);
    }
}

void dw_portable(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  std::vector<uint32_t> acc(static_cast<size_t>(o.icp));
  for (int y = 0; y < o.oh; ++y)
    for (int x = 0; x < o.ow; ++x) {
      dw_accumulate(o, pad, y, x, acc.data());
      int8_t *dst = out + (static_cast<size_t>(y) * o.ow + x) * o.oc;
      for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c)
        dst[c] = narrow(requant_dr(static_cast<int32_t>(acc[c]), o.mult[c], o.left[c], o.right[c], o.rmask[c]), o);
    }
}

#ifdef QP_HAVE_VNNI_PATH
QP_AVX2 void dw_avx2(const OptWeights &o, const uint16_t *pad, int8_t *out) {
  std::vector<uint32_t> acc(static_cast<size_t>(o.icp));
  for (int y = 0; y < o.oh; ++y)
    for (int x = 0; x < o.ow; ++x) {
      dw_accumulate(o, pad, y, x, acc.data());
      int8_t *dst = out + (static_cast<size_t>(y) * o.ow + x) * o.oc;
      for (int c = 0; c < o.oc; c += 8) {
        const __m128i v = requant8_avx2(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc.data() + c)), o, c);
        if (o.oc - c >= 8) {
          _mm_storel_epi64(reinterpret_cast<__m128i *>(dst + c), v);
        } else {
          alignas(16) int8_t tmp[16];
          _mm_store_si128(reinterpret_cast<__m128i *>(tmp), v);
          std::memcpy(dst + c, tmp, static_cast<size_t>(o.oc - c));
        }
      }
    }
}
#endif

OptWeights pack_dwconv(const QLayer &l) {
  OptWeights o;
  o.kind = OptWeights::Kind::Depthwise;
  const int ch = l.in.c, k = l.kernel;
  o.k = k;
  o.stride = l.stride;
  o.oh = l.out.h;
  o.ow = l.out.w;
  o.oc = ch;
  o.icp = round_up(ch, 8);
  o.ph = (o.oh - 1) * o.stride + k;
  o.pw = (o.ow - 1) * o.stride + k;
  o.out_zp = l.output.zero_point;
  o.act_min = l.act_min;
  o.act_max = l.act_max;
  const auto icp = static_cast<size_t>(o.icp);
  o.w16.assign(static_cast<size_t>(k) * k * icp, 0);
  o.base.assign(icp, 0);
  o.mult.assign(icp, 0);
  o.left.assign(icp, 0);
  o.right.assign(icp, 0);
  o.rmask.assign(icp, 0);
  const int32_t input_shift = l.input.zero_point + 128;
  for (size_t c = 0; c < static_cast<size_t>(ch); ++c) {
    int64_t wsum = 0;
    for (size_t t = 0; t < static_cast<size_t>(k) * k; ++t) {
      const int8_t w = l.weight[t * static_cast<size_t>(ch) + c];
      o.w16[t * icp + c] = w;
      wsum += w;
    }
    o.base[c] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(l.bias[c]) - input_shift * wsum));
    o.mult[c] = l.multiplier[c];
    o.left[c] = std::max(l.shift[c], 0);
    o.right[c] = std::max(-l.shift[c], 0);
    o.rmask[c] = static_cast<int32_t>((int64_t{1} << o.right[c]) - 1);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Average pooling (TFLite's: the divisor counts the window's positions inside the input) and global
// average pooling: int32 sums with the channel loop innermost (vectorised by the compiler), then the
// reference's rounded division, half away from zero.
inline int8_t rounded_mean_s8(int32_t sum, int32_t count) {
  const int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return static_cast<int8_t>(std::clamp(v, -128, 127));
}

void avgpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, ih = l.in.h, iw = l.in.w, c = l.in.c;
  std::vector<int32_t> acc(static_cast<size_t>(c));
  for (int y = 0; y < l.out.h; ++y)
    for (int x = 0; x < l.out.w; ++x) {
      const int y0 = std::max(y * s - l.pad_top, 0), y1 = std::min(y * s - l.pad_top + k, ih);
      const int x0 = std::max(x * s - l.pad_left, 0), x1 = std::min(x * s - l.pad_left + k, iw);
      std::fill(acc.begin(), acc.end(), 0);
      for (int iy = y0; iy < y1; ++iy)
        for (int ix = x0; ix < x1; ++ix) {
          const int8_t *src = in + (static_cast<size_t>(iy) * iw + ix) * c;
          for (int i = 0; i < c; ++i) acc[static_cast<size_t>(i)] += src[i];
        }
      const int32_t count = (y1 - y0) * (x1 - x0);
      int8_t *d = out + (static_cast<size_t>(y) * l.out.w + x) * c;
      for (int i = 0; i < c; ++i) d[i] = rounded_mean_s8(acc[static_cast<size_t>(i)], count);
    }
}

void global_avgpool_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  const int c = l.in.c, n = l.in.h * l.in.w;
  std::vector<int32_t> acc(static_cast<size_t>(c), 0);
  for (int p = 0; p < n; ++p) {
    const int8_t *src = in + static_cast<size_t>(p) * c;
    for (int i = 0; i < c; ++i) acc[static_cast<size_t>(i)] += src[i];
  }
  for (int i = 0; i < c; ++i) out[i] = rounded_mean_s8(acc[static_cast<size_t>(i)], n);
}

// The kernel set a request resolves to on this CPU (Auto: the fastest available).
OptIsa resolve(OptIsa isa) {
  if (isa != OptIsa::Auto) {
    if (!opt_isa_available(isa))
      fail(std::string("the optimized kernel set '") + opt_isa_name(isa) + "' is not available on this CPU or build",
           "use OptIsa::Auto (the fastest available)");
    return isa;
  }
  static const OptIsa best = opt_isa_available(OptIsa::Avx512Vnni) ? OptIsa::Avx512Vnni
                             : opt_isa_available(OptIsa::Avx2)     ? OptIsa::Avx2
                                                                   : OptIsa::Portable;
  return best;
}

}  // namespace

const char *opt_isa_name(OptIsa isa) {
  switch (isa) {
    case OptIsa::Auto: return "auto";
    case OptIsa::Portable: return "portable";
    case OptIsa::Avx2: return "avx2";
    case OptIsa::Avx512Vnni: return "avx512-vnni";
  }
  return "?";
}

bool opt_isa_available(OptIsa isa) {
  switch (isa) {
    case OptIsa::Auto:
    case OptIsa::Portable: return true;
#ifdef QP_HAVE_VNNI_PATH
    case OptIsa::Avx2: {
      static const bool avx2 = cpu_has_avx2();
      return avx2;
    }
    case OptIsa::Avx512Vnni: {
      static const bool vnni = cpu_has_vnni();
      return vnni;
    }
#else
    case OptIsa::Avx2:
    case OptIsa::Avx512Vnni: return false;
#endif
  }
  return false;
}

OptWeights pack_opt_weights(const QLayer &l) {
  OptWeights o;
  if (l.op == model::Op::DepthwiseConv2D) return l.out.c == l.in.c ? pack_dwconv(l) : o;  // multiplier > 1: reference
  if (l.op == model::Op::Add) {  // each input's rescaling tabulated (qp_add_mcu_s8.c)
    o.kind = OptWeights::Kind::Add;
    o.base.assign(QP_ADD_MCU_TABLE_COUNT, 0);
    if (qp_add_table_mcu_s8(&l.add, o.base.data()) != QP_STATUS_OK) o = OptWeights{};  // the reference reports it
    return o;
  }
  if (l.op != model::Op::Conv2D && l.op != model::Op::Dense) return o;
  o.kind = OptWeights::Kind::Gemm;
  o.dense = l.op == model::Op::Dense;
  const int ic = l.in.c, k = o.dense ? 1 : l.kernel;
  o.stride = o.dense ? 1 : l.stride;
  o.oh = o.dense ? 1 : l.out.h;
  o.ow = o.dense ? 1 : l.out.w;
  o.oc = l.out.c;
  o.icp = round_up(ic, 4);
  o.ph = (o.oh - 1) * o.stride + k;
  o.pw = (o.ow - 1) * o.stride + k;
  o.J = std::min(4, (o.oc + kLanes - 1) / kLanes);
  o.ocp = round_up(o.oc, o.J * kLanes);
  o.tiles = o.ocp / (o.J * kLanes);
  o.J2 = std::min(kAvx2MaxJ, (o.oc + 7) / 8);
  const int ocp2 = round_up(o.oc, o.J2 * 8);
  o.tiles2 = ocp2 / (o.J2 * 8);
  const int groups = o.icp / 4;
  o.steps = k * k * groups;
  o.out_zp = l.output.zero_point;
  o.act_min = l.act_min;
  o.act_max = l.act_max;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx)
      for (int g = 0; g < groups; ++g) o.soff.push_back((ky * o.pw + kx) * o.icp + 4 * g);
  const size_t per = static_cast<size_t>(k) * k * ic, tile = static_cast<size_t>(o.J) * kLanes;
  o.w.assign(static_cast<size_t>(o.ocp) * o.steps * 4, 0);
  o.wrow.assign(static_cast<size_t>(o.oc) * o.steps * 4, 0);
  o.w16.assign(static_cast<size_t>(ocp2) * o.steps * 4, 0);
  const auto ocp = static_cast<size_t>(std::max(o.ocp, ocp2));  // per-channel arrays cover both tilings
  o.base.assign(ocp, 0);
  o.mult.assign(ocp, 0);
  o.left.assign(ocp, 0);
  o.right.assign(ocp, 0);
  o.rmask.assign(ocp, 0);
  const int32_t input_shift = l.input.zero_point + 128;  // u = x + 128: sum w*(x - zp) = sum w*u - (zp + 128) * sum w
  for (size_t c = 0; c < static_cast<size_t>(o.oc); ++c) {
    const size_t t = c / tile, lane = c % tile;
    int64_t wsum = 0;
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx)
        for (int i = 0; i < ic; ++i) {
          const int8_t w = l.weight[c * per + (static_cast<size_t>(ky) * k + kx) * ic + i];
          wsum += w;
          const size_t step = (static_cast<size_t>(ky) * k + kx) * groups + i / 4;
          o.w[((t * o.steps + step) * tile + lane) * 4 + i % 4] = w;
          o.wrow[c * static_cast<size_t>(o.steps) * 4 + step * 4 + i % 4] = w;
          const size_t tile2 = static_cast<size_t>(o.J2) * 8;  // AVX2: [tile][step][pair][J2*8 channels][2]
          o.w16[(((c / tile2 * o.steps + step) * 2 + i % 4 / 2) * tile2 + c % tile2) * 2 + i % 2] = w;
        }
    o.base[c] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(l.bias[c]) - input_shift * wsum));
    o.mult[c] = l.multiplier[c];
    o.left[c] = std::max(l.shift[c], 0);
    o.right[c] = std::max(-l.shift[c], 0);
    o.rmask[c] = static_cast<int32_t>((int64_t{1} << o.right[c]) - 1);
  }
  return o;
}

void opt_conv_s8(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, int8_t *out, uint8_t *scratch) {
  switch (resolve(isa)) {
#ifdef QP_HAVE_VNNI_PATH
    case OptIsa::Avx512Vnni: stage_input(l, o, in, scratch); return gemm_vnni(o, scratch, out);
    case OptIsa::Avx2: {
      auto *pad16 = reinterpret_cast<uint16_t *>(scratch);  // the arena (operator new) and its scratch offset are 16-byte aligned
      stage_input(l, o, in, pad16);
      return gemm_avx2(o, pad16, out);
    }
#endif
    default: stage_input(l, o, in, scratch); return gemm_portable(o, scratch, out);
  }
}

void opt_maxpool_s8(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out) {
#ifdef QP_HAVE_VNNI_PATH
  const OptIsa r = resolve(isa);
  if (r == OptIsa::Avx512Vnni) return maxpool_vnni(l, in, out);
  if (r == OptIsa::Avx2) return maxpool_avx2(l, in, out);
#endif
  maxpool_portable(l, in, out);
}

bool opt_run_layer(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *in, const int8_t *in2, int8_t *out,
                   uint8_t *scratch) {
  switch (o.kind) {
    case OptWeights::Kind::Gemm: opt_conv_s8(l, o, isa, in, out, scratch); return true;
    case OptWeights::Kind::Depthwise: {
      auto *pad16 = reinterpret_cast<uint16_t *>(scratch);  // 64-byte aligned (the engine's plan)
      stage_input(l, o, in, pad16);
#ifdef QP_HAVE_VNNI_PATH
      if (resolve(isa) != OptIsa::Portable) return dw_avx2(o, pad16, out), true;
#endif
      return dw_portable(o, pad16, out), true;
    }
    case OptWeights::Kind::Add:
      return qp_add_run_mcu_s8(&l.add, o.base.data(), static_cast<int32_t>(l.out.size()), in, in2, out) == QP_STATUS_OK;
    case OptWeights::Kind::None: break;
  }
  switch (l.op) {
    case model::Op::MaxPool: {
      // The vectorised max pooling covers unpadded windows; a padded one runs the reference kernel.
      const bool unpadded = l.pad_top == 0 && l.pad_left == 0 && l.in.h >= l.kernel && l.in.w >= l.kernel &&
                            l.out.h == (l.in.h - l.kernel) / l.stride + 1 && l.out.w == (l.in.w - l.kernel) / l.stride + 1;
      if (!unpadded) return false;
      opt_maxpool_s8(l, isa, in, out);
      return true;
    }
    case model::Op::AvgPool: avgpool_portable(l, in, out); return true;
    case model::Op::GlobalAvgPool:
      if (static_cast<int64_t>(l.in.h) * l.in.w > 16777215) return false;  // the reference's limit: it refuses
      global_avgpool_portable(l, in, out);
      return true;
    default: return false;
  }
}

}  // namespace qp::quant
