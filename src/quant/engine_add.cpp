// Elementwise int8 ADD for the optimized host engine, bit-exact to qp_add_run_s8 (src/runtime/qp_add_s8.c).
//
// The reference does three double-rounding multiplies per value (qp_requant_apply_dr_s32): one per input, whose
// multiplier is at most 1/2 (shift <= 0, so no left shift there), and one for the sum, whose shift may be positive (a
// left shift that wraps in uint32, as the reference's). The vector forms below are those steps lane by lane: the
// 32 x 32 -> 64-bit product in even and odd lanes, the nudge toward zero, the INT32_MIN * INT32_MIN saturation, the
// rounding right shift with its remainder test. Inputs off their zero points are in [-255, 255], so (x + offset) << 20
// never wraps and the two rescaled values add without overflow (|sum| < 2^28), exactly as in the reference.
//
// The input rescales need no 64-bit lanes. With v = x + offset (|v| <= 255) the reference multiplies v * 2^20 by
// the multiplier m and rounds: floor((v * 2^20 * m + 2^30) / 2^31) (its nudge-and-truncate equals this floor for
// every product; v * 2^20 is never INT32_MIN, so no saturation) = floor((v * m + 2^10) / 2^11). Split m = mh * 2^16
// + ml (mh = m >> 16 arithmetic, 0 <= ml < 2^16, any int32 m): v * mh * 2^16 is a multiple of 2^11, so the value is
// (v * mh) * 2^5 + floor((v * ml + 2^10) / 2^11), where |v * mh| < 2^23 and |v * ml| < 2^24: 32-bit multiplies and
// an arithmetic shift. Then the reference's rounding right shift. The output rescale (|sum| < 2^29, any multiplier
// and shift) keeps the 64-bit form.
//
// Where the CPU has AVX-512 VBMI the input rescales are not computed at all but looked up in the caller's tables
// (add_vbmi below). Where the parameters allow it (out_rqf), the output rescale is one rounding in 64-bit lanes instead
// of the reference's two, equal for every sum the tables can make.
#include "quant/engine_add.h"

#include <algorithm>

#include "qp_runtime_mcu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

#include "quant/engine_avx2.h"
#define QP_ADD_X86 1
#define QP_ADD_512 __attribute__((target("avx512f,avx512bw,avx512vl")))
static_assert(QP_ADD_LEFT_SHIFT == 20, "the input rescale below assumes TFLite's left shift of 20");
#endif

