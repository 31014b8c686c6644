// The MCU-optimized kernels (qp_runtime_mcu.h) against the reference kernels: every output byte equal
// over randomized shapes, offsets, weights and requantization parameters; the inlined requantization
// over the whole accumulator range; scratch bounds and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "qp_runtime.h"
#include "qp_runtime_mcu.h"

using namespace qp;

namespace {

int32_t pick(Rng &r, int32_t lo, int32_t hi) { return lo + static_cast<int32_t>(r.below(static_cast<uint32_t>(hi - lo + 1))); }

std::vector<int8_t> random_s8(size_t n, Rng &r, int32_t lo = -128, int32_t hi = 127) {
  std::vector<int8_t> v(n);
  for (auto &x : v) x = static_cast<int8_t>(pick(r, lo, hi));
  return v;
}

// A multiplier in [2^30, 2^31) (or 0 now and then) and a shift in [-31, 30], biased toward the shifts a
// real layer has (-12 .. 0) but covering both ends.
void random_requant(Rng &r, int32_t n, std::vector<int32_t> &mult, std::vector<int32_t> &shift) {
  mult.resize(n);
  shift.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    mult[i] = r.below(50) == 0 ? 0 : static_cast<int32_t>((1u << 30) + (static_cast<uint32_t>(r.next()) & 0x3fffffffu));
    shift[i] = r.below(4) == 0 ? pick(r, -31, 30) : pick(r, -12, 0);
  }
}

struct ConvCase {
  qp_conv_params_t p{};
  qp_dims_t in{}, f{}, out{};
  std::vector<int8_t> input, filter;
  std::vector<int32_t> bias, mult, shift;
  bool with_bias = true;
};

std::string describe(const ConvCase &c) {
  return "in " + std::to_string(c.in.h) + "x" + std::to_string(c.in.w) + "x" + std::to_string(c.in.c) + " f " +
         std::to_string(c.f.n) + "x" + std::to_string(c.f.h) + "x" + std::to_string(c.f.w) + " out " + std::to_string(c.out.h) +
         "x" + std::to_string(c.out.w) + " stride " + std::to_string(c.p.stride) + " pad " + std::to_string(c.p.pad_top) + "," +
         std::to_string(c.p.pad_left) + " in_off " + std::to_string(c.p.input_offset);
}

// wino: a 3x3 stride-1 layer (what qp_conv_run_wino_s8 takes) on images up to 19 x 21.
ConvCase random_conv(Rng &r, bool wino = false) {
  ConvCase c;
  const int32_t ks[] = {1, 3, 5};
  const int32_t kh = wino ? 3 : ks[r.below(3)], kw = wino ? 3 : (r.below(5) == 0 ? ks[r.below(3)] : kh);  // mostly square
  const int32_t stride = wino ? 1 : pick(r, 1, r.below(6) == 0 ? 3 : 2);
  const int32_t ic = r.below(3) == 0 ? pick(r, 1, 70) : pick(r, 1, 8);
  const int32_t oc = r.below(3) == 0 ? pick(r, 1, 70) : pick(r, 1, 13);
  c.in = {1, pick(r, 1, wino ? 19 : 11), pick(r, 1, wino ? 21 : 13), ic};
  c.f = {oc, kh, kw, ic};
  const int32_t mode = static_cast<int32_t>(r.below(3));  // 0 'same', 1 'valid', 2 arbitrary padding/size
  if (mode == 1 && (c.in.h < kh || c.in.w < kw)) c.in.h = std::max(c.in.h, kh), c.in.w = std::max(c.in.w, kw);
  if (mode == 0) {
    c.out = {1, (c.in.h + stride - 1) / stride, (c.in.w + stride - 1) / stride, oc};
    c.p.pad_top = std::max(0, ((c.out.h - 1) * stride + kh - c.in.h) / 2);
    c.p.pad_left = std::max(0, ((c.out.w - 1) * stride + kw - c.in.w) / 2);
  } else if (mode == 1) {
    c.out = {1, (c.in.h - kh) / stride + 1, (c.in.w - kw) / stride + 1, oc};
  } else {  // reads past any edge: the reference skips those taps
    c.p.pad_top = pick(r, 0, kh);
    c.p.pad_left = pick(r, 0, kw);
    c.out = {1, pick(r, 1, 9), pick(r, 1, 11), oc};
  }
  c.p.stride = stride;
  const int32_t offs[] = {-127, 128, 0, 1};
  c.p.input_offset = r.below(3) == 0 ? offs[r.below(4)] : pick(r, -127, 128);
  c.p.output_offset = pick(r, -128, 127);
  c.p.act_min = r.below(2) ? -128 : pick(r, -128, 127);
  c.p.act_max = r.below(2) ? 127 : pick(r, c.p.act_min, 127);
  c.input = random_s8(static_cast<size_t>(c.in.h) * c.in.w * ic, r);
  const auto nw = static_cast<size_t>(oc) * kh * kw * ic;
  const int32_t wkind = static_cast<int32_t>(r.below(4));  // 0: all +-127, 1: all 127, else random
  c.filter = random_s8(nw, r, -127, 127);
  if (wkind == 0)
    for (auto &w : c.filter) w = static_cast<int8_t>(r.below(2) ? 127 : -127);
  if (wkind == 1) std::fill(c.filter.begin(), c.filter.end(), int8_t{127});
  if (wkind <= 1 && r.below(2)) std::fill(c.input.begin(), c.input.end(), static_cast<int8_t>(r.below(2) ? -128 : 127));
  c.bias.resize(oc);
  for (auto &b : c.bias) b = static_cast<int32_t>(r.next() >> 34) - (1 << 29);  // |bias| < 2^29: the sum stays in int32
  c.with_bias = r.below(8) != 0;
  random_requant(r, oc, c.mult, c.shift);
  return c;
}

