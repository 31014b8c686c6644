// AVX2 helpers shared by the optimized engine's kernels (engine_opt.cpp, engine_wino.cpp); x86-64 GCC only.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "quant/qmodel.h"

#define QP_AVX2 __attribute__((target("avx2")))

namespace qp::quant {

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

}  // namespace qp::quant
#endif
