// The optimized host engine's remaining ops, bit-exact to the reference kernels of src/runtime: Pad, Mean, Concat,
// Softmax, padded max pooling, the depthwise staging for depth multiplier > 1, the model-aware packing and the
// per-layer coverage (which layers opt_run_layer runs itself).
//
// These ops move or sum bytes; their arithmetic is the reference's, reused rather than written again:
//  - Pad: the padded rows and the columns either side of each input row filled with the zero point, each input row
//    copied once (qp_pad_s8 fills the whole output first, then copies).
//  - Concat: an input with the output's scale and zero point is copied (one memcpy per pixel and input); one that
//    needs requantization goes through a 256-entry table of output bytes, computed at packing time by running the
//    reference kernel qp_concat_run_s8 on the 256 possible input bytes (its output depends on the byte alone).
//  - Mean: int32 sums with the channels innermost (vectorised by the compiler; an AVX2 clone where the kernel set is
//    avx2 or avx512-vnni), then qp_mean_s8's folding of 1/(H*W) into the multiplier and the runtime's
//    qp_requant_apply_dr_s32, once per channel.
//  - Softmax: qp_softmax_run_s8 itself. A softmax runs once per image over the class vector (a few values): there
//    is nothing to gain from another kernel, so the optimized engine calls the reference one, deliberately.
//  - Max pooling with padded windows: the in-bounds part of each window, channels innermost (-128 start, as the
//    reference), auto-vectorised, with an AVX2 clone.
//  - Depthwise with multiplier M > 1: the multiplier-1 kernels of engine_opt.cpp over the output channels, on an
//    input staged with each channel repeated M times (opt_stage_dw_expand).
// Average pooling with 'same' padding runs engine_opt.cpp's avgpool_portable (TFLite's count of in-bounds positions).
#include "quant/engine_opt_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/multiplier.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QP_OPS_AVX2 1
#define QP_OPS_AVX2_TARGET __attribute__((target("avx2")))
#endif