// Runs the reference and the MCU kernel; scratch is surrounded by canaries that must survive.
void expect_conv_equal(const ConvCase &c) {
  const auto nout = static_cast<size_t>(c.out.h) * c.out.w * c.out.c;
  std::vector<int8_t> ref(nout, 0x5a), got(nout, 0x3c);
  const int32_t *bias = c.with_bias ? c.bias.data() : nullptr;
  ASSERT_EQ(qp_conv_run_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, c.filter.data(), bias, &c.out,
                           ref.data()),
            QP_STATUS_OK)
      << describe(c);
  std::vector<int8_t> packed(QP_CONV_MCU_PACKED_BYTES(c.f.n, c.f.h, c.f.w, c.f.c));
  std::vector<int32_t> packed_bias(QP_CONV_MCU_PACKED_CHANNELS(c.f.n));
  ASSERT_EQ(qp_conv_pack_mcu_s8(c.p.input_offset, &c.f, c.filter.data(), bias, packed.data(), packed_bias.data()), QP_STATUS_OK);
  const int32_t scratch_bytes = qp_conv_scratch_mcu_bytes(&c.p, &c.in, &c.f, &c.out);
  ASSERT_GE(scratch_bytes, 0) << describe(c);
  const int32_t guard = 64;
  std::vector<int8_t> scratch(static_cast<size_t>(scratch_bytes + 2 * guard), int8_t{0x77});
  ASSERT_EQ(qp_conv_run_mcu_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, packed.data(),
                               packed_bias.data(), &c.out, got.data(), scratch_bytes ? scratch.data() + guard : nullptr),
            QP_STATUS_OK)
      << describe(c);
  for (size_t i = 0; i < nout; ++i) ASSERT_EQ(int{got[i]}, int{ref[i]}) << "output " << i << ": " << describe(c);
  for (int32_t i = 0; i < guard; ++i) {
    ASSERT_EQ(scratch[i], 0x77) << "scratch underrun: " << describe(c);
    ASSERT_EQ(scratch[guard + scratch_bytes + i], 0x77) << "scratch overrun: " << describe(c);
  }
}

// Runs the reference and the Winograd kernel: output and scratch (at an odd address) surrounded by canaries.
void expect_wino_equal(const ConvCase &c) {
  ASSERT_TRUE(qp_conv_wino_supported(&c.p, &c.f, &c.in)) << describe(c);
  const auto nout = static_cast<size_t>(c.out.h) * c.out.w * c.out.c;
  const int32_t guard = 61;
  std::vector<int8_t> ref(nout, 0x5a), got(nout + 2 * guard, 0x3c);
  const int32_t *bias = c.with_bias ? c.bias.data() : nullptr;
  ASSERT_EQ(qp_conv_run_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, c.filter.data(), bias, &c.out,
                           ref.data()),
            QP_STATUS_OK)
      << describe(c);
  ASSERT_EQ(qp_conv_packed_wino_bytes(&c.f), 2 * QP_CONV_WINO_PACKED_COUNT(c.f.n, c.f.c));
  std::vector<int16_t> packed(QP_CONV_WINO_PACKED_COUNT(c.f.n, c.f.c), 0x7777);
  std::vector<int32_t> packed_bias(QP_CONV_MCU_PACKED_CHANNELS(c.f.n));
  ASSERT_EQ(qp_conv_pack_wino_s8(c.p.input_offset, &c.f, c.filter.data(), bias, packed.data(), packed_bias.data()), QP_STATUS_OK);
  const int32_t scratch_bytes = qp_conv_scratch_wino_bytes(&c.p, &c.in, &c.f, &c.out);
  ASSERT_EQ(scratch_bytes, 1027 + 168 * c.in.c) << describe(c);
  std::vector<int8_t> scratch(static_cast<size_t>(scratch_bytes + 2 * guard), int8_t{0x77});
  ASSERT_EQ(qp_conv_run_wino_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, packed.data(),
                                packed_bias.data(), &c.out, got.data() + guard, scratch.data() + guard),
            QP_STATUS_OK)
      << describe(c);
  for (size_t i = 0; i < nout; ++i) ASSERT_EQ(int{got[guard + i]}, int{ref[i]}) << "output " << i << ": " << describe(c);
  for (int32_t i = 0; i < guard; ++i) {
    ASSERT_EQ(got[i], 0x3c) << "output underrun: " << describe(c);
    ASSERT_EQ(got[guard + nout + i], 0x3c) << "output overrun: " << describe(c);
    ASSERT_EQ(scratch[i], 0x77) << "scratch underrun: " << describe(c);
    ASSERT_EQ(scratch[guard + scratch_bytes + i], 0x77) << "scratch overrun: " << describe(c);
  }
}

}  // namespace

TEST(RuntimeMcu, ConvEqualsReferenceOnRandomShapes) {
  Rng r(101);
  for (int t = 0; t < 600; ++t) {
    SCOPED_TRACE(t);
    expect_conv_equal(random_conv(r));
    if (HasFatalFailure()) return;
  }
}

