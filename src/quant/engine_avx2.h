// AVX2 (and AVX-512) helpers shared by the optimized engine's kernels (engine_opt.cpp, engine_wino.cpp,
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

QP_AVX2 inline __m256i load8(const std::vector<int32_t> &v, int c) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(v.data() + c));
}

// qp_requant_apply_dr_s32 in vector lanes, in three steps shared by every kernel (x = the accumulator already shifted
// left, wrapping as the reference's uint32 shift):
//
// high_mul: SaturatingRoundingDoublingHighMul without its saturation. TFLite writes the rounding as (ab + nudge) / 2^31
// truncated toward zero, nudge = ab >= 0 ? 2^30 : 1 - 2^30, which equals floor((ab + 2^30) / 2^31) for every ab (for
// ab < 0 the truncated quotient is the ceiling of (ab + 1 - 2^30) / 2^31, which is the floor of (ab + 2^30) / 2^31),
// so one add and one shift; ab + 2^30 cannot overflow (|ab| <= 2^62) and the quotient fits int32 (but for
// INT32_MIN * INT32_MIN). The 32 x 32 -> 64-bit products come in even and odd lanes; the low 32 bits of a logical
// shift right by 31 equal the arithmetic shift's (which AVX2 lacks for 64-bit lanes), and for the odd lanes a shift
// left by one puts the same bits 31..62 in the high half of the 64-bit lane, where the blend wants them.
// saturate: INT32_MAX where x and the multiplier are both INT32_MIN (the one overflowing product).
// rdbpot: qp_requant_rdbpot_s32 (rounding divide by 2^right, half away from zero):
// (h >> right) + (remainder > (rmask >> 1) + (h < 0)); rmask = 2^right - 1, half = rmask >> 1.
QP_AVX2 inline __m256i high_mul8(__m256i x, __m256i mult, __m256i mult_odd,
                                 __m256i nudge = _mm256_set1_epi64x(int64_t{1} << 30)) {
  const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, mult), nudge), 31);
  const __m256i odd = _mm256_slli_epi64(_mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), mult_odd), nudge), 1);
  return _mm256_blend_epi32(even, odd, 0xAA);
}

QP_AVX2 inline __m256i saturate8(__m256i h, __m256i x, __m256i mult) {
  const __m256i int_min = _mm256_set1_epi32(INT32_MIN);
  const __m256i sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, int_min), _mm256_cmpeq_epi32(mult, int_min));
  return _mm256_blendv_epi8(h, _mm256_set1_epi32(INT32_MAX), sat);
}

QP_AVX2 inline __m256i rdbpot8(__m256i h, __m256i right, __m256i rmask, __m256i half) {
  const __m256i rem = _mm256_and_si256(h, rmask);
  const __m256i thr = _mm256_sub_epi32(half, _mm256_srai_epi32(h, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(h, right), _mm256_cmpgt_epi32(rem, thr));
}

QP_AVX2 inline __m256i rdbpot8(__m256i h, __m256i right, __m256i rmask) {
  return rdbpot8(h, right, rmask, _mm256_srai_epi32(rmask, 1));
}

// The whole multiply on 8 lanes, every constant given as a vector (the Add's output rescale).
QP_AVX2 inline __m256i srdhm_rdbpot8(__m256i x, __m256i mult, __m256i right, __m256i rmask) {
  return rdbpot8(saturate8(high_mul8(x, mult, _mm256_srli_epi64(mult, 32)), x, mult), right, rmask);
}

// The same three steps on 16 lanes (AVX-512).
__attribute__((target("avx512f"))) inline __m512i high_mul16(__m512i x, __m512i mult, __m512i mult_odd,
                                                             __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30),
                                                             __mmask16 odd_lanes = 0xAAAA) {
  const __m512i even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, mult), nudge), 31);
  const __m512i odd = _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), mult_odd), nudge), 1);
  return _mm512_mask_blend_epi32(odd_lanes, even, odd);
}

