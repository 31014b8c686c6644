// The optimized host kernels for conv and dense: bit-exact to the reference kernels of src/runtime.
//
// Reference: acc = bias + sum w * (x + input_offset), skipping padded positions.
// Here the input patch is gathered (padded positions filled with the input zero point, so that
// x + input_offset = 0 there, as in the reference) and stored as unsigned u = x + 128, zero-padded
// to the 64-byte row of the packed weights. Then
//   sum w * (x + input_offset) = sum w * u + (input_offset - 128) * sum(w),
// an identity in integers: the same int32 accumulator as the reference. No partial sum can overflow:
// the quantizer proved |bias| + 255 * sum|w| < 2^31, and |sum w*u|, |(offset - 128) * sum w| are at
// most 255 * sum|w| and 256 * sum|w| (the int32 wraps of the final addition are exact anyway).
// The dot product uses AVX-512 VNNI (vpdpbusd: 64 u8 x s8 products per instruction) where the CPU
// has it, else a plain loop the compiler vectorises.
#include <algorithm>

#include "quant/qmodel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define QP_HAVE_VNNI_PATH 1
#endif

namespace qp::quant {

namespace {

int32_t dot_u8s8_portable(const uint8_t *u, const int8_t *w, size_t n) {
  int32_t s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<int32_t>(u[i]) * static_cast<int32_t>(w[i]);
  return s;
}

#ifdef QP_HAVE_VNNI_PATH
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t dot_u8s8_vnni(const uint8_t *u, const int8_t *w, size_t n) {
  __m512i acc = _mm512_set1_epi32(0);
  for (size_t i = 0; i < n; i += 64)
    acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(reinterpret_cast<const void *>(u + i)),
                              _mm512_loadu_si512(reinterpret_cast<const void *>(w + i)));
  // Horizontal sum through memory (GCC 12's _mm512_reduce_add_epi32 trips -Wuninitialized).
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(reinterpret_cast<void *>(lanes), acc);
  int32_t s = 0;
  for (int32_t v : lanes) s += v;
  return s;
}

bool cpu_has_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}
#endif

int32_t dot_u8s8(const uint8_t *u, const int8_t *w, size_t n) {
  return opt_dot_u8s8(u, w, n, true);
}

inline int8_t finish(int32_t acc, const QLayer &l, size_t c) {
  const int32_t v = qp_requant_apply_dr_s32(acc, l.multiplier[c], l.shift[c]) + l.output.zero_point;
  return static_cast<int8_t>(std::clamp(v, l.act_min, l.act_max));
}

inline uint8_t to_u8(int8_t x) {
  return static_cast<uint8_t>(static_cast<int32_t>(x) + 128);
}

}  // namespace

int32_t opt_dot_u8s8(const uint8_t *u, const int8_t *w, size_t n, bool allow_simd) {
#ifdef QP_HAVE_VNNI_PATH
  static const bool vnni = cpu_has_vnni();
  if (vnni && allow_simd) return dot_u8s8_vnni(u, w, n);
#endif
  (void)allow_simd;
  return dot_u8s8_portable(u, w, n);
}

OptWeights pack_opt_weights(const QLayer &l) {
  OptWeights o;
  const size_t oc = l.bias.size(), per = l.weight.size() / oc;
  o.row = (per + 63) / 64 * 64;
  o.w.assign(oc * o.row, 0);
  o.wsum.assign(oc, 0);
  for (size_t c = 0; c < oc; ++c)
    for (size_t i = 0; i < per; ++i) {
      o.w[c * o.row + i] = l.weight[c * per + i];
      o.wsum[c] += l.weight[c * per + i];
    }
  return o;
}

void conv_opt_s8(const QLayer &l, const OptWeights &ow, const int8_t *in, int8_t *out, uint8_t *patch) {
  const int ih = l.in.h, iw = l.in.w, ic = l.in.c, oh = l.out.h, ow_ = l.out.w, oc = l.out.c, k = l.kernel, s = l.stride;
  const int32_t offset = -l.input.zero_point - 128;
  const uint8_t pad_value = to_u8(static_cast<int8_t>(l.input.zero_point));
  const size_t per = static_cast<size_t>(k) * k * ic;
  std::fill(patch + per, patch + ow.row, uint8_t{0});
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow_; ++x) {
      uint8_t *p = patch;  // the patch in the filter's (ky, kx, ic) order
      for (int ky = 0; ky < k; ++ky) {
        const int sy = y * s + ky - l.pad_top;
        for (int kx = 0; kx < k; ++kx, p += ic) {
          const int sx = x * s + kx - l.pad_left;
          if (sy < 0 || sy >= ih || sx < 0 || sx >= iw) {
            std::fill(p, p + ic, pad_value);
          } else {
            const int8_t *src = in + (static_cast<size_t>(sy) * iw + sx) * ic;
            for (int c = 0; c < ic; ++c) p[c] = to_u8(src[c]);
          }
        }
      }
      int8_t *dst = out + (static_cast<size_t>(y) * ow_ + x) * oc;
      for (int c = 0; c < oc; ++c) {
        const auto cc = static_cast<size_t>(c);
        const int32_t acc = l.bias[cc] + offset * ow.wsum[cc] + dot_u8s8(patch, ow.w.data() + cc * ow.row, ow.row);
        dst[c] = finish(acc, l, cc);
      }
    }
}

void fc_opt_s8(const QLayer &l, const OptWeights &ow, const int8_t *in, int8_t *out, uint8_t *scratch) {
  const size_t n = static_cast<size_t>(l.in.c);
  for (size_t i = 0; i < n; ++i) scratch[i] = to_u8(in[i]);
  std::fill(scratch + n, scratch + ow.row, uint8_t{0});
  const int32_t offset = -l.input.zero_point - 128;
  for (int c = 0; c < l.out.c; ++c) {
    const auto cc = static_cast<size_t>(c);
    out[c] = finish(l.bias[cc] + offset * ow.wsum[cc] + dot_u8s8(scratch, ow.w.data() + cc * ow.row, ow.row), l, cc);
  }
}

}  // namespace qp::quant
