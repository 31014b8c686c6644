// neon_bit_exact: every optimized kernel set the CPU has (portable, and on ARM64 neon and neon-dot; on x86 avx2 and
// avx512-vnni) against the reference C99 kernels of src/runtime, byte for byte, on random conv, dense, depthwise and
// max-pooling layers, and the small ops of engine_opt_ops.cpp (Pad, Mean, Concat with copied and requantized inputs,
// Softmax, padded max and average pooling, depthwise with depth multiplier > 1) (odd channel counts, strides,
// padding, zero points -128..127, per-channel multipliers and
// shifts including the extremes and the saturating INT32_MIN * INT32_MIN product) with a fixed seed.
// Built stand-alone (no gtest, no libonnx/protobuf), so it can be cross-compiled for aarch64 and run under
// qemu-user (tests/neon/run_qemu.sh). Exit status: 0 all equal, 1 a mismatch or a wrong kernel-set detection.
// Usage: neon_bit_exact [--expect-dot yes|no] [--cases N] [--time]
// --time: also times one 3x3 conv (32x32x16 -> 32x32x32, 4.7 M MACs) per kernel set: under qemu-user a rough
// indication of instructions executed, never a speed claim.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "quant/multiplier.h"
#include "quant/qmodel.h"

namespace {

using qp::quant::OptIsa;
using qp::quant::QLayer;

int32_t pick(qp::Rng &r, std::initializer_list<int32_t> v) {
  return *(v.begin() + r.below(static_cast<uint32_t>(v.size())));
}
int32_t in_range(qp::Rng &r, int32_t lo, int32_t hi) {  // [lo, hi]
  return lo + static_cast<int32_t>(r.below(static_cast<uint32_t>(hi - lo + 1)));
}
int bit_length(int64_t v) {
  int n = 0;
  while (v > 0) v >>= 1, ++n;
  return n;
}

// Weights, biases that keep the accumulator provably in int32 (|bias| + 255 * sum|w| < 2^31), multipliers and
// shifts: mostly ones that put outputs in range, a third extreme ones.
void fill_channels(qp::Rng &r, QLayer &l, int per_channel_weights, bool zero_weights) {
  const int oc = l.out.c;
  l.q.weight.resize(static_cast<size_t>(oc) * static_cast<size_t>(per_channel_weights));
  for (int c = 0; c < oc; ++c) {
    const int mode = static_cast<int>(r.below(8));  // 0: all -128, 1: all 127, else random
    int64_t sum_abs = 0;
    for (int i = 0; i < per_channel_weights; ++i) {
      int8_t w = static_cast<int8_t>(mode == 0 ? -128 : mode == 1 ? 127 : in_range(r, -128, 127));
      if (zero_weights) w = 0;
      l.q.weight[static_cast<size_t>(c) * per_channel_weights + i] = w;
      sum_abs += w < 0 ? -w : w;
    }
    const int64_t room = (int64_t{1} << 31) - 1 - 255 * sum_abs;  // |bias| <= room
    int64_t bias;
    switch (r.below(6)) {
      case 0: bias = room; break;
      case 1: bias = -room; break;
      case 2: bias = pick(r, {0, 1, -1, -2, 2, 1 << 30, -(1 << 30)}); break;
      default: bias = static_cast<int64_t>(r.next() % static_cast<uint64_t>(2 * std::min<int64_t>(room, 1 << 20) + 1)) -
                      std::min<int64_t>(room, 1 << 20);
    }
    if (bias > room) bias = room;
    if (bias < -room) bias = -room;
    l.q.bias.push_back(static_cast<int32_t>(bias));
    int32_t mult = static_cast<int32_t>((uint32_t{1} << 30) + (r.next() >> 34));  // [2^30, 2^31)
    int32_t shift = 7 - bit_length(255 * sum_abs + (bias < 0 ? -bias : bias)) + in_range(r, -1, 2);
    if (r.below(3) == 0) {  // extremes
      mult = pick(r, {0, 1 << 30, INT32_MAX, INT32_MIN, mult});
      shift = pick(r, {-31, -30, -1, 0, 1, 29, 30, shift});
    }
    l.q.multiplier.push_back(mult);
    l.q.shift.push_back(std::max(-31, std::min(30, shift)));
  }
}

void set_quant(qp::Rng &r, QLayer &l) {
  l.q.input.zero_point = r.below(4) == 0 ? pick(r, {-128, 127, 0}) : in_range(r, -128, 127);
  l.q.output.zero_point = r.below(4) == 0 ? pick(r, {-128, 127, 0}) : in_range(r, -128, 127);
  switch (r.below(3)) {
    case 0: l.q.act_min = -128, l.q.act_max = 127; break;
    case 1: l.q.act_min = l.q.output.zero_point, l.q.act_max = 127; break;  // ReLU
    default: l.q.act_min = in_range(r, -128, 0), l.q.act_max = in_range(r, l.q.act_min, 127);
  }
}

// Spatial geometry: input side, kernel, stride, padding before/after; output side.
void geometry(qp::Rng &r, int k, int s, int *in, int *pad_before, int *out) {
  *in = in_range(r, 1, 13);
  int before = in_range(r, 0, k - 1), after = in_range(r, 0, k - 1);
  if (*in + before + after < k) after = k - *in - before;
  if (after > k - 1) before += after - (k - 1), after = k - 1;  // keeps every window touching the input
  *pad_before = before;
  *out = (*in + before + after - k) / s + 1;
}

struct Case {
  QLayer l;
  std::vector<int8_t> input;
  std::string what;
  std::vector<std::vector<int8_t>> more;  // Concat: the inputs after the first
  std::vector<int> channels;              // Concat: each input's channels
};

constexpr int kKinds = 10;  // conv, dense, depthwise, max pool, then make_op_case's

std::vector<int8_t> random_bytes(qp::Rng &r, size_t n) {
  const int mode = static_cast<int>(r.below(6));  // 0: all -128, 1: all 127, else random
  std::vector<int8_t> v(n);
  for (auto &x : v) x = static_cast<int8_t>(mode == 0 ? -128 : mode == 1 ? 127 : in_range(r, -128, 127));
  return v;
}

// kinds 4..9: Pad, Mean, Concat, Softmax, SAME max/average pooling, depthwise with multiplier 2..4.
Case make_op_case(qp::Rng &r, int kind) {
  Case t;
  QLayer &l = t.l;
  set_quant(r, l);
  l.q.input_q = {l.q.input};
  char buf[200];
  switch (kind) {
    case 4:
      l.op = qp::model::Op::Pad;
      l.in = {in_range(r, 1, 40), in_range(r, 1, 9), in_range(r, 1, 9)};
      l.pad_top = in_range(r, 0, 3), l.pad_left = in_range(r, 0, 3);
      l.out = {l.in.c, l.in.h + l.pad_top + in_range(r, 0, 3), l.in.w + l.pad_left + in_range(r, 0, 3)};
      l.q.output = l.q.input;
      break;
    case 5:
      l.op = qp::model::Op::Mean;
      l.in = {in_range(r, 1, 70), in_range(r, 1, 12), in_range(r, 1, 12)};
      l.out = {l.in.c, 1, 1};
      l.q.multiplier = {r.below(4) == 0 ? pick(r, {0, INT32_MAX, 1 << 30})
                                        : static_cast<int32_t>((uint32_t{1} << 30) + (r.next() >> 34))};
      l.q.shift = {in_range(r, -31, 30)};
      break;
    case 6: {
      l.op = qp::model::Op::Concat;
      const int h = in_range(r, 1, 6), w = in_range(r, 1, 6), count = in_range(r, 2, 4);
      l.q.output.scale = 0.02 + in_range(r, 0, 100) / 1000.0;
      l.q.input_q.clear();
      int c = 0;
      for (int j = 0; j < count; ++j) {
        qp::quant::QParams q = l.q.output;
        if (r.below(3) != 0) q = {0.01 + in_range(r, 0, 200) / 1000.0, in_range(r, -128, 127)};
        l.q.input_q.push_back(q);
        t.channels.push_back(in_range(r, 1, 20));
        c += t.channels.back();
        if (j > 0) t.more.push_back(random_bytes(r, static_cast<size_t>(h) * w * t.channels.back()));
      }
      l.q.input = l.q.input_q[0];
      l.in = {t.channels[0], h, w};
      l.out = {c, h, w};
      break;
    }
    case 7: {
      l.op = qp::model::Op::Softmax;
      l.in = l.out = {in_range(r, 1, 40), 1, 1};
      l.q.output = {1.0 / 256, -128};
      const auto sp = qp::quant::softmax_params(std::ldexp(1.0 + in_range(r, 0, 999) / 1000.0, in_range(r, -8, 0)));
      l.q.softmax = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
      break;
    }
    case 8:
      l.op = r.below(2) ? qp::model::Op::MaxPool : qp::model::Op::AvgPool;
      l.kernel = in_range(r, 1, 4), l.stride = in_range(r, 1, 3);
      l.in.c = l.out.c = in_range(r, 1, 70);
      geometry(r, l.kernel, l.stride, &l.in.h, &l.pad_top, &l.out.h);
      geometry(r, l.kernel, l.stride, &l.in.w, &l.pad_left, &l.out.w);
      l.q.output = l.q.input;
      break;
    default: {
      l.op = qp::model::Op::DepthwiseConv2D;
      const int k = in_range(r, 1, 5);
      l.kernel = k, l.stride = in_range(r, 1, 3);
      l.in.c = in_range(r, 1, 12);
      l.out.c = l.in.c * in_range(r, 2, 4);
      geometry(r, k, l.stride, &l.in.h, &l.pad_top, &l.out.h);
      geometry(r, k, l.stride, &l.in.w, &l.pad_left, &l.out.w);
      fill_channels(r, l, k * k, false);
      std::vector<int8_t> w(l.q.weight.size());  // fill_channels wrote [OC][K*K]; the layout is [1][K][K][OC]
      for (int c = 0; c < l.out.c; ++c)
        for (int i = 0; i < k * k; ++i) w[static_cast<size_t>(i) * l.out.c + c] = l.q.weight[static_cast<size_t>(c) * k * k + i];
      l.q.weight = w;
      break;
    }
  }
  if (l.op == qp::model::Op::Mean || l.op == qp::model::Op::DepthwiseConv2D) {
    // extreme shifts: output zero point 0 so that requantized + zero point cannot overflow in the reference
    for (const int32_t sh : l.q.shift)
      if (sh > 20) l.q.output.zero_point = 0;
  }
  t.input = random_bytes(r, static_cast<size_t>(l.in.size()));
  const char *name = kind == 4 ? "Pad" : kind == 5 ? "Mean" : kind == 6 ? "Concat" : kind == 7 ? "Softmax"
                   : kind == 8 ? (l.op == qp::model::Op::MaxPool ? "MaxPool same" : "AvgPool same") : "DepthwiseConv2D M>1";
  std::snprintf(buf, sizeof buf, "%s in %dx%dx%d out %dx%dx%d k%d s%d pad %d,%d zp %d/%d clamp [%d, %d]", name, l.in.h, l.in.w,
                l.in.c, l.out.h, l.out.w, l.out.c, l.kernel, l.stride, l.pad_top, l.pad_left, l.q.input.zero_point,
                l.q.output.zero_point, l.q.act_min, l.q.act_max);
  t.what = buf;
  return t;
}

// The model holding t's layer last (Concat: one producer per input, only their shapes and parameters matter).
qp::quant::QModel model_of(const Case &t) {
  qp::quant::QModel m;
  m.input = t.l.in;
  QLayer l = t.l;
  l.inputs = {qp::model::kGraphInput};
  if (l.op == qp::model::Op::Concat) {
    l.inputs.clear();
    for (size_t j = 0; j < t.channels.size(); ++j) {
      QLayer p;
      p.op = qp::model::Op::Pad;
      p.out = {t.channels[j], l.out.h, l.out.w};
      p.q.output = l.q.input_q[j];
      l.inputs.push_back(static_cast<int>(m.layers.size()));
      m.layers.push_back(p);
    }
  }
  m.layers.push_back(l);
  return m;
}

Case make_case(qp::Rng &r, int kind) {
  Case t;
  QLayer &l = t.l;
  set_quant(r, l);
  const int k = in_range(r, 1, 5), s = in_range(r, 1, 3);
  char buf[160];
  switch (kind) {
    case 0: {  // Conv2D
      l.op = qp::model::Op::Conv2D;
      l.kernel = k, l.stride = s;
      l.in.c = r.below(4) == 0 ? pick(r, {1, 3, 4, 8, 16}) : in_range(r, 1, 40);
      l.out.c = r.below(4) == 0 ? pick(r, {1, 16, 32, 48, 64, 65}) : in_range(r, 1, 70);
      geometry(r, k, s, &l.in.h, &l.pad_top, &l.out.h);
      geometry(r, k, s, &l.in.w, &l.pad_left, &l.out.w);
      fill_channels(r, l, k * k * l.in.c, false);
      break;
    }
    case 1: {  // Dense (every 4th with zero weights: the accumulator is the bias, the requantization alone is tested)
      l.op = qp::model::Op::Dense;
      const bool zero = r.below(4) == 0;
      l.in = {in_range(r, 1, 300), 1, 1};
      l.out = {in_range(r, 1, 90), 1, 1};
      fill_channels(r, l, l.in.c, zero);
      if (zero)  // the saturating product: (-2 << 30) = INT32_MIN times multiplier INT32_MIN
        for (size_t c = 0; c < l.q.bias.size(); c += 3) l.q.bias[c] = -2, l.q.shift[c] = 30, l.q.multiplier[c] = INT32_MIN;
      break;
    }
    case 2: {  // DepthwiseConv2D, multiplier 1
      l.op = qp::model::Op::DepthwiseConv2D;
      l.kernel = k, l.stride = s;
      l.in.c = r.below(4) == 0 ? pick(r, {1, 8, 16, 32}) : in_range(r, 1, 70);
      l.out.c = l.in.c;
      geometry(r, k, s, &l.in.h, &l.pad_top, &l.out.h);
      geometry(r, k, s, &l.in.w, &l.pad_left, &l.out.w);
      fill_channels(r, l, k * k, false);
      // fill_channels wrote [C][K*K]; the layout is [1][K][K][C]
      std::vector<int8_t> w(l.q.weight.size());
      for (int c = 0; c < l.in.c; ++c)
        for (int i = 0; i < k * k; ++i) w[static_cast<size_t>(i) * l.in.c + c] = l.q.weight[static_cast<size_t>(c) * k * k + i];
      l.q.weight = w;
      break;
    }
    default: {  // MaxPool, unpadded
      l.op = qp::model::Op::MaxPool;
      l.kernel = in_range(r, 1, 3), l.stride = in_range(r, 1, 3);
      l.in.c = in_range(r, 1, 70);
      l.in.h = in_range(r, l.kernel, 12), l.in.w = in_range(r, l.kernel, 12);
      l.out = {l.in.c, (l.in.h - l.kernel) / l.stride + 1, (l.in.w - l.kernel) / l.stride + 1};
      l.q.output = l.q.input;
      break;
    }
  }
  l.q.input_q = {l.q.input};
  t.input.resize(static_cast<size_t>(l.in.size()));
  const int mode = static_cast<int>(r.below(6));  // 0: all -128, 1: all 127, else random
  for (auto &x : t.input) x = static_cast<int8_t>(mode == 0 ? -128 : mode == 1 ? 127 : in_range(r, -128, 127));
  std::snprintf(buf, sizeof buf, "%s in %dx%dx%d out %dx%dx%d k%d s%d pad %d,%d zp %d/%d clamp [%d, %d]",
                qp::model::Op::Conv2D == l.op            ? "Conv2D"
                : qp::model::Op::Dense == l.op           ? "Dense"
                : qp::model::Op::DepthwiseConv2D == l.op ? "DepthwiseConv2D"
                                                         : "MaxPool",
                l.in.h, l.in.w, l.in.c, l.out.h, l.out.w, l.out.c, l.kernel, l.stride, l.pad_top, l.pad_left,
                l.q.input.zero_point, l.q.output.zero_point, l.q.act_min, l.q.act_max);
  t.what = buf;
  return t;
}

qp_status_t reference(const Case &t, const int8_t *x, int8_t *y) {
  const QLayer &l = t.l;
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
  const qp_conv_params_t p = {
      -l.q.input.zero_point, l.q.output.zero_point, l.stride, l.pad_top, l.pad_left, l.q.act_min, l.q.act_max};
  switch (l.op) {
    case qp::model::Op::Conv2D: {
      const qp_dims_t f = {l.out.c, l.kernel, l.kernel, l.in.c};
      return qp_conv_run_s8(&p, l.q.multiplier.data(), l.q.shift.data(), &in, x, &f, l.q.weight.data(), l.q.bias.data(), &out, y);
    }
    case qp::model::Op::DepthwiseConv2D: {
      const qp_dims_t f = {1, l.kernel, l.kernel, l.out.c};
      return qp_dwconv_run_s8(&p, l.q.multiplier.data(), l.q.shift.data(), &in, x, &f, l.q.weight.data(), l.q.bias.data(), &out,
                              y);
    }
    case qp::model::Op::Dense:
      return qp_fc_run_s8(-l.q.input.zero_point, l.q.output.zero_point, l.q.act_min, l.q.act_max, l.q.multiplier.data(),
                          l.q.shift.data(), l.in.c, l.out.c, x, l.q.weight.data(), l.q.bias.data(), y);
    case qp::model::Op::Pad: return qp_pad_s8(l.pad_top, l.pad_left, static_cast<int8_t>(l.q.input.zero_point), &in, x, &out, y);
    case qp::model::Op::Mean: {
      const qp_mean_params_t mp = {-l.q.input.zero_point, l.q.output.zero_point, l.q.multiplier[0], l.q.shift[0]};
      return qp_mean_s8(&mp, &in, x, y);
    }
    case qp::model::Op::Softmax: return qp_softmax_run_s8(&l.q.softmax, l.out.c, x, y);
    case qp::model::Op::Concat: {
      std::vector<qp_concat_input_t> parts;
      for (size_t j = 0; j < t.channels.size(); ++j) {
        qp_concat_input_t c = qp::quant::concat_input_params(l.q.input_q[j].scale, l.q.input_q[j].zero_point, l.q.output.scale,
                                                             l.q.output.zero_point);
        c.data = j == 0 ? x : t.more[j - 1].data();
        c.channels = t.channels[j];
        parts.push_back(c);
      }
      return qp_concat_run_s8(static_cast<int32_t>(parts.size()), parts.data(), l.out.h * l.out.w, l.q.output.zero_point, y);
    }
    default: {
      const qp_pool_params_t pp = {l.kernel, l.stride, -128, 127, l.pad_top, l.pad_left};
      return l.op == qp::model::Op::AvgPool ? qp_pool_avg_s8(&pp, &in, x, &out, y) : qp_pool_max_s8(&pp, &in, x, &out, y);
    }
  }
}

// Milliseconds per run of one conv layer with each kernel set (best of 3).
void time_conv(const std::vector<OptIsa> &isas) {
  qp::Rng r(7);
  QLayer l;
  l.op = qp::model::Op::Conv2D;
  l.kernel = 3, l.stride = 1, l.pad_top = 1, l.pad_left = 1;
  l.in = {16, 32, 32};
  l.out = {32, 32, 32};
  l.q.input.zero_point = -128, l.q.output.zero_point = -128, l.q.act_min = -128, l.q.act_max = 127;
  l.q.input_q = {l.q.input};
  fill_channels(r, l, 9 * 16, false);
  std::vector<int8_t> x(static_cast<size_t>(l.in.size())), y(static_cast<size_t>(l.out.size()));
  for (auto &v : x) v = static_cast<int8_t>(in_range(r, -128, 127));
  std::vector<int8_t> want(y.size());
  const auto t0 = std::chrono::steady_clock::now();
  Case tc;
  tc.l = l;
  reference(tc, x.data(), want.data());
  const double ref_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("rough timing (under qemu-user: not a speed claim), 3x3 conv 32x32x16 -> 32: reference %.2f ms", ref_ms);
  const qp::quant::OptWeights o = qp::quant::pack_opt_weights(l);
  std::vector<uint8_t> scratch_mem(o.scratch_bytes() + 64);
  auto *scratch = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch_mem.data()) + 63) & ~uintptr_t{63});
  for (const OptIsa isa : isas) {
    double best = 1e30;
    for (int k = 0; k < 3; ++k) {
      const auto a = std::chrono::steady_clock::now();
      qp::quant::opt_run_layer(l, o, isa, x.data(), nullptr, y.data(), scratch);
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::printf(", %s %.2f ms%s", qp::quant::opt_isa_name(isa), best, y == want ? "" : " (MISMATCH)");
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char **argv) {
  int cases = 1000, expect_dot = -1;
  bool timing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--time") {
      timing = true;
    } else if (a == "--cases" && i + 1 < argc) {
      cases = std::atoi(argv[++i]);
    } else if (a == "--expect-dot" && i + 1 < argc) {
      const std::string v = argv[++i];
      expect_dot = v == "yes" ? 1 : v == "no" ? 0 : -2;
      if (expect_dot == -2) return std::fprintf(stderr, "--expect-dot takes yes or no\n"), 2;
    } else {
      return std::fprintf(stderr, "usage: neon_bit_exact [--expect-dot yes|no] [--cases N] [--time]\n"), 2;
    }
  }
  std::vector<OptIsa> isas;
  std::string names;
  for (const OptIsa isa : {OptIsa::Portable, OptIsa::Avx2, OptIsa::AvxVnni, OptIsa::Avx512Vnni, OptIsa::Neon, OptIsa::NeonDot})
    if (qp::quant::opt_isa_available(isa)) isas.push_back(isa), names += std::string(" ") + qp::quant::opt_isa_name(isa);
  std::printf("kernel sets on this CPU:%s\n", names.c_str());