// lanes: where the multiplier may be INT32_MIN (all 16 when unknown).
__attribute__((target("avx512f"))) inline __m512i saturate16(__m512i h, __m512i x, __m512i mult, __mmask16 lanes = 0xFFFF) {
  const __m512i int_min = _mm512_set1_epi32(INT32_MIN);
  const __mmask16 sat = _mm512_mask_cmpeq_epi32_mask(_mm512_mask_cmpeq_epi32_mask(lanes, mult, int_min), x, int_min);
  return _mm512_mask_mov_epi32(h, sat, _mm512_set1_epi32(INT32_MAX));
}

__attribute__((target("avx512f"))) inline __m512i rdbpot16(__m512i h, __m512i right, __m512i rmask, __m512i half,
                                                           __m512i one = _mm512_set1_epi32(1)) {
  const __m512i rem = _mm512_and_si512(h, rmask);
  const __m512i thr = _mm512_sub_epi32(half, _mm512_srai_epi32(h, 31));
  const __m512i r = _mm512_srav_epi32(h, right);
  return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, one);
}

__attribute__((target("avx512f"))) inline __m512i rdbpot16(__m512i h, __m512i right, __m512i rmask) {
  return rdbpot16(h, right, rmask, _mm512_srai_epi32(rmask, 1));
}

__attribute__((target("avx512f"))) inline __m512i srdhm_rdbpot16(__m512i x, __m512i mult, __m512i right, __m512i rmask) {
  return rdbpot16(saturate16(high_mul16(x, mult, _mm512_srli_epi64(mult, 32)), x, mult), right, rmask);
}

// A conv's requantization of output channels c .. c + 7, + zero point, clamp, the 8 int8 results in the low 8 bytes:
// the channels' parameters loaded once (rq8_load) and applied to every pixel of a register block (rq8_apply); the
// saturation step runs only where some multiplier is INT32_MIN.
struct Rq8 {
  __m256i left, mult, mult_odd, right, rmask, half, zp, lo, hi, nudge;
  bool sat;
};

QP_AVX2 inline Rq8 rq8_load(const OptWeights &o, int c) {
  Rq8 q;
  q.left = load8(o.left, c);
  q.mult = load8(o.mult, c);
  q.mult_odd = _mm256_srli_epi64(q.mult, 32);
  q.right = load8(o.right, c);
  q.rmask = load8(o.rmask, c);
  q.half = _mm256_srai_epi32(q.rmask, 1);
  q.zp = _mm256_set1_epi32(o.out_zp);
  q.lo = _mm256_set1_epi32(o.act_min);
  q.hi = _mm256_set1_epi32(o.act_max);
  q.sat = _mm256_movemask_epi8(_mm256_cmpeq_epi32(q.mult, _mm256_set1_epi32(INT32_MIN))) != 0;
  q.nudge = _mm256_set1_epi64x(int64_t{1} << 30);
  __asm__("" : "+x"(q.nudge), "+x"(q.zp), "+x"(q.lo), "+x"(q.hi));  // as in rq16_load
  return q;
}

QP_AVX2 inline __m128i rq8_apply(const Rq8 &q, __m256i acc) {
  const __m256i x = _mm256_sllv_epi32(acc, q.left);  // wraps, as the reference's uint32 shift
  __m256i h = high_mul8(x, q.mult, q.mult_odd, q.nudge);
  if (q.sat) h = saturate8(h, x, q.mult);
  __m256i r = rdbpot8(h, q.right, q.rmask, q.half);
  r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, q.zp), q.lo), q.hi);
  const __m128i r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));  // exact: in [-128, 127]
  return _mm_packs_epi16(r16, r16);
}

// One vector whose channels' parameters are used once.
QP_AVX2 inline __m128i requant8_avx2(__m256i acc, const OptWeights &o, int c) {
  return rq8_apply(rq8_load(o, c), acc);
}

// The same on 16 channels (AVX-512), narrowed to 16 int8.
struct Rq16 {
  __m512i left, mult, mult_odd, right, rmask, half, zp, lo, hi, nudge, one;
  __mmask16 sat;  // lanes whose multiplier is INT32_MIN
  __mmask16 odd;  // 0xAAAA
};