namespace qp::quant {

namespace {

// The reference's parameter checks (qp_add_run_s8): the vector loops run only where it would.
qp_status_t check_add(const qp_add_params_t &p) {
  if (p.input1_offset < -127 || p.input1_offset > 128 || p.input2_offset < -127 || p.input2_offset > 128 ||
      p.output_offset < -128 || p.output_offset > 127 || p.act_min < -128 || p.act_max > 127 || p.act_min > p.act_max)
    return QP_STATUS_BAD_ARGUMENT;
  if (p.input1_shift > 0 || p.input2_shift > 0 || p.input1_shift < -31 || p.input2_shift < -31 ||
      p.output_shift < -31 || p.output_shift > 30)
    return QP_STATUS_BAD_SHIFT;
  return QP_STATUS_OK;
}

#ifdef QP_ADD_X86
// One double-rounding multiply's constants, broadcast: multiplier, left shift, right shift, remainder mask.
struct Dr {
  int32_t mult, left, right, mask;
  Dr(int32_t m, int32_t shift)
      : mult(m), left(shift > 0 ? shift : 0), right(shift > 0 ? 0 : -shift),
        mask(static_cast<int32_t>((uint32_t{1} << (shift > 0 ? 0 : -shift)) - 1u)) {}
};

// The output rescale as one rounding, the optimized convs' single-rounding requantization (pack_rqf in engine_opt.cpp
// has the derivation): where the output shift is a right shift r in 1..30 and the multiplier M >= 0, the reference's
// DR(x) = floor((x M + 2^30 + 2^(30 + r) - (h < 0 ? 2^31 : 0)) / 2^(31 + r)) with h < 0 exactly where x M < -2^30;
// where act_min >= the output zero point a negative h clamps to act_min by either constant (form One), otherwise the
// kernel picks it by sign (form Signed). The sum x = t1[a] + t2[b] lies between the tables' extremes, which are their
// end entries (each input rescale is monotone in the input byte), so its range is known; K holds B * 2^(31 + r) more,
// the least that keeps every numerator >= 0 (AVX2 shifts 64-bit lanes only logically; the AVX-512 forms use B = 0),
// and the lanes add zp - B after the shift. Form Dr (none of this) where the conditions or the 64-bit bounds fail.
enum class OutForm { Dr, One, Signed };

struct OutRqf {
  OutForm form = OutForm::Dr;
  int64_t k = 0;     // 2^30 + 2^(30 + r) (+ B * 2^(31 + r) where `positive`)
  int32_t add = 0;   // zp (- B where `positive`), added after the shift
  int sh = 0;        // 31 + r
};

OutRqf out_rqf(const qp_add_params_t &p, const int32_t *table, bool positive) {
  using i128 = __int128;
  OutRqf q;
  const int r = -p.output_shift;
  const int64_t m = p.output_multiplier;
  if (r < 1 || r > 30 || m < 0) return q;
  const int64_t xlo = int64_t{std::min(table[0], table[255])} + std::min(table[256], table[511]);
  const int64_t xhi = int64_t{std::max(table[0], table[255])} + std::max(table[256], table[511]);
  const bool one = p.act_min >= p.output_offset;
  const int sh = 31 + r;
  const i128 unit = i128{1} << sh, k = (i128{1} << 30) + (i128{1} << (30 + r));
  const i128 lo = i128{xlo} * m + k - (one ? 0 : i128{1} << 31), hi = i128{xhi} * m + k;  // M >= 0: grows with x
  const i128 b = positive && lo < 0 ? (-lo + unit - 1) / unit : 0;
  const i128 lim = i128{1} << 62;
  if (lo <= -lim || hi + b * unit >= lim) return q;
  if ((lo >> sh) - b + p.output_offset < INT32_MIN || (hi >> sh) + p.output_offset > INT32_MAX) return q;
  q.form = one ? OutForm::One : OutForm::Signed;
  q.k = static_cast<int64_t>(k + b * unit);
  q.add = static_cast<int32_t>(p.output_offset - b);
  q.sh = sh;
  return q;
}

// qp_requant_apply_dr_s32 on 8 lanes, one multiplier and shift for all (srdhm_rdbpot8: engine_avx2.h).
QP_AVX2 inline __m256i dr8(__m256i acc, const Dr &d) {
  const __m256i x = _mm256_sll_epi32(acc, _mm_cvtsi32_si128(d.left));  // wraps, as the reference's uint32 shift
  return srdhm_rdbpot8(x, _mm256_set1_epi32(d.mult), _mm256_set1_epi32(d.right), _mm256_set1_epi32(d.mask));
}

// One input's rescale on 8 lanes: v = x + offset, as derived above, then the rounding shift by d.right.
QP_AVX2 inline __m256i in8(__m256i v, const Dr &d) {
  const __m256i hi = _mm256_slli_epi32(_mm256_mullo_epi32(v, _mm256_set1_epi32(d.mult >> 16)), 5);
  const __m256i lo = _mm256_mullo_epi32(v, _mm256_set1_epi32(d.mult & 0xFFFF));
  const __m256i h = _mm256_add_epi32(hi, _mm256_srai_epi32(_mm256_add_epi32(lo, _mm256_set1_epi32(1 << 10)), 11));
  return rdbpot8(h, _mm256_set1_epi32(d.right), _mm256_set1_epi32(d.mask));
}

// The output rescale of 8 sums, + zero point (OutRqf; form Dr: the reference's two roundings).
struct Out8 {
  Dr d;
  __m256i zp, m, k, add, neg, two31;
  __m128i se, so;
  QP_AVX2 Out8(const qp_add_params_t &p, const OutRqf &q)
      : d(p.output_multiplier, p.output_shift), zp(_mm256_set1_epi32(p.output_offset)),
        m(_mm256_set1_epi32(p.output_multiplier)), k(_mm256_set1_epi64x(q.k)),
        add(_mm256_set1_epi32(q.add)), neg(_mm256_set1_epi64x(-(int64_t{1} << 30))),
        two31(_mm256_set1_epi64x(int64_t{1} << 31)), se(_mm_cvtsi32_si128(q.sh)), so(_mm_cvtsi32_si128(q.sh - 32)) {}
};

template <OutForm F>
QP_AVX2 inline __m256i out8(__m256i x, const Out8 &o) {
  if constexpr (F == OutForm::Dr) {
    return _mm256_add_epi32(dr8(x, o.d), o.zp);  // wraps, as the reference's uint32 add
  } else {
    const __m256i pe = _mm256_mul_epi32(x, o.m), po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), o.m);
    __m256i te = _mm256_add_epi64(pe, o.k), to = _mm256_add_epi64(po, o.k);
    if constexpr (F == OutForm::Signed) {
      te = _mm256_sub_epi64(te, _mm256_and_si256(_mm256_cmpgt_epi64(o.neg, pe), o.two31));
      to = _mm256_sub_epi64(to, _mm256_and_si256(_mm256_cmpgt_epi64(o.neg, po), o.two31));
    }
    return _mm256_add_epi32(_mm256_blend_epi32(_mm256_srl_epi64(te, o.se), _mm256_srl_epi64(to, o.so), 0xAA), o.add);
  }
}