TEST(RuntimeMcu, ConvEqualsReferenceOnRpsCnnLayers) {
  // The three convolutions of rps-cnn (3x3 'same', stride 1), smaller images but the same channel counts,
  // plus a stride-2 first layer.
  const int32_t shapes[][4] = {{12, 3, 16, 1}, {8, 16, 32, 1}, {8, 32, 64, 1}, {13, 3, 16, 2}};
  Rng r(102);
  for (const auto &s : shapes) {
    ConvCase c;
    c.in = {1, s[0], s[0], s[1]};
    c.f = {s[2], 3, 3, s[1]};
    c.p = {128, -128, s[3], 1, 1, -128, 127};
    c.out = {1, (s[0] + s[3] - 1) / s[3], (s[0] + s[3] - 1) / s[3], s[2]};
    if (s[3] == 2) c.p.pad_top = c.p.pad_left = 0;  // TFLite 'same' with stride 2 on an odd size: no leading pad
    c.input = random_s8(static_cast<size_t>(s[0]) * s[0] * s[1], r);
    c.filter = random_s8(static_cast<size_t>(s[2]) * 9 * s[1], r, -127, 127);
    c.bias.resize(s[2]);
    for (auto &b : c.bias) b = pick(r, -20000, 20000);
    random_requant(r, s[2], c.mult, c.shift);
    for (auto &sh : c.shift) sh = pick(r, -10, -6);  // outputs mostly inside int8, not clamped
    expect_conv_equal(c);
  }
}

TEST(RuntimeMcu, RequantizationEqualsReferenceOverTheWholeRange) {
  // A 1x1 convolution with zero weights makes each accumulator its bias, so the kernel's inlined
  // requantization meets accumulators anywhere in int32, including INT32_MIN/MAX, left-shift wrap,
  // ties of both roundings, and the saturating INT32_MIN * INT32_MIN product.
  Rng r(103);
  const int32_t oc = 23, px = 5;  // 5 pixels: the 4-pixel block and the single-pixel path
  ConvCase c;
  c.in = {1, 1, px, 1};
  c.f = {oc, 1, 1, 1};
  c.out = {1, 1, px, oc};
  c.p = {0, 0, 1, 0, 0, -128, 127};
  c.input = random_s8(px, r);
  c.filter.assign(oc, 0);
  c.bias.resize(oc);
  int checked = 0;
  for (int t = 0; t < 4000; ++t) {
    random_requant(r, oc, c.mult, c.shift);
    for (int32_t i = 0; i < oc; ++i) {
      const int32_t kind = static_cast<int32_t>(r.below(4));
      if (kind == 0) {
        // Anywhere, but with |acc << shift| <= 2^30 (beyond that the reference's final '+ output_offset'
        // could overflow); the wrapping left shift has its own cases below.
        c.bias[i] = static_cast<int32_t>(r.next()) >> (1 + std::max(c.shift[i], 0));
      } else {
        // Near the accumulator that maps to a chosen int8 result (exercises rounding boundaries).
        const int64_t target = pick(r, -140, 140), m = c.mult[i] ? c.mult[i] : (1 << 30);
        const int32_t sh = c.shift[i];
        const int64_t denom = m * (sh > 0 ? (int64_t{1} << sh) : 1);
        const int64_t acc = sh > 0 ? (target << 31) / denom : ((target << 31) << std::min(-sh, 23)) / denom;
        c.bias[i] = static_cast<int32_t>(std::clamp<int64_t>(acc + pick(r, -3, 3), INT32_MIN, INT32_MAX));
      }
    }
    if (t == 0) {
      c.bias[0] = INT32_MIN, c.mult[0] = INT32_MIN, c.shift[0] = 0;  // srdhm's saturating case
      c.bias[1] = INT32_MAX, c.shift[1] = -31;
      c.bias[2] = INT32_MIN, c.shift[2] = 30;
      c.bias[3] = -1, c.shift[3] = -31;
      c.bias[4] = 0x12345678, c.shift[4] = 4;   // the left shift wraps to a positive value
      c.bias[5] = 0x0F000001, c.shift[5] = 3;   // ... to 0x78000008
      c.bias[6] = -0x0F000001, c.shift[6] = 3;  // ... to -0x78000008
      c.bias[7] = INT32_MAX, c.shift[7] = 0, c.mult[7] = INT32_MAX;
    }
    // At t == 0 the saturated INT32_MAX must meet offset 0: a negative one would wrap a wrong INT32_MIN to
    // the same clamped byte, a positive one overflows in the reference.
    c.p.output_offset = t == 0 ? 0 : pick(r, -128, 127);
    expect_conv_equal(c);
    if (HasFatalFailure()) return;
    ++checked;
  }
  EXPECT_EQ(checked, 4000);
}