__attribute__((target("avx512f"))) inline Rq16 rq16_load(const OptWeights &o, int c) {
  Rq16 q;
  q.left = _mm512_loadu_si512(o.left.data() + c);
  q.mult = _mm512_loadu_si512(o.mult.data() + c);
  q.mult_odd = _mm512_srli_epi64(q.mult, 32);
  q.right = _mm512_loadu_si512(o.right.data() + c);
  q.rmask = _mm512_loadu_si512(o.rmask.data() + c);
  q.half = _mm512_srai_epi32(q.rmask, 1);
  q.zp = _mm512_set1_epi32(o.out_zp);
  q.lo = _mm512_set1_epi32(o.act_min);
  q.hi = _mm512_set1_epi32(o.act_max);
  q.sat = _mm512_cmpeq_epi32_mask(q.mult, _mm512_set1_epi32(INT32_MIN));
  q.nudge = _mm512_set1_epi64(int64_t{1} << 30);
  q.one = _mm512_set1_epi32(1);
  q.odd = 0xAAAA;
  // Opaque to GCC from here: as known constants it rebuilt them (a mov and a broadcast each) for every vector of a
  // block; as values they stay in registers or become memory operands.
  __asm__("" : "+v"(q.nudge), "+v"(q.one), "+v"(q.zp), "+v"(q.lo), "+v"(q.hi), "+k"(q.odd));
  return q;
}

// rq16_apply32: the clamped results as int32 (for callers that narrow several vectors at once); rq16_apply: as int8.
__attribute__((target("avx512f"))) inline __m512i rq16_apply32(const Rq16 &q, __m512i acc) {
  const __m512i x = _mm512_sllv_epi32(acc, q.left);  // wraps, as the reference's uint32 shift
  __m512i h = high_mul16(x, q.mult, q.mult_odd, q.nudge, q.odd);
  if (q.sat != 0) h = saturate16(h, x, q.mult, q.sat);
  const __m512i r = rdbpot16(h, q.right, q.rmask, q.half, q.one);
  return _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, q.zp), q.lo), q.hi);
}

__attribute__((target("avx512f"))) inline __m128i rq16_apply(const Rq16 &q, __m512i acc) {
  return _mm512_cvtepi32_epi8(rq16_apply32(q, acc));
}

// Single-rounding requantization (OptWeights::rqf; pack_rqf in engine_opt.cpp proves it equal to the above for the
// layer): t = acc * M + K (64-bit, K per channel with the nudges and the zero point), the result t >> (31 + right), then
// the clamp. The odd lanes' products shift by 32 less, which leaves their result in the high half, where the blend
// takes it. 16 channels c .. c + 15 (c a multiple of 16): rqf16, an arithmetic 64-bit shift; with sign (rqf 2) the
// constant is 2^31 smaller where acc * M < -2^30. 8 channels (a multiple of 8): rqf8, both forms; AVX2 shifts 64-bit
// lanes only logically, so K holds B * 2^(31 + right) more (enough that no sum is negative, with the sign step's 2^31
// too) and B is subtracted after the shift.
struct Rqf16 {
  __m512i mult, mult_odd, ke, ko, se, so, neg, two31;
  __m128i lo, hi;
  __mmask16 odd;
};

__attribute__((target("avx512f"))) inline Rqf16 rqf16_load(const OptWeights &o, int c) {
  Rqf16 q;
  q.mult = _mm512_loadu_si512(o.mult.data() + c);
  q.mult_odd = _mm512_srli_epi64(q.mult, 32);
  q.ke = _mm512_loadu_si512(o.rqk16.data() + c);
  q.ko = _mm512_loadu_si512(o.rqk16.data() + c + 8);
  q.se = _mm512_loadu_si512(o.rqs16.data() + c);
  q.so = _mm512_loadu_si512(o.rqs16.data() + c + 8);
  q.neg = _mm512_set1_epi64(-(int64_t{1} << 30));
  q.two31 = _mm512_set1_epi64(int64_t{1} << 31);
  q.lo = _mm_set1_epi8(static_cast<char>(o.act_min));
  q.hi = _mm_set1_epi8(static_cast<char>(o.act_max));
  q.odd = 0xAAAA;
  __asm__("" : "+v"(q.neg), "+v"(q.two31), "+v"(q.lo), "+v"(q.hi), "+k"(q.odd));  // as in rq16_load
  return q;
}