template <OutForm F>
QP_AVX2 int32_t add_avx2(const qp_add_params_t &p, const OutRqf &q, int32_t n, const int8_t *a, const int8_t *b,
                         int8_t *out) {
  const Dr d1(p.input1_multiplier, p.input1_shift), d2(p.input2_multiplier, p.input2_shift);
  const Out8 o(p, q);
  const __m256i off1 = _mm256_set1_epi32(p.input1_offset), off2 = _mm256_set1_epi32(p.input2_offset);
  const __m256i lo = _mm256_set1_epi32(p.act_min), hi = _mm256_set1_epi32(p.act_max);
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i x1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(a + i)));
    const __m256i x2 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(b + i)));
    const __m256i s1 = in8(_mm256_add_epi32(x1, off1), d1);
    const __m256i s2 = in8(_mm256_add_epi32(x2, off2), d2);
    __m256i r = out8<F>(_mm256_add_epi32(s1, s2), o);
    r = _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
    const __m128i r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));  // in [-128, 127]
    _mm_storel_epi64(reinterpret_cast<__m128i *>(out + i), _mm_packs_epi16(r16, r16));
  }
  return i;
}

// GCC 12's AVX-512 headers build vectors from _mm512_undefined_*() and trip -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"


// The same on 16 lanes (srdhm_rdbpot16: engine_avx2.h).
QP_ADD_512 inline __m512i dr16(__m512i acc, const Dr &d) {
  const __m512i x = _mm512_sll_epi32(acc, _mm_cvtsi32_si128(d.left));  // wraps, as the reference's uint32 shift
  return srdhm_rdbpot16(x, _mm512_set1_epi32(d.mult), _mm512_set1_epi32(d.right), _mm512_set1_epi32(d.mask));
}

// The same on 16 lanes.
QP_ADD_512 inline __m512i in16(__m512i v, const Dr &d) {
  const __m512i hi = _mm512_slli_epi32(_mm512_mullo_epi32(v, _mm512_set1_epi32(d.mult >> 16)), 5);
  const __m512i lo = _mm512_mullo_epi32(v, _mm512_set1_epi32(d.mult & 0xFFFF));
  const __m512i h = _mm512_add_epi32(hi, _mm512_srai_epi32(_mm512_add_epi32(lo, _mm512_set1_epi32(1 << 10)), 11));
  return rdbpot16(h, _mm512_set1_epi32(d.right), _mm512_set1_epi32(d.mask));
}

// The output rescale of 16 sums, + zero point (OutRqf, arithmetic shifts: B = 0).
struct Out16 {
  Dr d;
  __m512i zp, m, k, add, neg, two31;
  __m128i se, so;
  QP_ADD_512 Out16(const qp_add_params_t &p, const OutRqf &q)
      : d(p.output_multiplier, p.output_shift), zp(_mm512_set1_epi32(p.output_offset)),
        m(_mm512_set1_epi32(p.output_multiplier)), k(_mm512_set1_epi64(q.k)), add(_mm512_set1_epi32(q.add)),
        neg(_mm512_set1_epi64(-(int64_t{1} << 30))), two31(_mm512_set1_epi64(int64_t{1} << 31)),
        se(_mm_cvtsi32_si128(q.sh)), so(_mm_cvtsi32_si128(q.sh - 32)) {}
};

