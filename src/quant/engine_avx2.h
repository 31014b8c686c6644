// AVX2 (and two AVX-512) helpers shared by the optimized engine's kernels (engine_opt.cpp, engine_wino.cpp,
// engine_add.cpp); x86-64 GCC only.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/qmodel.h"

#define QP_AVX2 __attribute__((target("avx2")))

namespace qp::quant {

// SaturatingRoundingDoublingHighMul's rounding on 64-bit lanes holding ab = a * b: TFLite writes it as
// (ab + nudge) / 2^31 truncated toward zero, nudge = ab >= 0 ? 2^30 : 1 - 2^30, which equals floor((ab + 2^30) / 2^31)
// for every ab (for ab < 0 the truncated quotient is the ceiling of (ab + 1 - 2^30) / 2^31, which is the floor of
// (ab + 2^30) / 2^31), so one add and one shift; ab + 2^30 cannot overflow (|ab| <= 2^62). The quotient fits int32
// (the one overflowing case, INT32_MIN * INT32_MIN, is saturated by the caller) and the low 32 bits of a logical
// shift equal the arithmetic shift's, which AVX2 lacks for 64-bit lanes.
QP_AVX2 inline __m256i round_high64_avx2(__m256i ab) {
  return _mm256_srli_epi64(_mm256_add_epi64(ab, _mm256_set1_epi64x(int64_t{1} << 30)), 31);
}

// The same on 8 64-bit lanes (AVX-512; the low 32 bits of each lane are the result).
__attribute__((target("avx512f"))) inline __m512i round_high64_512(__m512i ab) {
  return _mm512_srli_epi64(_mm512_add_epi64(ab, _mm512_set1_epi64(int64_t{1} << 30)), 31);
}

QP_AVX2 inline __m256i load8(const std::vector<int32_t> &v, int c) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(v.data() + c));
}

// qp_requant_rdbpot_s32 (rounding divide by 2^right, half away from zero) on 8 lanes:
// (h >> right) + (remainder > (mask >> 1) + (h < 0)); rmask = 2^right - 1.
QP_AVX2 inline __m256i rdbpot8(__m256i h, __m256i right, __m256i rmask) {
  const __m256i rem = _mm256_and_si256(h, rmask);
  const __m256i thr = _mm256_sub_epi32(_mm256_srai_epi32(rmask, 1), _mm256_srai_epi32(h, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(h, right), _mm256_cmpgt_epi32(rem, thr));
}

// The same on 16 lanes (AVX-512).
__attribute__((target("avx512f"))) inline __m512i rdbpot16(__m512i h, __m512i right, __m512i rmask) {
  const __m512i rem = _mm512_and_si512(h, rmask);
  const __m512i thr = _mm512_sub_epi32(_mm512_srai_epi32(rmask, 1), _mm512_srai_epi32(h, 31));
  const __m512i r = _mm512_srav_epi32(h, right);
  return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, _mm512_set1_epi32(1));
}

// qp_requant_apply_dr_s32 on 8 lanes from x = the accumulator already shifted left (wrapping, as the reference's
// uint32 shift): the high multiply with TFLite's rounding and INT32_MIN * INT32_MIN saturation, then rdbpot8.
QP_AVX2 inline __m256i srdhm_rdbpot8(__m256i x, __m256i mult, __m256i right, __m256i rmask) {
  const __m256i even = round_high64_avx2(_mm256_mul_epi32(x, mult));
  const __m256i odd = round_high64_avx2(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32)));
  __m256i h = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i int_min = _mm256_set1_epi32(INT32_MIN);
  const __m256i sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, int_min), _mm256_cmpeq_epi32(mult, int_min));
  h = _mm256_blendv_epi8(h, _mm256_set1_epi32(INT32_MAX), sat);
  return rdbpot8(h, right, rmask);
}

// The same on 16 lanes (AVX-512).
__attribute__((target("avx512f"))) inline __m512i srdhm_rdbpot16(__m512i x, __m512i mult, __m512i right, __m512i rmask) {
  const __m512i even = round_high64_512(_mm512_mul_epi32(x, mult));
  const __m512i odd = round_high64_512(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32)));
  __m512i h = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  const __m512i int_min = _mm512_set1_epi32(INT32_MIN);
  const __mmask16 sat = _mm512_cmpeq_epi32_mask(x, int_min) & _mm512_cmpeq_epi32_mask(mult, int_min);
  h = _mm512_mask_mov_epi32(h, sat, _mm512_set1_epi32(INT32_MAX));
  return rdbpot16(h, right, rmask);
}

// qp_requant_apply_dr_s32 on 8 lanes (channels c .. c + 7), + zero point, clamp; the 8 int8 results in
// the low 8 bytes.
QP_AVX2 inline __m128i requant8_avx2(__m256i acc, const OptWeights &o, int c) {
  const __m256i x = _mm256_sllv_epi32(acc, load8(o.left, c));  // wraps, as the reference's uint32 shift
  __m256i r = srdhm_rdbpot8(x, load8(o.mult, c), load8(o.right, c), load8(o.rmask, c));
  r = _mm256_add_epi32(r, _mm256_set1_epi32(o.out_zp));
  r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(o.act_min)), _mm256_set1_epi32(o.act_max));
  const __m128i r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));  // exact: in [-128, 127]
  return _mm_packs_epi16(r16, r16);
}

// Stores the low n (1..8) int8 results of v at dst: 8 bytes at once, fewer through a staging copy so that
// nothing past dst[n - 1] is written (the next channel group or the next pixel may live there).
QP_AVX2 inline void store8_s8(int8_t *dst, __m128i v, int n) {
  if (n >= 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i *>(dst), v);
    return;
  }
  alignas(16) int8_t tmp[16];
  _mm_store_si128(reinterpret_cast<__m128i *>(tmp), v);
  std::memcpy(dst, tmp, static_cast<size_t>(n));
}

}  // namespace qp::quant
#endif