// rqf16_core: the single rounding on parameters passed one by one, the results as int32 before the clamp (gemm_t16 keeps
// the parameters per channel, not as an Rqf16). rqf16_apply32: the same on an Rqf16 (the caller saturates to int8 and
// clamps); rqf16_apply: clamped int8.
template <bool Signed>
__attribute__((target("avx512f"))) inline __m512i rqf16_core(__m512i acc, __m512i mult, __m512i mult_odd, __m512i ke,
                                                             __m512i ko, __m512i se, __m512i so, __m512i neg,
                                                             __m512i two31, __mmask16 odd) {
  const __m512i pe = _mm512_mul_epi32(acc, mult), po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mult_odd);
  __m512i te = _mm512_add_epi64(pe, ke), to = _mm512_add_epi64(po, ko);
  if constexpr (Signed) {
    te = _mm512_mask_sub_epi64(te, _mm512_cmplt_epi64_mask(pe, neg), te, two31);
    to = _mm512_mask_sub_epi64(to, _mm512_cmplt_epi64_mask(po, neg), to, two31);
  }
  return _mm512_mask_blend_epi32(odd, _mm512_srav_epi64(te, se), _mm512_srav_epi64(to, so));
}

template <bool Signed>
__attribute__((target("avx512f"))) inline __m512i rqf16_apply32(const Rqf16 &q, __m512i acc) {
  return rqf16_core<Signed>(acc, q.mult, q.mult_odd, q.ke, q.ko, q.se, q.so, q.neg, q.two31, q.odd);
}

template <bool Signed>
__attribute__((target("avx512f"))) inline __m128i rqf16_apply(const Rqf16 &q, __m512i acc) {
  const __m512i r = rqf16_apply32<Signed>(q, acc);
  return _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(r), q.lo), q.hi);  // vpmovsdb: exact for [-128, 127]
}

struct Rqf8 {
  __m256i mult, mult_odd, ke, ko, se, so, b, lo, hi, neg, two31;
};

QP_AVX2 inline Rqf8 rqf8_load(const OptWeights &o, int c) {
  Rqf8 q;
  q.mult = load8(o.mult, c);
  q.mult_odd = _mm256_srli_epi64(q.mult, 32);
  q.ke = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(o.rqk8.data() + c));
  q.ko = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(o.rqk8.data() + c + 4));
  q.se = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(o.rqs8.data() + c));
  q.so = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(o.rqs8.data() + c + 4));
  q.b = load8(o.rqb8, c);
  q.lo = _mm256_set1_epi32(o.act_min);
  q.hi = _mm256_set1_epi32(o.act_max);
  q.neg = _mm256_set1_epi64x(-(int64_t{1} << 30));
  q.two31 = _mm256_set1_epi64x(int64_t{1} << 31);
  __asm__("" : "+x"(q.lo), "+x"(q.hi));  // as in rq8_load
  return q;
}

// Signed: rqf 2 (the sign step: 2^31 less where acc * M < -2^30); else rqf 1.
template <bool Signed = false>
QP_AVX2 inline __m128i rqf8_apply(const Rqf8 &q, __m256i acc) {
  const __m256i pe = _mm256_mul_epi32(acc, q.mult), po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q.mult_odd);
  __m256i te = _mm256_add_epi64(pe, q.ke), to = _mm256_add_epi64(po, q.ko);
  if constexpr (Signed) {
    te = _mm256_sub_epi64(te, _mm256_and_si256(_mm256_cmpgt_epi64(q.neg, pe), q.two31));
    to = _mm256_sub_epi64(to, _mm256_and_si256(_mm256_cmpgt_epi64(q.neg, po), q.two31));
  }
  __m256i r = _mm256_blend_epi32(_mm256_srlv_epi64(te, q.se), _mm256_srlv_epi64(to, q.so), 0xAA);
  r = _mm256_min_epi32(_mm256_max_epi32(_mm256_sub_epi32(r, q.b), q.lo), q.hi);
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