template <OutForm F>
QP_ADD_512 inline __m512i out16(__m512i x, const Out16 &o) {
  if constexpr (F == OutForm::Dr) {
    return _mm512_add_epi32(dr16(x, o.d), o.zp);  // wraps, as the reference's uint32 add
  } else {
    const __m512i pe = _mm512_mul_epi32(x, o.m), po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), o.m);
    __m512i te = _mm512_add_epi64(pe, o.k), to = _mm512_add_epi64(po, o.k);
    if constexpr (F == OutForm::Signed) {
      te = _mm512_mask_sub_epi64(te, _mm512_cmplt_epi64_mask(pe, o.neg), te, o.two31);
      to = _mm512_mask_sub_epi64(to, _mm512_cmplt_epi64_mask(po, o.neg), to, o.two31);
    }
    return _mm512_add_epi32(_mm512_mask_blend_epi32(0xAAAA, _mm512_sra_epi64(te, o.se), _mm512_sra_epi64(to, o.so)), o.add);
  }
}

template <OutForm F>
QP_ADD_512 int32_t add_512(const qp_add_params_t &p, const OutRqf &q, int32_t n, const int8_t *a, const int8_t *b,
                           int8_t *out) {
  const Dr d1(p.input1_multiplier, p.input1_shift), d2(p.input2_multiplier, p.input2_shift);
  const Out16 o(p, q);
  const __m512i off1 = _mm512_set1_epi32(p.input1_offset), off2 = _mm512_set1_epi32(p.input2_offset);
  const __m512i lo = _mm512_set1_epi32(p.act_min), hi = _mm512_set1_epi32(p.act_max);
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x1 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i)));
    const __m512i x2 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + i)));
    const __m512i s1 = in16(_mm512_add_epi32(x1, off1), d1);
    const __m512i s2 = in16(_mm512_add_epi32(x2, off2), d2);
    __m512i r = out16<F>(_mm512_add_epi32(s1, s2), o);
    r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(out + i), _mm512_cvtepi32_epi8(r));
  }
  return i;
}

// AVX-512 VBMI (Ice Lake, Zen 4 and later): the two input rescales read from the caller's table (qp_add_table_mcu_s8:
// the reference's own values, table[128 + v] and table[384 + v]) instead of computed, 64 values at a time. Each
// table is split into four byte planes of 256 entries, indexed by the input byte as unsigned (entry u holds the value
// for v = (int8_t)u, i.e. table index u ^ 0x80); vpermi2b looks up 64 bytes in 128 entries, so each plane takes two
// lookups and a blend on the input's sign bit. The planes are put back together as int32 with byte then word
// unpacks, which leave the 64 values in four vectors of 16 ordered within each 128-bit lane; the output rescale runs
// lane by lane on those, and the signed packs that narrow the results undo exactly that order.
#define QP_ADD_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

bool cpu_has_vbmi() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vbmi") != 0;
}

struct Planes {
  alignas(64) uint8_t b[4][256];
};

// The four byte planes of one input's 256 table entries t[0..255] (t[k] for v = k - 128).
QP_ADD_VBMI void make_planes(const int32_t *t, Planes &pl) {
  for (int j = 0; j < 16; ++j) {
    const __m512i e = _mm512_loadu_si512(t + ((16 * j) ^ 0x80));  // the values of bytes 16j .. 16j + 15
    _mm_store_si128(reinterpret_cast<__m128i *>(pl.b[0] + 16 * j), _mm512_cvtepi32_epi8(e));
    _mm_store_si128(reinterpret_cast<__m128i *>(pl.b[1] + 16 * j), _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, 8)));
    _mm_store_si128(reinterpret_cast<__m128i *>(pl.b[2] + 16 * j), _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, 16)));
    _mm_store_si128(reinterpret_cast<__m128i *>(pl.b[3] + 16 * j), _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, 24)));
  }
}

QP_ADD_VBMI inline __m512i plane_lookup(const uint8_t *plane, __m512i x, __mmask64 high) {
  const __m512i lo = _mm512_permutex2var_epi8(_mm512_load_si512(plane), x, _mm512_load_si512(plane + 64));
  const __m512i hi = _mm512_permutex2var_epi8(_mm512_load_si512(plane + 128), x, _mm512_load_si512(plane + 192));
  return _mm512_mask_blend_epi8(high, lo, hi);
}