TEST(RuntimeMcu, FcEqualsReference) {
  Rng r(104);
  for (int t = 0; t < 300; ++t) {
    const int32_t in = r.below(4) == 0 ? pick(r, 200, 1100) : pick(r, 1, 70), out = pick(r, 1, 70);
    const int32_t in_off = r.below(3) == 0 ? (r.below(2) ? 128 : -127) : pick(r, -127, 128);
    const int32_t out_off = pick(r, -128, 127), lo = pick(r, -128, 0), hi = pick(r, lo, 127);
    auto x = random_s8(in, r);
    auto w = random_s8(static_cast<size_t>(in) * out, r, -127, 127);
    if (t % 7 == 0)
      for (auto &v : w) v = static_cast<int8_t>(r.below(2) ? 127 : -127);
    std::vector<int32_t> bias(out), mult, shift;
    for (auto &b : bias) b = static_cast<int32_t>(r.next() >> 36) - (1 << 27);
    random_requant(r, out, mult, shift);
    const int32_t *b = t % 5 == 0 ? nullptr : bias.data();
    std::vector<int8_t> ref(out), got(out, 1), packed(QP_CONV_MCU_PACKED_BYTES(out, 1, 1, in));
    std::vector<int32_t> packed_bias(QP_CONV_MCU_PACKED_CHANNELS(out));
    ASSERT_EQ(qp_fc_run_s8(in_off, out_off, lo, hi, mult.data(), shift.data(), in, out, x.data(), w.data(), b, ref.data()),
              QP_STATUS_OK);
    ASSERT_EQ(qp_fc_pack_mcu_s8(in_off, in, out, w.data(), b, packed.data(), packed_bias.data()), QP_STATUS_OK);
    ASSERT_EQ(qp_fc_run_mcu_s8(out_off, lo, hi, mult.data(), shift.data(), in, out, x.data(), packed.data(), packed_bias.data(),
                               got.data()),
              QP_STATUS_OK);
    for (int32_t i = 0; i < out; ++i) ASSERT_EQ(int{got[i]}, int{ref[i]}) << "case " << t << " output " << i << " in " << in;
  }
}

TEST(RuntimeMcu, PackedLayoutBlocksOfFourChannels) {
  // 5 channels, 2x2 kernel, 1 input channel: block 0 holds channels 0..3 tap by tap with taps in (kx, ky,
  // ic) order, block 1 channel 4 then three zero channels; the packed bias folds input_offset * sum(w).
  const qp_dims_t f = {5, 2, 2, 1};
  std::vector<int8_t> w(20);
  for (int i = 0; i < 20; ++i) w[i] = static_cast<int8_t>(i - 10);  // w[oc][ky][kx][0] = 4 oc + 2 ky + kx - 10
  const int32_t bias[5] = {1, 2, 3, 4, 5};
  std::vector<int8_t> packed(QP_CONV_MCU_PACKED_BYTES(5, 2, 2, 1), 99);
  std::vector<int32_t> pb(QP_CONV_MCU_PACKED_CHANNELS(5), 99);
  ASSERT_EQ(packed.size(), 32u);
  ASSERT_EQ(qp_conv_pack_mcu_s8(3, &f, w.data(), bias, packed.data(), pb.data()), QP_STATUS_OK);
  for (int oc = 0; oc < 8; ++oc)
    for (int ky = 0; ky < 2; ++ky)
      for (int kx = 0; kx < 2; ++kx) {
        const int expect = oc < 5 ? 4 * oc + 2 * ky + kx - 10 : 0;
        EXPECT_EQ(packed[(oc / 4) * 16 + (kx * 2 + ky) * 4 + oc % 4], expect) << oc << " " << ky << " " << kx;
      }
  for (int oc = 0; oc < 8; ++oc) EXPECT_EQ(pb[oc], oc < 5 ? bias[oc] + 3 * (16 * oc + 6 - 40) : 0) << oc;
}

