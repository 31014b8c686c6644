// The optimized host kernels for conv and dense: bit-exact to the reference kernels of src/runtime.
//
// Reference: acc = bias + sum w * (x + input_offset), skipping padded positions.
// Here:      acc = bias + input_offset * sum(w) + sum w * x', where x' is the input patch with padded
//            positions filled with the input zero point (x' + input_offset = 0 there, so they add
//            nothing), i.e. the same integer. The int32 sums cannot overflow: the quantizer proved
//            |bias| + 255 * sum|w| < 2^31, and |x'| <= 128, |input_offset * sum(w)| <= 128 * sum|w|.
// The inner dot product is a plain loop over contiguous int8 data that GCC vectorises; it is
// compiled for Ice Lake-class AVX-512, AVX2 and the baseline, and the CPU picks at load time.
#include <algorithm>

#include "quant/qmodel.h"

namespace qp::quant {

namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=icelake-server", "avx2", "default")))
#endif
int32_t
dot_s8(const int8_t *a, const int8_t *b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return s;
}

inline int8_t finish(int32_t acc, const QLayer &l, size_t c) {
  const int32_t v = qp_requant_apply_dr_s32(acc, l.multiplier[c], l.shift[c]) + l.output.zero_point;
  return static_cast<int8_t>(std::clamp(v, l.act_min, l.act_max));
}

}  // namespace

void conv_opt_s8(const QLayer &l, const int32_t *wsum, const int8_t *in, int8_t *out, int8_t *patch) {
  const int ih = l.in.h, iw = l.in.w, ic = l.in.c, oh = l.out.h, ow = l.out.w, oc = l.out.c, k = l.kernel, s = l.stride;
  const int per = k * k * ic;
  const int32_t offset = -l.input.zero_point;
  const auto pad_value = static_cast<int8_t>(l.input.zero_point);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      // Gather the patch in the filter's (ky, kx, ic) order.
      int8_t *p = patch;
      for (int ky = 0; ky < k; ++ky) {
        const int sy = y * s + ky - l.pad_top;
        for (int kx = 0; kx < k; ++kx, p += ic) {
          const int sx = x * s + kx - l.pad_left;
          if (sy < 0 || sy >= ih || sx < 0 || sx >= iw)
            std::fill(p, p + ic, pad_value);
          else
            std::copy(in + (static_cast<size_t>(sy) * iw + sx) * ic, in + (static_cast<size_t>(sy) * iw + sx + 1) * ic, p);
        }
      }
      int8_t *dst = out + (static_cast<size_t>(y) * ow + x) * oc;
      for (int c = 0; c < oc; ++c) {
        const int32_t acc = l.bias[static_cast<size_t>(c)] + offset * wsum[c] +
                            dot_s8(l.weight.data() + static_cast<size_t>(c) * per, patch, per);
        dst[c] = finish(acc, l, static_cast<size_t>(c));
      }
    }
}

void fc_opt_s8(const QLayer &l, const int32_t *wsum, const int8_t *in, int8_t *out) {
  const int n = l.in.c;
  const int32_t offset = -l.input.zero_point;
  for (int c = 0; c < l.out.c; ++c) {
    const int32_t acc =
        l.bias[static_cast<size_t>(c)] + offset * wsum[c] + dot_s8(l.weight.data() + static_cast<size_t>(c) * n, in, n);
    out[c] = finish(acc, l, static_cast<size_t>(c));
  }
}

}  // namespace qp::quant