// The rescaled values of 64 input bytes x as four int32 vectors (elements 0-3, 4-7, 8-11, 12-15 of each 128-bit lane).
QP_ADD_VBMI inline void rescale64(const Planes &pl, __m512i x, __m512i v[4]) {
  const __mmask64 high = _mm512_movepi8_mask(x);
  const __m512i p0 = plane_lookup(pl.b[0], x, high), p1 = plane_lookup(pl.b[1], x, high);
  const __m512i p2 = plane_lookup(pl.b[2], x, high), p3 = plane_lookup(pl.b[3], x, high);
  const __m512i w01l = _mm512_unpacklo_epi8(p0, p1), w01h = _mm512_unpackhi_epi8(p0, p1);
  const __m512i w23l = _mm512_unpacklo_epi8(p2, p3), w23h = _mm512_unpackhi_epi8(p2, p3);
  v[0] = _mm512_unpacklo_epi16(w01l, w23l);
  v[1] = _mm512_unpackhi_epi16(w01l, w23l);
  v[2] = _mm512_unpacklo_epi16(w01h, w23h);
  v[3] = _mm512_unpackhi_epi16(w01h, w23h);
}

template <OutForm F>
QP_ADD_VBMI int32_t add_vbmi(const qp_add_params_t &p, const OutRqf &q, const int32_t *table, int32_t n,
                             const int8_t *a, const int8_t *b, int8_t *out) {
  if (n < 64) return 0;
  Planes pa, pb;
  make_planes(table, pa);
  make_planes(table + 256, pb);
  const Out16 o(p, q);
  const __m512i lo = _mm512_set1_epi32(p.act_min), hi = _mm512_set1_epi32(p.act_max);
  int32_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512i s1[4], s2[4], r[4];
    rescale64(pa, _mm512_loadu_si512(a + i), s1);
    rescale64(pb, _mm512_loadu_si512(b + i), s2);
    for (int k = 0; k < 4; ++k) {
      r[k] = out16<F>(_mm512_add_epi32(s1[k], s2[k]), o);
      r[k] = _mm512_min_epi32(_mm512_max_epi32(r[k], lo), hi);
    }
    const __m512i w = _mm512_packs_epi16(_mm512_packs_epi32(r[0], r[1]), _mm512_packs_epi32(r[2], r[3]));  // exact
    _mm512_storeu_si512(out + i, w);
  }
  return i;
}
#pragma GCC diagnostic pop
#endif

}  // namespace

qp_status_t opt_add_s8(const qp_add_params_t &p, const int32_t *table, OptIsa isa, int32_t length, const int8_t *in1,
                       const int8_t *in2, int8_t *out) {
  if (!table || !in1 || !in2 || !out || length <= 0) return QP_STATUS_BAD_ARGUMENT;
  const qp_status_t st = check_add(p);
  if (st != QP_STATUS_OK) return st;
  int32_t done = 0;
#ifdef QP_ADD_X86
  const OptIsa r = opt_isa_effective(isa);
  if (!opt_isa_available(r)) {
    // A kernel set this CPU lacks runs nothing of it (Int8Engine refuses one at construction).
  } else if (r == OptIsa::Avx512Vnni) {
    static const bool vbmi = cpu_has_vbmi();
    const OutRqf q = out_rqf(p, table, false);
    switch (q.form) {
      case OutForm::Dr:
        if (vbmi) done = add_vbmi<OutForm::Dr>(p, q, table, length, in1, in2, out);
        done += add_512<OutForm::Dr>(p, q, length - done, in1 + done, in2 + done, out + done);
        break;
      case OutForm::One:
        if (vbmi) done = add_vbmi<OutForm::One>(p, q, table, length, in1, in2, out);
        done += add_512<OutForm::One>(p, q, length - done, in1 + done, in2 + done, out + done);
        break;
      case OutForm::Signed:
        if (vbmi) done = add_vbmi<OutForm::Signed>(p, q, table, length, in1, in2, out);
        done += add_512<OutForm::Signed>(p, q, length - done, in1 + done, in2 + done, out + done);
        break;
    }
  } else if (r == OptIsa::Avx2 || r == OptIsa::AvxVnni) {
    const OutRqf q = out_rqf(p, table, true);
    switch (q.form) {
      case OutForm::Dr: done = add_avx2<OutForm::Dr>(p, q, length, in1, in2, out); break;
      case OutForm::One: done = add_avx2<OutForm::One>(p, q, length, in1, in2, out); break;
      case OutForm::Signed: done = add_avx2<OutForm::Signed>(p, q, length, in1, in2, out); break;
    }
  }
#else
  (void)isa;
#endif
  if (done == length) return QP_STATUS_OK;
  return qp_add_run_mcu_s8(&p, table, length - done, in1 + done, in2 + done, out + done);
}

}  // namespace qp::quant