TEST(RuntimeMcu, ScratchSizesAndArgumentErrors) {
  qp_conv_params_t p = {128, -128, 1, 1, 1, -128, 127};
  const qp_dims_t in = {1, 8, 8, 4}, f = {6, 3, 3, 4}, out = {1, 8, 8, 6};
  EXPECT_EQ(qp_conv_scratch_mcu_bytes(&p, &in, &f, &out), 3 * 10 * 4);  // KH x (OW-1)*s+KW x IC
  qp_conv_params_t valid = p;
  valid.pad_top = valid.pad_left = 0;
  const qp_dims_t out_valid = {1, 6, 6, 6};
  EXPECT_EQ(qp_conv_scratch_mcu_bytes(&valid, &in, &f, &out_valid), 3 * 8 * 4);  // 3 rows are regrouped
  const qp_dims_t f1 = {6, 1, 1, 4};
  EXPECT_EQ(qp_conv_scratch_mcu_bytes(&valid, &in, &f1, &out), 0);  // 1x1 reads the input in place
  const qp_dims_t bad_f = {6, 3, 3, 5};
  EXPECT_EQ(qp_conv_scratch_mcu_bytes(&p, &in, &bad_f, &out), -1);

  std::vector<int8_t> x(8 * 8 * 4), packed(QP_CONV_MCU_PACKED_BYTES(6, 3, 3, 4)), o(8 * 8 * 6), scratch(120);
  std::vector<int32_t> pb(8), mult(6, 1 << 30), shift(6, -3);
  EXPECT_EQ(qp_conv_run_mcu_s8(&p, mult.data(), shift.data(), &in, x.data(), &f, packed.data(), pb.data(), &out, o.data(), nullptr),
            QP_STATUS_BAD_ARGUMENT);  // scratch needed
  EXPECT_EQ(qp_conv_run_mcu_s8(&p, mult.data(), shift.data(), &in, x.data(), &bad_f, packed.data(), pb.data(), &out, o.data(),
                               scratch.data()),
            QP_STATUS_BAD_ARGUMENT);
  shift[5] = 31;
  EXPECT_EQ(qp_conv_run_mcu_s8(&p, mult.data(), shift.data(), &in, x.data(), &f, packed.data(), pb.data(), &out, o.data(),
                               scratch.data()),
            QP_STATUS_BAD_SHIFT);
  shift[5] = -3;
  p.act_min = 5, p.act_max = 4;
  EXPECT_EQ(qp_conv_run_mcu_s8(&p, mult.data(), shift.data(), &in, x.data(), &f, packed.data(), pb.data(), &out, o.data(),
                               scratch.data()),
            QP_STATUS_BAD_ARGUMENT);
  p.act_min = -128, p.act_max = 127;
  EXPECT_EQ(qp_conv_run_mcu_s8(&p, mult.data(), shift.data(), &in, x.data(), &f, packed.data(), pb.data(), &out, o.data(),
                               scratch.data()),
            QP_STATUS_OK);
  EXPECT_EQ(qp_conv_pack_mcu_s8(129, &f, x.data(), nullptr, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_conv_pack_mcu_s8(0, &f, nullptr, nullptr, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_fc_run_mcu_s8(0, -128, 127, mult.data(), shift.data(), 0, 6, x.data(), packed.data(), pb.data(), o.data()),
            QP_STATUS_BAD_ARGUMENT);
}

TEST(RuntimeMcu, WinogradEqualsReferenceOnRandomShapes) {
  // 3x3 stride 1: odd and even sizes (partial 2x2 tiles, partial blocks of 4 tiles), 'same', 'valid' and
  // reads past every edge, 1..70 channels, extreme and random weights, inputs and offsets, per-channel
  // requantization, clamps.
  Rng r(105);
  int odd_h = 0, odd_w = 0, padded = 0, unpadded = 0;
  for (int t = 0; t < 500; ++t) {
    SCOPED_TRACE(t);
    const ConvCase c = random_conv(r, true);
    odd_h += c.out.h % 2, odd_w += c.out.w % 2;
    (c.p.pad_top || c.p.pad_left ? padded : unpadded) += 1;
    expect_wino_equal(c);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(odd_h, 50);
  EXPECT_GT(odd_w, 50);
  EXPECT_GT(padded, 50);
  EXPECT_GT(unpadded, 50);
}

TEST(RuntimeMcu, WinogradEqualsReferenceOnRpsCnnLayers) {
  // rps-cnn's three convolutions at full size (3x3 'same', input offset 128 as after a ReLU'd int8
  // tensor), and the same with the other offset extremes.
  const int32_t shapes[][3] = {{32, 3, 16}, {16, 16, 32}, {8, 32, 64}};
  Rng r(106);
  for (const int32_t in_off : {128, -127, 3})
    for (const auto &s : shapes) {
      ConvCase c;
      c.in = {1, s[0], s[0], s[1]};
      c.f = {s[2], 3, 3, s[1]};
      c.p = {in_off, -128, 1, 1, 1, -128, 127};
      c.out = {1, s[0], s[0], s[2]};
      c.input = random_s8(static_cast<size_t>(s[0]) * s[0] * s[1], r);
      c.filter = random_s8(static_cast<size_t>(s[2]) * 9 * s[1], r, -127, 127);
      c.bias.resize(s[2]);
      for (auto &b : c.bias) b = pick(r, -20000, 20000);
      random_requant(r, s[2], c.mult, c.shift);
      for (auto &sh : c.shift) sh = pick(r, -10, -6);  // outputs mostly inside int8, not clamped
      expect_wino_equal(c);
      if (HasFatalFailure()) return;
    }
}

TEST(RuntimeMcu, WinogradExactAtTheChannelLimit) {
  // QP_CONV_WINO_MAX_CHANNELS input channels with the values that drive the transformed sums to their
  // bounds: all weights 127 make U[1][1] = 9 * 127 and inputs -128 make V[1][1] = -4 * 128, so the
  // product sum reaches 2048 * 1143 * 512 ~ 0.56 * 2^31; then random signs of extreme values.
  const int32_t ic = QP_CONV_WINO_MAX_CHANNELS;
  Rng r(107);
  for (int t = 0; t < 4; ++t) {
    ConvCase c;
    c.in = {1, 3 + t % 2, 4 + t / 2, ic};
    c.f = {5, 3, 3, ic};
    c.p = {t % 2 ? -127 : 128, 0, 1, 1, 1, -128, 127};
    c.out = {1, c.in.h, c.in.w, 5};
    c.input.assign(static_cast<size_t>(c.in.h) * c.in.w * ic, int8_t{-128});
    c.filter.assign(static_cast<size_t>(5) * 9 * ic, int8_t{127});
    if (t >= 2) {
      for (auto &x : c.input) x = static_cast<int8_t>(r.below(2) ? 127 : -128);
      for (auto &w : c.filter) w = static_cast<int8_t>(r.below(2) ? 127 : -127);
    }
    c.bias.assign(5, 0);
    c.with_bias = false;
    random_requant(r, 5, c.mult, c.shift);
    for (auto &sh : c.shift) sh = pick(r, -31, -20);  // brings ~2^29 accumulators into the int8 range
    expect_wino_equal(c);
    if (HasFatalFailure()) return;
  }
  qp_conv_params_t p = {0, 0, 1, 1, 1, -128, 127};
  const qp_dims_t in = {1, 4, 4, ic + 1}, f = {4, 3, 3, ic + 1};
  EXPECT_FALSE(qp_conv_wino_supported(&p, &f, &in));  // beyond the proven bound: use qp_conv_run_mcu_s8
  EXPECT_EQ(qp_conv_packed_wino_bytes(&f), -1);
}

TEST(RuntimeMcu, WinogradPackedFilterIsFourGgGt) {
  // A filter with one tap set: U = (2G) g (2G)^T is the outer product of column kx and row ky of 2G, so
  // the centre tap gives rows/columns (0, 1, -1, 0); 5 output channels: the second block is channel 4
  // and three zero channels; the bias folds input_offset * sum(w) as qp_conv_pack_mcu_s8 does.
  const int32_t g2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  const qp_dims_t f = {5, 3, 3, 2};
  std::vector<int8_t> w(5 * 9 * 2, 0);
  const int32_t tap[5][3] = {{1, 1, 0}, {0, 0, 1}, {2, 2, 0}, {0, 2, 1}, {2, 1, 1}};  // ky, kx, ic per channel
  for (int oc = 0; oc < 5; ++oc) w[((oc * 3 + tap[oc][0]) * 3 + tap[oc][1]) * 2 + tap[oc][2]] = static_cast<int8_t>(oc + 1);
  const int32_t bias[5] = {10, 20, 30, 40, 50};
  std::vector<int16_t> packed(QP_CONV_WINO_PACKED_COUNT(5, 2), 99);
  std::vector<int32_t> pb(8, 99);
  ASSERT_EQ(packed.size(), 2u * 2 * 16 * 4);
  ASSERT_EQ(qp_conv_pack_wino_s8(-3, &f, w.data(), bias, packed.data(), pb.data()), QP_STATUS_OK);
  for (int oc = 0; oc < 8; ++oc)
    for (int ic = 0; ic < 2; ++ic)
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          const bool set = oc < 5 && tap[oc][2] == ic;
          const int expect = set ? (oc + 1) * g2[a][tap[oc][0]] * g2[b][tap[oc][1]] : 0;
          EXPECT_EQ(packed[((oc / 4) * 2 + ic) * 64 + (a * 4 + b) * 4 + oc % 4], expect) << oc << " " << ic << " " << a << b;
        }
  for (int oc = 0; oc < 8; ++oc) EXPECT_EQ(pb[oc], oc < 5 ? bias[oc] - 3 * (oc + 1) : 0) << oc;
}

TEST(RuntimeMcu, WinogradSupportScratchAndArgumentErrors) {
  qp_conv_params_t p = {128, -128, 1, 1, 1, -128, 127};
  const qp_dims_t in = {1, 8, 8, 4}, f = {6, 3, 3, 4}, out = {1, 8, 8, 6};
  EXPECT_TRUE(qp_conv_wino_supported(&p, &f, &in));
  EXPECT_EQ(qp_conv_scratch_wino_bytes(&p, &in, &f, &out), 1027 + 168 * 4);
  qp_conv_params_t s2 = p;
  s2.stride = 2;
  EXPECT_FALSE(qp_conv_wino_supported(&s2, &f, &in));
  const qp_dims_t f5 = {6, 5, 5, 4}, f31 = {6, 3, 1, 4}, bad_f = {6, 3, 3, 5};
  EXPECT_FALSE(qp_conv_wino_supported(&p, &f5, &in));
  EXPECT_FALSE(qp_conv_wino_supported(&p, &f31, &in));
  EXPECT_FALSE(qp_conv_wino_supported(&p, &bad_f, &in));
  EXPECT_EQ(qp_conv_scratch_wino_bytes(&s2, &in, &f, &out), -1);
  EXPECT_EQ(qp_conv_packed_wino_bytes(&f5), -1);
  EXPECT_EQ(qp_conv_packed_wino_bytes(&f), 2 * 8 * 16 * 4);

  std::vector<int8_t> x(8 * 8 * 4), w(6 * 9 * 4), o(8 * 8 * 6), scratch(1027 + 168 * 4);
  std::vector<int16_t> packed(QP_CONV_WINO_PACKED_COUNT(6, 4));
  std::vector<int32_t> pb(8), mult(6, 1 << 30), shift(6, -3);
  auto run = [&](const qp_conv_params_t &pp, const qp_dims_t &ff, int8_t *sc) {
    return qp_conv_run_wino_s8(&pp, mult.data(), shift.data(), &in, x.data(), &ff, packed.data(), pb.data(), &out, o.data(), sc);
  };
  EXPECT_EQ(run(p, f, nullptr), QP_STATUS_BAD_ARGUMENT);  // scratch is always needed
  EXPECT_EQ(run(s2, f, scratch.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(run(p, bad_f, scratch.data()), QP_STATUS_BAD_ARGUMENT);
  shift[5] = 31;
  EXPECT_EQ(run(p, f, scratch.data()), QP_STATUS_BAD_SHIFT);
  shift[5] = -3;
  p.act_min = 5, p.act_max = 4;
  EXPECT_EQ(run(p, f, scratch.data()), QP_STATUS_BAD_ARGUMENT);
  p.act_min = -128, p.act_max = 127;
  EXPECT_EQ(run(p, f, scratch.data()), QP_STATUS_OK);
  EXPECT_EQ(qp_conv_pack_wino_s8(129, &f, w.data(), nullptr, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_conv_pack_wino_s8(0, &f5, w.data(), nullptr, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_conv_pack_wino_s8(0, &f, nullptr, nullptr, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
}

namespace {

// A depthwise case from a random conv case: the same shapes, paddings, offsets and weight kinds with
// the input's channel count (1 .. 70, often not a multiple of 4) as the filter's.
ConvCase random_dwconv(Rng &r) {
  ConvCase c = random_conv(r);
  const int32_t ch = c.in.c;
  c.f = {1, c.f.h, c.f.w, ch};
  c.out.c = ch;
  c.filter.resize(static_cast<size_t>(c.f.h) * c.f.w * ch);
  c.bias.resize(static_cast<size_t>(ch));
  random_requant(r, ch, c.mult, c.shift);
  return c;
}

// Reference depthwise vs qp_dwconv_run_mcu_s8; the output surrounded by canaries, the input exactly sized.
void expect_dwconv_equal(const ConvCase &c) {
  const auto nout = static_cast<size_t>(c.out.h) * c.out.w * c.out.c;
  const int32_t guard = 37;
  std::vector<int8_t> ref(nout, 0x5a), got(nout + 2 * guard, 0x3c);
  const int32_t *bias = c.with_bias ? c.bias.data() : nullptr;
  ASSERT_EQ(qp_dwconv_run_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, c.filter.data(), bias, &c.out,
                             ref.data()),
            QP_STATUS_OK)
      << describe(c);
  std::vector<int16_t> packed(QP_DWCONV_MCU_PACKED_COUNT(c.f.h, c.f.w, c.f.c), 0x11);
  std::vector<int32_t> packed_bias(QP_DWCONV_MCU_PACKED_CHANNELS(c.f.c));
  ASSERT_EQ(qp_dwconv_pack_mcu_s8(c.p.input_offset, &c.f, c.filter.data(), bias, packed.data(), packed_bias.data()),
            QP_STATUS_OK);
  ASSERT_EQ(qp_dwconv_run_mcu_s8(&c.p, c.mult.data(), c.shift.data(), &c.in, c.input.data(), &c.f, packed.data(),
                                 packed_bias.data(), &c.out, got.data() + guard),
            QP_STATUS_OK)
      << describe(c);
  for (size_t i = 0; i < nout; ++i) ASSERT_EQ(int{got[guard + i]}, int{ref[i]}) << "output " << i << ": " << describe(c);
  for (int32_t i = 0; i < guard; ++i) {
    ASSERT_EQ(got[i], 0x3c) << "output underrun: " << describe(c);
    ASSERT_EQ(got[guard + nout + i], 0x3c) << "output overrun: " << describe(c);
  }
}

// TFLite-like ADD parameters: input multipliers at most 1/2 (shift <= 0), any output shift now and then.
qp_add_params_t random_add_params(Rng &r) {
  qp_add_params_t p{};
  const int32_t offs[] = {-127, 128, 0, 1};
  p.input1_offset = r.below(3) == 0 ? offs[r.below(4)] : pick(r, -127, 128);
  p.input2_offset = r.below(3) == 0 ? offs[r.below(4)] : pick(r, -127, 128);
  std::vector<int32_t> m, s;
  random_requant(r, 3, m, s);
  p.input1_multiplier = m[0], p.input2_multiplier = m[1], p.output_multiplier = m[2];
  p.input1_shift = r.below(4) == 0 ? pick(r, -31, 0) : pick(r, -3, 0);
  p.input2_shift = r.below(4) == 0 ? pick(r, -31, 0) : pick(r, -3, 0);
  p.output_shift = r.below(4) == 0 ? pick(r, -31, 30) : pick(r, -22, -15);
  p.output_offset = pick(r, -128, 127);
  p.act_min = r.below(2) ? -128 : pick(r, -128, 127);
  p.act_max = r.below(2) ? 127 : pick(r, p.act_min, 127);
  return p;
}

}  // namespace

TEST(RuntimeMcu, DwconvEqualsReferenceOnRandomShapes) {
  Rng r(303);
  for (int t = 0; t < 800; ++t) {
    SCOPED_TRACE(t);
    expect_dwconv_equal(random_dwconv(r));
    if (HasFatalFailure()) return;
  }
}

TEST(RuntimeMcu, DwconvEqualsReferenceOnMobileLayers) {
  // rps-mobile's depthwise layers (3x3 'same', stride 1 and 2) and a 96x96 MobileNet-style one.
  Rng r(304);
  const int32_t shapes[][4] = {{16, 16, 16, 1}, {16, 16, 32, 2}, {8, 8, 64, 2}, {48, 48, 8, 1}, {12, 12, 128, 1}};
  for (const auto &s : shapes) {
    ConvCase c = random_dwconv(r);
    const int32_t stride = s[3];
    c.in = {1, s[0], s[1], s[2]};
    c.f = {1, 3, 3, s[2]};
    c.out = {1, (s[0] + stride - 1) / stride, (s[1] + stride - 1) / stride, s[2]};
    c.p.stride = stride;
    c.p.pad_top = std::max(0, ((c.out.h - 1) * stride + 3 - s[0]) / 2);
    c.p.pad_left = std::max(0, ((c.out.w - 1) * stride + 3 - s[1]) / 2);
    c.input = random_s8(static_cast<size_t>(s[0]) * s[1] * s[2], r);
    c.filter = random_s8(static_cast<size_t>(9) * s[2], r, -127, 127);
    c.bias.resize(static_cast<size_t>(s[2]));
    for (auto &b : c.bias) b = static_cast<int32_t>(r.next() >> 40) - (1 << 23);
    random_requant(r, s[2], c.mult, c.shift);
    expect_dwconv_equal(c);
  }
}

TEST(RuntimeMcu, DwconvPackedLayoutAndArgumentErrors) {
  // 5 channels, 1x2 taps: blocks of 4 channels per tap, the last block zero-padded; bias + offset * sum(w).
  const qp_dims_t f = {1, 1, 2, 5};
  const int8_t w[10] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5};
  const int32_t bias[5] = {10, 20, 30, 40, 50};
  std::vector<int16_t> packed(QP_DWCONV_MCU_PACKED_COUNT(1, 2, 5), 0x55);
  std::vector<int32_t> pb(QP_DWCONV_MCU_PACKED_CHANNELS(5), 0x55);
  ASSERT_EQ(packed.size(), 16u);
  ASSERT_EQ(qp_dwconv_pack_mcu_s8(7, &f, w, bias, packed.data(), pb.data()), QP_STATUS_OK);
  EXPECT_EQ(packed, (std::vector<int16_t>{1, 2, 3, 4, -1, -2, -3, -4, 5, 0, 0, 0, -5, 0, 0, 0}));
  EXPECT_EQ(pb, (std::vector<int32_t>{10, 20, 30, 40, 50, 0, 0, 0}));
  ASSERT_EQ(qp_dwconv_pack_mcu_s8(3, &f, w, nullptr, packed.data(), pb.data()), QP_STATUS_OK);
  EXPECT_EQ(pb[0], 0);
  EXPECT_EQ(qp_dwconv_pack_mcu_s8(129, &f, w, bias, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  const qp_dims_t not_dw = {2, 1, 2, 5};
  EXPECT_EQ(qp_dwconv_pack_mcu_s8(0, &not_dw, w, bias, packed.data(), pb.data()), QP_STATUS_BAD_ARGUMENT);
  Rng r(305);
  ConvCase c = random_dwconv(r);
  std::vector<int16_t> pw(QP_DWCONV_MCU_PACKED_COUNT(c.f.h, c.f.w, c.f.c));
  std::vector<int32_t> pbias(QP_DWCONV_MCU_PACKED_CHANNELS(c.f.c));
  ASSERT_EQ(qp_dwconv_pack_mcu_s8(c.p.input_offset, &c.f, c.filter.data(), c.bias.data(), pw.data(), pbias.data()), QP_STATUS_OK);
  std::vector<int8_t> out(static_cast<size_t>(c.out.h) * c.out.w * c.out.c);
  auto run = [&](const qp_conv_params_t &p, const qp_dims_t &fd, const int32_t *shift) {
    return qp_dwconv_run_mcu_s8(&p, c.mult.data(), shift, &c.in, c.input.data(), &fd, pw.data(), pbias.data(), &c.out, out.data());
  };
  EXPECT_EQ(run(c.p, c.f, c.shift.data()), QP_STATUS_OK);
  qp_dims_t bad_f = c.f;
  bad_f.c += 1;
  EXPECT_EQ(run(c.p, bad_f, c.shift.data()), QP_STATUS_BAD_ARGUMENT);
  qp_conv_params_t bad_p = c.p;
  bad_p.stride = 0;
  EXPECT_EQ(run(bad_p, c.f, c.shift.data()), QP_STATUS_BAD_ARGUMENT);
  std::vector<int32_t> bad_shift = c.shift;
  bad_shift.back() = 31;
  EXPECT_EQ(run(c.p, c.f, bad_shift.data()), QP_STATUS_BAD_SHIFT);
}

TEST(RuntimeMcu, AddEqualsReferenceOnRandomParameters) {
  Rng r(306);
  for (int t = 0; t < 300; ++t) {
    SCOPED_TRACE(t);
    const qp_add_params_t p = random_add_params(r);
    const int32_t n = t < 20 ? 65536 : pick(r, 1, 300);
    std::vector<int8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    if (n == 65536) {  // every pair of input values
      for (int32_t i = 0; i < n; ++i) a[static_cast<size_t>(i)] = static_cast<int8_t>(i & 255), b[static_cast<size_t>(i)] = static_cast<int8_t>(i >> 8);
    } else {
      a = random_s8(static_cast<size_t>(n), r);
      b = random_s8(static_cast<size_t>(n), r);
    }
    std::vector<int32_t> table(QP_ADD_MCU_TABLE_COUNT);
    ASSERT_EQ(qp_add_table_mcu_s8(&p, table.data()), QP_STATUS_OK);
    std::vector<int8_t> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    ASSERT_EQ(qp_add_run_s8(&p, n, a.data(), b.data(), ref.data()), QP_STATUS_OK);
    ASSERT_EQ(qp_add_run_mcu_s8(&p, table.data(), n, a.data(), b.data(), got.data()), QP_STATUS_OK);
    ASSERT_EQ(got, ref);
  }
}

TEST(RuntimeMcu, AddRefusesWhatTheReferenceRefuses) {
  Rng r(307);
  const qp_add_params_t good = random_add_params(r);
  std::vector<int32_t> table(QP_ADD_MCU_TABLE_COUNT);
  const int8_t a[2] = {1, 2}, b[2] = {3, 4};
  int8_t o1[2], o2[2];
  std::vector<qp_add_params_t> bad(5, good);
  bad[0].input1_offset = 129;
  bad[1].output_offset = 128;
  bad[2].input2_shift = 1;
  bad[3].output_shift = 31;
  bad[4].act_min = 5, bad[4].act_max = 4;
  for (const auto &p : bad) {
    const qp_status_t want = qp_add_run_s8(&p, 2, a, b, o1);
    EXPECT_NE(want, QP_STATUS_OK);
    EXPECT_EQ(qp_add_table_mcu_s8(&p, table.data()), want);
    EXPECT_EQ(qp_add_run_mcu_s8(&p, table.data(), 2, a, b, o2), want);
  }
  EXPECT_EQ(qp_add_run_mcu_s8(&good, nullptr, 2, a, b, o2), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_add_run_mcu_s8(&good, table.data(), 0, a, b, o2), QP_STATUS_BAD_ARGUMENT);
}