#if defined(__aarch64__)
  if (!qp::quant::opt_isa_available(OptIsa::Neon)) return std::fprintf(stderr, "FAIL: neon not available on ARM64\n"), 1;
#endif
  if (expect_dot >= 0 && static_cast<int>(qp::quant::opt_isa_available(OptIsa::NeonDot)) != expect_dot)
    return std::fprintf(stderr, "FAIL: neon-dot %s, expected %s (HWCAP_ASIMDDP detection)\n",
                        qp::quant::opt_isa_available(OptIsa::NeonDot) ? "available" : "not available",
                        expect_dot ? "available" : "not available"),
           1;

  qp::Rng rng(13);
  int failures = 0, compared = 0;
  int64_t bytes = 0;
  for (int n = 0; n < cases; ++n) {
    Case t = n % kKinds < 4 ? make_case(rng, n % kKinds) : make_op_case(rng, n % kKinds);
    const QLayer &l = t.l;
    const size_t out_n = static_cast<size_t>(l.out.size());
    std::vector<int8_t> want(out_n);
    if (reference(t, t.input.data(), want.data()) != QP_STATUS_OK) {
      std::fprintf(stderr, "FAIL: case %d: the reference refused %s (a bad test case)\n", n, t.what.c_str());
      return 1;
    }
    const qp::quant::QModel m = model_of(t);
    const qp::quant::OptWeights o = qp::quant::pack_opt_weights(m, m.layers.size() - 1);
    std::vector<uint8_t> scratch_mem(o.scratch_bytes() + 64);
    auto *scratch = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch_mem.data()) + 63) & ~uintptr_t{63});
    std::vector<const int8_t *> ins = {t.input.data()};
    for (const auto &x : t.more) ins.push_back(x.data());
    for (const OptIsa isa : isas) {
      std::vector<int8_t> got(out_n + 64, 0x5A);  // canary bytes past the end catch overruns
      if (!qp::quant::opt_run_layer_n(m.layers.back(), o, isa, ins.data(), ins.size(), got.data(), scratch)) {
        std::fprintf(stderr, "FAIL: case %d %s: no optimized kernel ran (%s)\n", n, qp::quant::opt_isa_name(isa), t.what.c_str());
        ++failures;
        continue;
      }
      ++compared;
      bytes += static_cast<int64_t>(out_n);
      for (size_t i = out_n; i < got.size(); ++i)
        if (got[i] != 0x5A) {
          std::fprintf(stderr, "FAIL: case %d %s: wrote past the output (%s)\n", n, qp::quant::opt_isa_name(isa), t.what.c_str());
          ++failures;
          break;
        }
      for (size_t i = 0; i < out_n; ++i)
        if (got[i] != want[i]) {
          const size_t c = i % static_cast<size_t>(l.out.c);
          std::fprintf(stderr,
                       "FAIL: case %d %s: byte %zu (channel %zu, multiplier %d shift %d bias %d) is %d, reference %d: %s\n", n,
                       qp::quant::opt_isa_name(isa), i, c, l.q.multiplier.empty() ? 0 : l.q.multiplier[c],
                       l.q.shift.empty() ? 0 : l.q.shift[c], l.q.bias.empty() ? 0 : l.q.bias[c], got[i], want[i], t.what.c_str());
          ++failures;
          break;
        }
    }
  }
  std::printf("%d layers x %zu kernel sets: %d runs compared, %lld output bytes, %d mismatching\n", cases, isas.size(),
              compared, static_cast<long long>(bytes), failures);
  if (timing) time_conv(isas);
  return failures == 0 ? 0 : 1;
}