namespace qp::quant {

namespace {

#ifdef QP_OPS_AVX2
// Whether a kernel set runs the AVX2 clones (avx2, avx-vnni and avx512-vnni; Auto: what the CPU has).
bool use_avx2(OptIsa isa) {
  if (isa == OptIsa::Avx2 || isa == OptIsa::AvxVnni || isa == OptIsa::Avx512Vnni) return true;
  return isa == OptIsa::Auto && opt_isa_available(OptIsa::Avx2);
}
#endif

// ---- Pad ----
bool pad_s8(const QLayer &l, const int8_t *in, int8_t *out) {
  const int ih = l.in.h, iw = l.in.w, oh = l.out.h, ow = l.out.w, pt = l.pad_top, pl = l.pad_left;
  if (l.out.c != l.in.c || ih < 1 || iw < 1 || l.in.c < 1 || pt < 0 || pl < 0 || ih + pt > oh || iw + pl > ow) return false;
  const auto c = static_cast<size_t>(l.in.c), row = static_cast<size_t>(ow) * c;
  const auto v = static_cast<int8_t>(l.q.input.zero_point);  // as ops/pad.cpp passes it
  std::memset(out, v, static_cast<size_t>(pt) * row);
  const size_t left = static_cast<size_t>(pl) * c, mid = static_cast<size_t>(iw) * c, right = row - left - mid;
  for (int y = 0; y < ih; ++y) {
    int8_t *d = out + static_cast<size_t>(y + pt) * row;
    std::memset(d, v, left);
    std::memcpy(d + left, in + static_cast<size_t>(y) * mid, mid);
    std::memset(d + left + mid, v, right);
  }
  std::memset(out + static_cast<size_t>(ih + pt) * row, v, static_cast<size_t>(oh - ih - pt) * row);
  return true;
}

// ---- Mean ----
__attribute__((always_inline)) inline void channel_sums(const int8_t *in, int n, int c, int32_t *acc) {
  std::fill_n(acc, c, 0);
  for (int p = 0; p < n; ++p) {
    const int8_t *src = in + static_cast<size_t>(p) * c;
    for (int i = 0; i < c; ++i) acc[i] += src[i];
  }
}

void channel_sums_portable(const int8_t *in, int n, int c, int32_t *acc) {
  channel_sums(in, n, c, acc);
}

#ifdef QP_OPS_AVX2
QP_OPS_AVX2_TARGET void channel_sums_avx2(const int8_t *in, int n, int c, int32_t *acc) {
  channel_sums(in, n, c, acc);
}
#endif

int32_t floor_log2(int64_t n) {
  int32_t b = 0;
  while (n > 1) n >>= 1, ++b;
  return b;
}

bool mean_s8(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out) {
  if (l.q.multiplier.empty() || l.q.shift.empty()) return false;
  const int32_t in_off = -l.q.input.zero_point, out_off = l.q.output.zero_point, m0 = l.q.multiplier[0], s0 = l.q.shift[0];
  const int64_t n = static_cast<int64_t>(l.in.h) * l.in.w;
  // qp_mean_s8's contract; outside it the reference reports the error
  if (l.in.h < 1 || l.in.w < 1 || l.in.c < 1 || in_off < -127 || in_off > 128 || out_off < -128 || out_off > 127 || m0 < 0 ||
      n > 16777215 || s0 < -31 || s0 > 30)
    return false;
  // 1/n folded into the multiplier exactly as qp_mean_s8 does
  const int32_t s = std::min({floor_log2(n), 32, 31 + s0});
  const auto mult = static_cast<int32_t>((static_cast<int64_t>(m0) * (int64_t{1} << s)) / n);
  const int32_t shift = s0 - s;
  std::vector<int32_t> acc(static_cast<size_t>(l.in.c));
#ifdef QP_OPS_AVX2
  if (use_avx2(isa)) {
    channel_sums_avx2(in, static_cast<int>(n), l.in.c, acc.data());
  } else {
    channel_sums_portable(in, static_cast<int>(n), l.in.c, acc.data());
  }
#else
  (void)isa;
  channel_sums_portable(in, static_cast<int>(n), l.in.c, acc.data());
#endif
  for (size_t c = 0; c < acc.size(); ++c) {
    auto v = static_cast<int32_t>(static_cast<int64_t>(acc[c]) + static_cast<int64_t>(in_off) * n);
    v = static_cast<int32_t>(static_cast<uint32_t>(qp_requant_apply_dr_s32(v, mult, shift)) + static_cast<uint32_t>(out_off));
    out[c] = static_cast<int8_t>(std::clamp(v, -128, 127));
  }
  return true;
}

// ---- padded max pooling ----
__attribute__((always_inline)) inline void maxpool_padded(const QLayer &l, const int8_t *in, int8_t *out) {
  const int k = l.kernel, s = l.stride, ih = l.in.h, iw = l.in.w, c = l.in.c, ow = l.out.w;
  for (int oy = 0; oy < l.out.h; ++oy) {
    const int y0 = oy * s - l.pad_top, ys = std::max(y0, 0), ye = std::min(y0 + k, ih);
    for (int ox = 0; ox < ow; ++ox) {
      const int x0 = ox * s - l.pad_left, xs = std::max(x0, 0), xe = std::min(x0 + k, iw);
      int8_t *d = out + (static_cast<size_t>(oy) * ow + ox) * c;
      std::memset(d, 0x80, static_cast<size_t>(c));  // -128, the reference's starting value
      for (int y = ys; y < ye; ++y)
        for (int x = xs; x < xe; ++x) {
          const int8_t *src = in + (static_cast<size_t>(y) * iw + x) * c;
          for (int i = 0; i < c; ++i) d[i] = std::max(d[i], src[i]);
        }
    }
  }
}

void maxpool_padded_portable(const QLayer &l, const int8_t *in, int8_t *out) {
  maxpool_padded(l, in, out);
}

#ifdef QP_OPS_AVX2
QP_OPS_AVX2_TARGET void maxpool_padded_avx2(const QLayer &l, const int8_t *in, int8_t *out) {
  maxpool_padded(l, in, out);
}
#endif

}  // namespace

bool opt_run_small_op(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out) {
  switch (l.op) {
    case model::Op::Pad: return pad_s8(l, in, out);
    case model::Op::Mean: return mean_s8(l, isa, in, out);
    case model::Op::Softmax:  // the reference kernel on purpose: one short row per image (see the file comment)
      return qp_softmax_run_s8(&l.q.softmax, l.out.c, in, out) == QP_STATUS_OK;
    default: return false;
  }
}

bool opt_pool_windows_valid(const QLayer &l) {
  const int k = l.kernel, s = l.stride;
  return k >= 1 && s >= 1 && l.in.h >= 1 && l.in.w >= 1 && l.in.c >= 1 && l.out.c == l.in.c && l.out.h >= 1 && l.out.w >= 1 &&
         l.pad_top >= 0 && l.pad_left >= 0 && l.pad_top < k && l.pad_left < k &&
         static_cast<int64_t>(l.out.h - 1) * s - l.pad_top < l.in.h &&
         static_cast<int64_t>(l.out.w - 1) * s - l.pad_left < l.in.w;
}

bool opt_maxpool_padded_s8(const QLayer &l, OptIsa isa, const int8_t *in, int8_t *out) {
  if (!opt_pool_windows_valid(l)) return false;
#ifdef QP_OPS_AVX2
  if (use_avx2(isa)) return maxpool_padded_avx2(l, in, out), true;
#else
  (void)isa;
#endif
  maxpool_padded_portable(l, in, out);
  return true;
}

void opt_stage_dw_expand(const QLayer &l, const OptWeights &o, const int8_t *in, uint16_t *pad) {
  const int ih = l.in.h, iw = l.in.w, ic = l.in.c, m = l.out.c / l.in.c, oc = o.oc;
  const auto zp_u = static_cast<uint16_t>(l.q.input.zero_point + 128);
  const auto icp = static_cast<size_t>(o.icp);
  for (int y = 0; y < o.ph; ++y) {
    const int sy = y - l.pad_top;
    for (int x = 0; x < o.pw; ++x) {
      uint16_t *d = pad + (static_cast<size_t>(y) * o.pw + x) * icp;
      const int sx = x - l.pad_left;
      if (sy < 0 || sy >= ih || sx < 0 || sx >= iw) {
        std::fill_n(d, oc, zp_u);
      } else {
        const int8_t *s = in + (static_cast<size_t>(sy) * iw + sx) * ic;
        for (int c = 0; c < ic; ++c) std::fill_n(d + c * m, m, static_cast<uint16_t>(static_cast<uint8_t>(s[c]) ^ 0x80u));
      }
      std::fill_n(d + oc, icp - static_cast<size_t>(oc), uint16_t{0});
    }
  }
}

bool opt_concat_s8(const QLayer &l, const OptWeights &o, const int8_t *const *ins, size_t n, int8_t *out) {
  if (o.kind != OptWeights::Kind::Concat || o.soff.size() != n || ins == nullptr) return false;
  const auto outer = static_cast<size_t>(l.out.h) * l.out.w;
  size_t total = 0;
  for (size_t j = 0; j < n; ++j) total += static_cast<size_t>(o.soff[j]);
  if (total != static_cast<size_t>(l.out.c)) return false;
  for (size_t r = 0; r < outer; ++r) {
    int8_t *dst = out + r * total;
    for (size_t j = 0; j < n; ++j) {
      const auto ch = static_cast<size_t>(o.soff[j]);
      const int8_t *src = ins[j] + r * ch;
      if (o.mult[j] == 0) {
        std::memcpy(dst, src, ch);
      } else {
        const int8_t *table = o.w.data() + j * 256;  // output byte of input byte x at x + 128
        for (size_t c = 0; c < ch; ++c) dst[c] = table[static_cast<uint8_t>(src[c]) ^ 0x80u];
      }
      dst += ch;
    }
  }
  return true;
}

OptWeights pack_opt_weights(const QModel &m, size_t k) {
  const QLayer &l = m.layers.at(k);
  if (l.op != model::Op::Concat) return pack_opt_weights(l);
  OptWeights o;
  const size_t n = l.inputs.size();
  if (n == 0 || l.q.input_q.size() != n) return o;  // not normalized: the reference runs it (and checks it)
  o.kind = OptWeights::Kind::Concat;
  o.mult.assign(n, 0);
  o.w.assign(n * 256, 0);
  int8_t ramp[256];
  for (int i = 0; i < 256; ++i) ramp[i] = static_cast<int8_t>(i - 128);
  for (size_t j = 0; j < n; ++j) {
    o.soff.push_back(m.tensor_shape(l.inputs[j]).c);
    qp_concat_input_t p =
        concat_input_params(l.q.input_q[j].scale, l.q.input_q[j].zero_point, l.q.output.scale, l.q.output.zero_point);
    if (!p.requantize) continue;
    o.mult[j] = 1;
    p.data = ramp;
    p.channels = 256;
    if (qp_concat_run_s8(1, &p, 1, l.q.output.zero_point, o.w.data() + j * 256) != QP_STATUS_OK) return OptWeights{};
  }
  return o;
}

bool opt_run_layer_n(const QLayer &l, const OptWeights &o, OptIsa isa, const int8_t *const *ins, size_t n_in, int8_t *out,
                     uint8_t *scratch) {
  if (n_in == 0) return false;
  if (o.kind == OptWeights::Kind::Concat) return opt_concat_s8(l, o, ins, n_in, out);
  return opt_run_layer(l, o, isa, ins[0], n_in > 1 ? ins[1] : nullptr, out, scratch);
}

bool opt_takes_layer(const QLayer &l, const OptWeights &o) {
  if (o.kind != OptWeights::Kind::None) return true;  // a packed kernel (conv, dense, depthwise, Add, Concat, ...)
  switch (l.op) {
    case model::Op::MaxPool:
    case model::Op::AvgPool: return opt_pool_windows_valid(l);
    case model::Op::Flatten:  // no work: its output aliases its input
    case model::Op::Pad:
    case model::Op::Mean:
    case model::Op::Softmax: return true;
    case model::Op::GlobalAvgPool: return static_cast<int64_t>(l.in.h) * l.in.w <= 16777215;  // beyond: the reference refuses
    default: return false;  // packing refused the layer (e.g. Add parameters outside the kernel's contract)
  }
}

std::vector<bool> opt_layer_coverage(const QModel &m) {
  std::vector<bool> v;
  for (size_t k = 0; k < m.layers.size(); ++k) v.push_back(opt_takes_layer(m.layers[k], pack_opt_weights(m, k)));
  return v;
}

}  // namespace qp::quant
