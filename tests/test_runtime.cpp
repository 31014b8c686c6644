// The C99 integer runtime: requantization property tests, QuantizeMultiplier edge cases, hand-checked
// kernel vectors, randomized kernels against straightforward re-implementations, and the integer-only
// source contract.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "qp_runtime.h"
#include "quant/multiplier.h"

using namespace qp;

namespace {

// Exact references in int64, written independently of the runtime's formulation.
int32_t ref_srdhm(int32_t a, int32_t b) {
  // p / 2^31 to nearest, ties toward +infinity: floor((p + 2^30) / 2^31). (p + 2^30 never overflows.)
  const int64_t p = static_cast<int64_t>(a) * b;
  const int64_t num = p + (int64_t{1} << 30);
  const int64_t r = num >= 0 ? num / (int64_t{1} << 31) : -((-num + (int64_t{1} << 31) - 1) / (int64_t{1} << 31));
  return r > INT32_MAX ? INT32_MAX : static_cast<int32_t>(r);
}

int32_t ref_rdbpot(int32_t x, int e) {
  if (e == 0) return x;
  const int64_t v = x, mag = ((v < 0 ? -v : v) + (int64_t{1} << (e - 1))) >> e;
  return static_cast<int32_t>(v < 0 ? -mag : mag);
}

int32_t ref_requant(int32_t acc, int32_t m, int32_t shift) {
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(acc) << (shift > 0 ? shift : 0));
  return ref_rdbpot(ref_srdhm(shifted, m), shift > 0 ? 0 : -shift);
}

int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(std::min(hi, std::max(lo, v)));
}

std::vector<int8_t> random_s8(size_t n, Rng &r) {
  std::vector<int8_t> v(n);
  for (auto &x : v) x = static_cast<int8_t>(static_cast<int>(r.below(256)) - 128);
  return v;
}

}  // namespace

TEST(Requant, SrdhmMatchesExactRoundingOnEdgesAndRandom) {
  const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30, INT32_MAX - 1, INT32_MAX};
  for (int32_t a : edges)
    for (int32_t b : edges) ASSERT_EQ(qp_requant_srdhm_s32(a, b), ref_srdhm(a, b)) << a << " * " << b;
  EXPECT_EQ(qp_requant_srdhm_s32(INT32_MIN, INT32_MIN), INT32_MAX);  // the saturating case
  EXPECT_EQ(qp_requant_srdhm_s32(1 << 30, 3), 2);                    // 1.5 -> 2
  EXPECT_EQ(qp_requant_srdhm_s32(-(1 << 30), 3), -1);                // -1.5 -> -1: ties go toward +infinity
  EXPECT_EQ(qp_requant_srdhm_s32(-(1 << 30), 5), -2);                // -2.5 -> -2
  EXPECT_EQ(qp_requant_srdhm_s32(-(1 << 30) - 1, 3), -2);            // just below the tie -> -2
  Rng r(1);
  for (int i = 0; i < 200000; ++i) {
    const auto a = static_cast<int32_t>(r.next()), b = static_cast<int32_t>(r.next() >> 32);
    ASSERT_EQ(qp_requant_srdhm_s32(a, b), ref_srdhm(a, b)) << a << " * " << b;
  }
}

TEST(Requant, RdbpotExactPowersTiesAndExtremes) {
  Rng r(2);
  for (int e = 0; e <= 31; ++e) {
    // Exact division: k * 2^e / 2^e == k.
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{5}, int64_t{-7}}) {
      const int64_t x = k * (int64_t{1} << e);
      if (x < INT32_MIN || x > INT32_MAX) continue;
      ASSERT_EQ(qp_requant_rdbpot_s32(static_cast<int32_t>(x), e), k) << "e=" << e;
    }
    if (e > 0 && e < 31) {  // ties: (2k+1) * 2^(e-1) rounds away from zero
      const int32_t tie = 3 * (1 << (e - 1));
      EXPECT_EQ(qp_requant_rdbpot_s32(tie, e), 2) << e;
      EXPECT_EQ(qp_requant_rdbpot_s32(-tie, e), -2) << e;
      EXPECT_EQ(qp_requant_rdbpot_s32(tie - 1, e), 1) << e;
      EXPECT_EQ(qp_requant_rdbpot_s32(-tie + 1, e), -1) << e;
    }
    for (int32_t x : {INT32_MIN, INT32_MIN + 1, INT32_MAX, -1, 1})
      ASSERT_EQ(qp_requant_rdbpot_s32(x, e), ref_rdbpot(x, e)) << x << ">>" << e;
    for (int i = 0; i < 5000; ++i) {
      const auto x = static_cast<int32_t>(r.next());
      ASSERT_EQ(qp_requant_rdbpot_s32(x, e), ref_rdbpot(x, e)) << x << " >> " << e;
    }
  }
}

TEST(Requant, ApplyIsDoubleRoundingAndCloseToTheRealProduct) {
  Rng r(3);
  for (int i = 0; i < 100000; ++i) {
    const double real = std::ldexp(r.uniform(0.5, 1.0), static_cast<int>(r.below(40)) - 30);  // 2^-31 .. 2^9
    const auto qm = quant::quantize_multiplier(real);
    if (qm.multiplier == 0 || qm.shift > 30 || qm.shift < -31) continue;
    const int32_t acc = static_cast<int32_t>(r.next() >> 40) - (1 << 23);  // |acc| < 2^23: no left-shift wrap for shift <= 8
    if (qm.shift > 8) continue;
    const int32_t got = qp_requant_apply_dr_s32(acc, qm.multiplier, qm.shift);
    ASSERT_EQ(got, ref_requant(acc, qm.multiplier, qm.shift));
    const double exact = acc * (qm.multiplier * std::ldexp(1.0, qm.shift - 31));
    ASSERT_LE(std::fabs(got - exact), 1.0) << acc << " * " << real;  // two roundings: within one unit
  }
  // Shifts at their extremes.
  // (2^31 - 1) * 0.5 * 2^-31 = 0.49999...: the first rounding gives 2^30, the second 0.5 -> 1. A single
  // rounding would give 0; this is the reference kernels' double rounding, kept on purpose.
  EXPECT_EQ(qp_requant_apply_dr_s32(INT32_MAX, 1 << 30, -31), 1);
  EXPECT_EQ(qp_requant_apply_dr_s32(INT32_MAX - (1 << 20), 1 << 30, -31), 0);
  EXPECT_EQ(qp_requant_apply_dr_s32(1, 1 << 30, 30), 1 << 29);   // 0.5 * 2^30
  EXPECT_EQ(qp_requant_apply_dr_s32(1000, INT32_MAX, 0), 1000);  // multiplier just under 1.0
  EXPECT_EQ(qp_requant_apply_dr_s32(-1000, INT32_MAX, 0), -1000);
}

TEST(QuantizeMultiplier, EdgeCases) {
  auto q = quant::quantize_multiplier(1.0);
  EXPECT_EQ(q.multiplier, 1 << 30);
  EXPECT_EQ(q.shift, 1);
  q = quant::quantize_multiplier(0.5);
  EXPECT_EQ(q.multiplier, 1 << 30);
  EXPECT_EQ(q.shift, 0);
  q = quant::quantize_multiplier(0.75);
  EXPECT_EQ(q.multiplier, 3 << 29);
  EXPECT_EQ(q.shift, 0);
  q = quant::quantize_multiplier(1.0 - std::ldexp(1.0, -40));  // rounds up to 1.0: renormalised
  EXPECT_EQ(q.multiplier, 1 << 30);
  EXPECT_EQ(q.shift, 1);
  q = quant::quantize_multiplier(0.9999999);  // near 2^31 but below it
  EXPECT_EQ(q.multiplier, static_cast<int32_t>(std::llround(0.9999999 * 2147483648.0)));
  EXPECT_LT(static_cast<int64_t>(q.multiplier), int64_t{1} << 31);
  q = quant::quantize_multiplier(std::ldexp(1.0, -40));  // below 2^-32: zero
  EXPECT_EQ(q.multiplier, 0);
  EXPECT_EQ(q.shift, 0);
  q = quant::quantize_multiplier(0.0);
  EXPECT_EQ(q.multiplier, 0);
  EXPECT_THROW(quant::quantize_multiplier(-0.1), Error);
  EXPECT_THROW(quant::quantize_multiplier(NAN), Error);
  EXPECT_THROW(quant::quantize_multiplier(std::ldexp(1.0, 31)), Error);
  Rng r(4);
  for (int i = 0; i < 10000; ++i) {  // the pair represents the real value to 2^-31 relative
    const double real = std::ldexp(r.uniform(0.5, 1.0), static_cast<int>(r.below(60)) - 31);
    q = quant::quantize_multiplier(real);
    ASSERT_GE(q.multiplier, 1 << 30);
    ASSERT_NEAR(q.multiplier * std::ldexp(1.0, q.shift - 31) / real, 1.0, 1e-9);
  }
}

TEST(ConvS8, HandCheckedSamePaddingAndStride) {
  // 3x3 single-channel input 1..9, 3x3 all-ones filter, same padding, multiplier 1.0, offsets 0.
  const int8_t in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const int8_t w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const int32_t m[1] = {1 << 30}, s[1] = {1}, bias[1] = {100};
  qp_conv_params_t p = {0, 0, 1, 1, 1, -128, 127};
  qp_dims_t id = {1, 3, 3, 1}, fd = {1, 3, 3, 1}, od = {1, 3, 3, 1};
  int8_t out[9];
  ASSERT_EQ(qp_conv_run_s8(&p, m, s, &id, in, &fd, w, nullptr, &od, out), QP_STATUS_OK);
  const int8_t expect[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(out[i], expect[i]) << i;
  // Bias, saturation at 127, stride 2 (output 2x2 at the corners).
  qp_dims_t od2 = {1, 2, 2, 1};
  p.stride = 2;
  ASSERT_EQ(qp_conv_run_s8(&p, m, s, &id, in, &fd, w, bias, &od2, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 112);
  EXPECT_EQ(out[1], 116);
  EXPECT_EQ(out[2], 124);
  EXPECT_EQ(out[3], 127);  // 128 saturates
  // Input offset: padding contributes nothing, real pixels contribute (x + offset).
  p.stride = 1;
  p.input_offset = 1;
  ASSERT_EQ(qp_conv_run_s8(&p, m, s, &id, in, &fd, w, nullptr, &od, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 12 + 4);
  EXPECT_EQ(out[4], 45 + 9);
  // Fused ReLU6-style clamp and a negative output offset.
  p.input_offset = 0;
  p.output_offset = -20;
  p.act_min = -10;
  p.act_max = 10;
  ASSERT_EQ(qp_conv_run_s8(&p, m, s, &id, in, &fd, w, nullptr, &od, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], -8);
  EXPECT_EQ(out[4], 10);
  // Bad arguments give a status, not a crash.
  EXPECT_EQ(qp_conv_run_s8(nullptr, m, s, &id, in, &fd, w, nullptr, &od, out), QP_STATUS_BAD_ARGUMENT);
  const int32_t bad_shift[1] = {31};
  EXPECT_EQ(qp_conv_run_s8(&p, m, bad_shift, &id, in, &fd, w, nullptr, &od, out), QP_STATUS_BAD_SHIFT);
}

TEST(ConvS8, RandomizedAgainstStraightforwardLoops) {
  Rng r(5);
  for (int t = 0; t < 60; ++t) {
    const int h = 1 + static_cast<int>(r.below(9)), w = 1 + static_cast<int>(r.below(9)), ic = 1 + static_cast<int>(r.below(5));
    const int oc = 1 + static_cast<int>(r.below(6)), k = 1 + static_cast<int>(r.below(4)),
              stride = 1 + static_cast<int>(r.below(2));
    const bool same = r.chance(0.5) || h < k || w < k;
    const int oh = same ? (h + stride - 1) / stride : (h - k) / stride + 1,
              ow = same ? (w + stride - 1) / stride : (w - k) / stride + 1;
    const int pt = same ? std::max((oh - 1) * stride + k - h, 0) / 2 : 0,
              pl = same ? std::max((ow - 1) * stride + k - w, 0) / 2 : 0;
    const bool depthwise = t % 3 == 0;
    const int out_c = depthwise ? ic : oc;
    auto x = random_s8(static_cast<size_t>(h * w * ic), r);
    auto f = random_s8(static_cast<size_t>((depthwise ? 1 : oc) * k * k * ic), r);
    for (auto &v : f)
      if (v == -128) v = -127;  // symmetric weights, as the quantizer makes them
    std::vector<int32_t> bias(static_cast<size_t>(out_c)), mult(static_cast<size_t>(out_c)), shift(static_cast<size_t>(out_c));
    for (int c = 0; c < out_c; ++c) {
      bias[static_cast<size_t>(c)] = static_cast<int32_t>(r.below(20000)) - 10000;
      const auto q = quant::quantize_multiplier(r.uniform(0.0005, 0.05));
      mult[static_cast<size_t>(c)] = q.multiplier;
      shift[static_cast<size_t>(c)] = q.shift;
    }
    qp_conv_params_t p = {
        static_cast<int32_t>(r.below(256)) - 127, static_cast<int32_t>(r.below(256)) - 128, stride, pt, pl, -128, 127};
    if (r.chance(0.5)) p.act_min = p.output_offset;  // fused ReLU
    qp_dims_t id = {1, h, w, ic}, fd = {depthwise ? 1 : oc, k, k, ic}, od = {1, oh, ow, out_c};
    std::vector<int8_t> got(static_cast<size_t>(oh * ow * out_c));
    const qp_status_t st =
        depthwise ? qp_dwconv_run_s8(&p, mult.data(), shift.data(), &id, x.data(), &fd, f.data(), bias.data(), &od, got.data())
                  : qp_conv_run_s8(&p, mult.data(), shift.data(), &id, x.data(), &fd, f.data(), bias.data(), &od, got.data());
    ASSERT_EQ(st, QP_STATUS_OK);
    for (int y = 0; y < oh; ++y)
      for (int xx = 0; xx < ow; ++xx)
        for (int o = 0; o < out_c; ++o) {
          int64_t acc = bias[static_cast<size_t>(o)];
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = y * stride + ky - pt, ix = xx * stride + kx - pl;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (int c = 0; c < ic; ++c) {
                if (depthwise && c != o) continue;
                const int8_t wv = depthwise ? f[static_cast<size_t>((ky * k + kx) * ic + c)]
                                            : f[static_cast<size_t>(((o * k + ky) * k + kx) * ic + c)];
                acc += int64_t{wv} * (x[static_cast<size_t>((iy * w + ix) * ic + c)] + p.input_offset);
              }
            }
          const int32_t v = ref_requant(static_cast<int32_t>(acc), mult[static_cast<size_t>(o)], shift[static_cast<size_t>(o)]) +
                            p.output_offset;
          ASSERT_EQ(got[static_cast<size_t>((y * ow + xx) * out_c + o)], clamp8(v, p.act_min, p.act_max)) << "trial " << t;
        }
  }
}

TEST(FcS8, RandomizedAgainstStraightforwardLoop) {
  Rng r(6);
  for (int t = 0; t < 40; ++t) {
    const int in = 1 + static_cast<int>(r.below(300)), out = 1 + static_cast<int>(r.below(12));
    auto x = random_s8(static_cast<size_t>(in), r), w = random_s8(static_cast<size_t>(in * out), r);
    std::vector<int32_t> bias(static_cast<size_t>(out)), mult(static_cast<size_t>(out)), shift(static_cast<size_t>(out));
    const auto q = quant::quantize_multiplier(r.uniform(0.0001, 0.01));
    for (int o = 0; o < out; ++o) {
      bias[static_cast<size_t>(o)] = static_cast<int32_t>(r.below(2000)) - 1000;
      mult[static_cast<size_t>(o)] = q.multiplier;
      shift[static_cast<size_t>(o)] = q.shift;
    }
    const int32_t io = static_cast<int32_t>(r.below(256)) - 127, oo = static_cast<int32_t>(r.below(256)) - 128;
    std::vector<int8_t> got(static_cast<size_t>(out));
    ASSERT_EQ(qp_fc_run_s8(io, oo, -128, 127, mult.data(), shift.data(), in, out, x.data(), w.data(), bias.data(), got.data()),
              QP_STATUS_OK);
    for (int o = 0; o < out; ++o) {
      int64_t acc = bias[static_cast<size_t>(o)];
      for (int i = 0; i < in; ++i) acc += int64_t{w[static_cast<size_t>(o * in + i)]} * (x[static_cast<size_t>(i)] + io);
      ASSERT_EQ(got[static_cast<size_t>(o)],
                clamp8(ref_requant(static_cast<int32_t>(acc), q.multiplier, q.shift) + oo, -128, 127));
    }
  }
  int8_t o1;
  const int32_t m = 1 << 30, s = 1;
  EXPECT_EQ(qp_fc_run_s8(0, 0, -128, 127, &m, &s, 0, 1, &o1, &o1, nullptr, &o1), QP_STATUS_BAD_ARGUMENT);
}

TEST(PoolS8, HandCheckedMaxAvgAndGlobal) {
  // 1x4x4x1; 2x2 windows.
  const int8_t in[16] = {1, 2, -3, -4, 5, 6, -7, -8, 9, 10, 11, 12, -13, -14, 15, 16};
  qp_pool_params_t p = {2, 2, -128, 127};
  qp_dims_t id = {1, 4, 4, 1}, od = {1, 2, 2, 1};
  int8_t out[4];
  ASSERT_EQ(qp_pool_max_s8(&p, &id, in, &od, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 6);
  EXPECT_EQ(out[1], -3);
  EXPECT_EQ(out[2], 10);
  EXPECT_EQ(out[3], 16);
  ASSERT_EQ(qp_pool_avg_s8(&p, &id, in, &od, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 4);   // 14/4 = 3.5 -> 4 (half away from zero)
  EXPECT_EQ(out[1], -6);  // -22/4 = -5.5 -> -6
  EXPECT_EQ(out[2], -2);  // -8/4
  EXPECT_EQ(out[3], 14);  // 54/4 = 13.5 -> 14
  int8_t g;
  ASSERT_EQ(qp_pool_global_avg_s8(-128, 127, &id, in, &g), QP_STATUS_OK);
  EXPECT_EQ(g, 2);  // 38/16 = 2.375
  qp_dims_t wrong = {1, 3, 3, 1};
  EXPECT_EQ(qp_pool_max_s8(&p, &id, in, &wrong, out), QP_STATUS_BAD_ARGUMENT);
}

// The largest map the kernel accepts (2^24 - 1 positions), all -128 but one -127: the rounding term used to
// overflow int32 (sum - count/2 < INT32_MIN), undefined behaviour; the mean rounds to -128 (half away from zero).
TEST(PoolS8, GlobalAverageOfTheLargestMapDoesNotOverflow) {
  const int32_t n = 16777215;
  std::vector<int8_t> in(static_cast<size_t>(n), -128);
  in[7] = -127;
  qp_dims_t id = {1, 4095, 4097, 1};  // 4095 * 4097 = 2^24 - 1
  int8_t g = 0;
  ASSERT_EQ(qp_pool_global_avg_s8(-128, 127, &id, in.data(), &g), QP_STATUS_OK);
  const int64_t sum = -128LL * n + 1;
  EXPECT_EQ(g, static_cast<int8_t>((sum - n / 2) / n));
  EXPECT_EQ(g, -128);
  // Positive extreme: all 127 but one 126 rounds to 127.
  std::fill(in.begin(), in.end(), int8_t{127});
  in[3] = 126;
  ASSERT_EQ(qp_pool_global_avg_s8(-128, 127, &id, in.data(), &g), QP_STATUS_OK);
  EXPECT_EQ(g, 127);
  qp_dims_t too_big = {1, 4096, 4096, 1};
  EXPECT_EQ(qp_pool_global_avg_s8(-128, 127, &too_big, in.data(), &g), QP_STATUS_BAD_ARGUMENT);
}

namespace {
std::vector<int8_t> run_softmax(double scale, const std::vector<int8_t> &in) {
  const auto sp = quant::softmax_params(scale);
  const qp_softmax_params_t p = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
  std::vector<int8_t> out(in.size());
  EXPECT_EQ(qp_softmax_run_s8(&p, static_cast<int32_t>(in.size()), in.data(), out.data()), QP_STATUS_OK);
  return out;
}
}  // namespace

TEST(SoftmaxS8, WorkedValues) {
  // A clear winner: 127, i.e. confidence 255/256 = 0.9961 as in the seed's logs; losers -128.
  auto out = run_softmax(0.1, {100, -50, -60});
  EXPECT_EQ(out[0], 127);
  EXPECT_EQ(out[1], -128);
  EXPECT_EQ(out[2], -128);
  // Ties split evenly: three equal inputs give 256/3 = 85.3 -> 85 - 128 = -43 each.
  out = run_softmax(0.1, {7, 7, 7});
  EXPECT_EQ(out, (std::vector<int8_t>{-43, -43, -43}));
  out = run_softmax(0.05, {-20, 30, 30, -20});
  EXPECT_EQ(out[1], out[2]);
  EXPECT_EQ(out[0], out[3]);
  // Two equal and one far below: 128 each -> 0.
  out = run_softmax(0.1, {50, 50, -128});
  EXPECT_EQ(out, (std::vector<int8_t>{0, 0, -128}));
}

TEST(SoftmaxS8, WithinOneStepOfTheRealSoftmax) {
  Rng r(8);
  int off_by_one = 0, total = 0;
  for (int t = 0; t < 3000; ++t) {
    const double scale = std::ldexp(r.uniform(0.5, 1.0), -static_cast<int>(r.below(8)));  // 2^-8 .. 1
    const size_t n = 2 + r.below(9);
    const auto in = random_s8(n, r);
    const auto out = run_softmax(scale, in);
    double denom = 0;
    const int mx = *std::max_element(in.begin(), in.end());
    for (auto v : in) denom += std::exp((v - mx) * scale);
    for (size_t i = 0; i < n; ++i) {
      const double want = std::exp((in[i] - mx) * scale) / denom * 256.0 - 128.0;
      const double err = std::fabs(out[i] - std::min(127.0, want));
      ASSERT_LE(err, 1.01) << "scale " << scale << " in " << int(in[i]);
      off_by_one += err > 0.5;
      ++total;
    }
  }
  EXPECT_LT(off_by_one, total / 20);  // mostly the nearest step
}

TEST(SoftmaxS8, BadParams) {
  int8_t x = 0, y;
  const qp_softmax_params_t p = {1 << 30, 40, -100};
  EXPECT_EQ(qp_softmax_run_s8(&p, 1, &x, &y), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_softmax_run_s8(nullptr, 1, &x, &y), QP_STATUS_BAD_ARGUMENT);
  EXPECT_THROW(quant::softmax_params(0.0), Error);
}

TEST(RuntimeSources, IntegerOnlyAndMinimalLibc) {
  const std::filesystem::path dir = std::filesystem::path(QP_SOURCE_DIR) / "src" / "runtime";
  int files = 0;
  const std::regex float_type(R"(\b(float|double|long double)\b)");
  const std::regex include(R"(#include\s*<([^>]+)>)");
  for (const auto &e : std::filesystem::directory_iterator(dir)) {
    const auto ext = e.path().extension();
    if (ext != ".c" && ext != ".h") continue;
    ++files;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    // Strip comments before scanning, so prose may say "no float".
    const std::string code =
        std::regex_replace(std::regex_replace(ss.str(), std::regex(R"(/\*[\s\S]*?\*/)"), ""), std::regex(R"(//[^\n]*)"), "");
    EXPECT_FALSE(std::regex_search(code, float_type)) << e.path() << " uses a floating-point type";
    for (std::sregex_iterator it(code.begin(), code.end(), include), end; it != end; ++it)
      EXPECT_TRUE((*it)[1] == "stdint.h" || (*it)[1] == "string.h") << e.path() << " includes <" << (*it)[1] << ">";
    EXPECT_EQ(code.find("malloc"), std::string::npos) << e.path();
  }
  EXPECT_GE(files, 5);
}

// ---- ADD (TFLite's int8 arithmetic) and CONCATENATION ----

namespace {

// ADD written out in int64 from the definition (each input off its zero point, times 2^20, rescaled;
// the sum rescaled to the output; clamped), with the independent requantization reference above.
int8_t ref_add(const qp_add_params_t &p, int8_t x1, int8_t x2) {
  const int32_t a = (x1 + p.input1_offset) * (1 << 20), b = (x2 + p.input2_offset) * (1 << 20);
  const int64_t sum = static_cast<int64_t>(ref_requant(a, p.input1_multiplier, p.input1_shift)) +
                      ref_requant(b, p.input2_multiplier, p.input2_shift);
  EXPECT_LE(std::llabs(sum), INT32_MAX) << "the scaled sum must fit int32";
  const int64_t v = ref_requant(static_cast<int32_t>(sum), p.output_multiplier, p.output_shift) + p.output_offset;
  return static_cast<int8_t>(std::clamp<int64_t>(v, p.act_min, p.act_max));
}

double log_uniform(Rng &rng, double lo, double hi) { return std::exp(rng.uniform(std::log(lo), std::log(hi))); }

}  // namespace

TEST(RuntimeAdd, WorkedValues) {
  int8_t out[4];
  // Equal scales 0.5, zero points 0: 3 + 4 = 7.
  {
    const auto p = quant::add_params(0.5, 0, 0.5, 0, 0.5, 0);
    const int8_t a[1] = {3}, b[1] = {4};
    ASSERT_EQ(qp_add_run_s8(&p, 1, a, b, out), QP_STATUS_OK);
    EXPECT_EQ(out[0], 7);
  }
  // s1 = 1 (zp 0), s2 = 0.25 (zp 10), out 0.5 (zp -5):
  //   5 + 1.0 = 6.0 -> 12 - 5 = 7;  5 + 0.5 = 5.5 -> 11 - 5 = 6;
  //   5 + 0.25 = 5.25 -> 10.5 rounds away from zero -> 11 - 5 = 6;  -5 - 0.25 -> -10.5 -> -11 - 5 = -16.
  {
    const auto p = quant::add_params(1.0, 0, 0.25, 10, 0.5, -5);
    EXPECT_EQ(p.input1_shift, 0);   // 1 / 2 = 0.5 * 2^0
    EXPECT_EQ(p.input2_shift, -2);  // 0.25 / 2 = 0.5 * 2^-2
    EXPECT_EQ(p.output_shift, -17); // 2 / (2^20 * 0.5) = 0.5 * 2^-17
    const int8_t a[4] = {5, 5, 5, -5}, b[4] = {14, 12, 11, 9};
    ASSERT_EQ(qp_add_run_s8(&p, 4, a, b, out), QP_STATUS_OK);
    EXPECT_EQ(out[0], 7);
    EXPECT_EQ(out[1], 6);
    EXPECT_EQ(out[2], 6);
    EXPECT_EQ(out[3], -16);
  }
  // Saturation and a fused ReLU (act_min = output zero point).
  {
    const auto p = quant::add_params(1.0, 0, 1.0, 0, 0.5, -20, -20, 127);
    const int8_t a[3] = {127, -100, 3}, b[3] = {127, 10, -10};
    ASSERT_EQ(qp_add_run_s8(&p, 3, a, b, out), QP_STATUS_OK);
    EXPECT_EQ(out[0], 127);  // 254 / 0.5 saturates
    EXPECT_EQ(out[1], -20);  // negative sum: ReLU gives the zero point
    EXPECT_EQ(out[2], -20);  // -7 -> ReLU 0
  }
}

// Random lengths, scales (three decades each), zero points and each fused activation (none, ReLU,
// ReLU6), every input pair at the int8 extremes included: equal to the int64 reference, within one step
// of real arithmetic, the same with the inputs swapped; and the trials do reach the clamps (saturation at
// -128/127, the ReLU floor, the ReLU6 ceiling).
TEST(RuntimeAdd, RandomAgainstInt64ReferenceAndRealArithmetic) {
  Rng rng(41);
  int64_t sat_hi = 0, sat_lo = 0, relu_floor = 0, relu6_ceiling = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 4 + rng.below(300);
    std::vector<int8_t> a(n), b(n), out(n), swapped(n);
    const double s1 = log_uniform(rng, 1e-3, 1.0), s2 = log_uniform(rng, 1e-3, 1.0), so = log_uniform(rng, 1e-3, 1.0);
    const auto zp = [&] { return static_cast<int32_t>(rng.below(256)) - 128; };
    const int32_t z1 = zp(), z2 = zp(), zo = zp();
    int32_t lo = -128, hi = 127;
    const int act = trial % 3;
    switch (act) {
      case 1: lo = zo; break;  // ReLU
      case 2:
        lo = zo;
        hi = static_cast<int32_t>(std::clamp<long>(std::lround(6.0 / so) + zo, zo, 127));
        break;  // ReLU6
      default: break;
    }
    const auto p = quant::add_params(s1, z1, s2, z2, so, zo, lo, hi);
    const auto ps = quant::add_params(s2, z2, s1, z1, so, zo, lo, hi);
    for (size_t i = 0; i < n; ++i) {
      // Every trial sees the four pairs of extremes (-128/127 on each input).
      a[i] = static_cast<int8_t>(i < 4 ? (i & 1 ? 127 : -128) : static_cast<int>(rng.below(256)) - 128);
      b[i] = static_cast<int8_t>(i < 4 ? (i & 2 ? 127 : -128) : static_cast<int>(rng.below(256)) - 128);
    }
    ASSERT_EQ(qp_add_run_s8(&p, static_cast<int32_t>(n), a.data(), b.data(), out.data()), QP_STATUS_OK);
    ASSERT_EQ(qp_add_run_s8(&ps, static_cast<int32_t>(n), b.data(), a.data(), swapped.data()), QP_STATUS_OK);
    EXPECT_EQ(out, swapped) << "trial " << trial << ": a + b == b + a";
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i], ref_add(p, a[i], b[i])) << "trial " << trial << " i " << i;
      const double real = (a[i] - z1) * s1 + (b[i] - z2) * s2;
      const double unclamped = std::round(real / so) + zo;
      const double ideal = std::clamp<double>(unclamped, lo, hi);
      ASSERT_LE(std::fabs(out[i] - ideal), 1.0) << "trial " << trial << ": within one step of real arithmetic";
      ASSERT_GE(out[i], lo);
      ASSERT_LE(out[i], hi);
      // Far outside the range (more than a step, so rounding cannot decide it): the clamp's value exactly.
      if (unclamped > hi + 1) {
        EXPECT_EQ(out[i], hi);
        sat_hi += hi == 127;
        relu6_ceiling += act == 2 && hi < 127;
      }
      if (unclamped < lo - 1) {
        EXPECT_EQ(out[i], lo);
        sat_lo += act == 0;
        relu_floor += act != 0 && lo > -128;
      }
    }
  }
  EXPECT_GT(sat_hi, 0);
  EXPECT_GT(sat_lo, 0);
  EXPECT_GT(relu_floor, 0);
  EXPECT_GT(relu6_ceiling, 0);
}

// ReLU6 worked by hand: scales 0.1 and 0.1, output 0.05 with zero point -128 (real 0), so 6.0 is
// 120 - 128 = -8 = act_max.
TEST(RuntimeAdd, WorkedRelu6) {
  const auto p = quant::add_params(0.1, 0, 0.1, 0, 0.05, -128, -128, -8);
  const int8_t a[4] = {30, 10, -50, 127}, b[4] = {40, 15, 10, 127};
  int8_t out[4];
  ASSERT_EQ(qp_add_run_s8(&p, 4, a, b, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], -8);    // 3.0 + 4.0 = 7.0 -> 140 - 128 = 12, the ReLU6 ceiling -8 (6.0)
  EXPECT_EQ(out[1], -78);   // 1.0 + 1.5 = 2.5 -> 50 - 128
  EXPECT_EQ(out[2], -128);  // -5.0 + 1.0 = -4.0 -> the ReLU floor (0.0)
  EXPECT_EQ(out[3], -8);    // 25.4 -> 6.0
}

// Found reviewing the kernels: when the output multiplier's left shift wraps (output_shift > 2 in ADD,
// shift > 22 in a requantizing CONCATENATION input: only from a crafted model's scales), the requantized
// value lands near -2^31 and adding the output zero point was a signed int32 overflow (undefined
// behaviour, reported by UBSan). It wraps now by definition, as the reference's int32 arithmetic does:
// 2^19 << 12 wraps to -2^31, times (2^31 - 1) / 2^31 is -2147483647, minus 128 wraps to 2147483521: 127.
TEST(RuntimeAdd, WrappedOutputShiftAddsTheZeroPointWithoutOverflow) {
  auto p = quant::add_params(1.0, 0, 1.0, 0, 0.5, -128);
  p.output_multiplier = INT32_MAX;
  p.output_shift = 12;
  const int8_t a[1] = {1}, b[1] = {0};  // (1 * 2^20) / 2 + 0 = 2^19
  int8_t out[1];
  ASSERT_EQ(qp_add_run_s8(&p, 1, a, b, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 127);
  // CONCATENATION: (127 + 1) << 24 wraps to -2^31 the same way.
  const int8_t x[1] = {127};
  qp_concat_input_t c{x, 1, 1, 1, INT32_MAX, 24};
  ASSERT_EQ(qp_concat_run_s8(1, &c, 1, -128, out), QP_STATUS_OK);
  EXPECT_EQ(out[0], 127);
}

TEST(RuntimeAdd, BadArguments) {
  auto p = quant::add_params(0.5, 0, 0.25, 0, 0.5, 0);
  const int8_t a[1] = {1};
  int8_t o[1];
  EXPECT_EQ(qp_add_run_s8(nullptr, 1, a, a, o), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_add_run_s8(&p, 0, a, a, o), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_add_run_s8(&p, 1, a, nullptr, o), QP_STATUS_BAD_ARGUMENT);
  auto q = p;
  q.input1_shift = 1;  // an input multiplier above 1/2 could overflow the shifted value
  EXPECT_EQ(qp_add_run_s8(&q, 1, a, a, o), QP_STATUS_BAD_SHIFT);
  q = p;
  q.act_min = 10;
  q.act_max = 5;
  EXPECT_EQ(qp_add_run_s8(&q, 1, a, a, o), QP_STATUS_BAD_ARGUMENT);
  EXPECT_THROW(quant::add_params(0.0, 0, 1.0, 0, 1.0, 0), Error);
  EXPECT_THROW(quant::add_params(1.0, 200, 1.0, 0, 1.0, 0), Error);
  EXPECT_THROW(quant::add_params(1.0, 0, 1.0, 0, std::nan(""), 0), Error);
}

TEST(RuntimeConcat, CopiesRowsInOrderAndRequantizesOthers) {
  // Three inputs over 4 pixels: 2, 1 and 3 channels. Input 1 shares the output's parameters (copied);
  // input 0 has twice the output scale (x2), input 2 another zero point.
  const double so = 0.1;
  const int32_t zo = -3;
  std::vector<int8_t> d0 = {1, 2, 3, 4, 5, 6, 60, -70}, d1 = {9, 8, 7, 6}, d2(12);
  for (size_t i = 0; i < d2.size(); ++i) d2[i] = static_cast<int8_t>(10 * static_cast<int>(i) - 60);
  qp_concat_input_t in[3] = {quant::concat_input_params(0.2, 0, so, zo), quant::concat_input_params(so, zo, so, zo),
                             quant::concat_input_params(so, 7, so, zo)};
  in[0].data = d0.data();
  in[0].channels = 2;
  in[1].data = d1.data();
  in[1].channels = 1;
  in[2].data = d2.data();
  in[2].channels = 3;
  EXPECT_EQ(in[0].requantize, 1);
  EXPECT_EQ(in[1].requantize, 0);
  EXPECT_EQ(in[2].requantize, 1);
  std::vector<int8_t> out(24);
  ASSERT_EQ(qp_concat_run_s8(3, in, 4, zo, out.data()), QP_STATUS_OK);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 2; ++c) {  // x * 0.2 / 0.1 + zo, clamped
      const int x = d0[static_cast<size_t>(r * 2 + c)];
      EXPECT_EQ(out[static_cast<size_t>(r * 6 + c)], std::clamp(2 * x + zo, -128, 127)) << r << "," << c;
    }
    EXPECT_EQ(out[static_cast<size_t>(r * 6 + 2)], d1[static_cast<size_t>(r)]);
    for (int c = 0; c < 3; ++c) {  // (x - 7) + zo
      const int x = d2[static_cast<size_t>(r * 3 + c)];
      EXPECT_EQ(out[static_cast<size_t>(r * 6 + 3 + c)], std::clamp(x - 7 + zo, -128, 127));
    }
  }
  EXPECT_EQ(out[18], 117);   // row 3: 60 * 2 - 3
  EXPECT_EQ(out[19], -128);  // -70 * 2 - 3 saturates
}

TEST(RuntimeConcat, RandomRequantizationAgainstReference) {
  Rng rng(43);
  for (int trial = 0; trial < 300; ++trial) {
    const double si = log_uniform(rng, 1e-3, 1.0), so = log_uniform(rng, 1e-3, 1.0);
    const int32_t zi = static_cast<int32_t>(rng.below(256)) - 128, zo = static_cast<int32_t>(rng.below(256)) - 128;
    auto c = quant::concat_input_params(si, zi, so, zo);
    std::vector<int8_t> x(256), out(256);
    for (int i = 0; i < 256; ++i) x[static_cast<size_t>(i)] = static_cast<int8_t>(i - 128);
    c.data = x.data();
    c.channels = 256;
    ASSERT_EQ(qp_concat_run_s8(1, &c, 1, zo, out.data()), QP_STATUS_OK);
    for (int i = 0; i < 256; ++i) {
      const int v = x[static_cast<size_t>(i)];
      const int want = std::clamp(ref_requant(v - zi, c.multiplier, c.shift) + zo, -128, 127);
      ASSERT_EQ(out[static_cast<size_t>(i)], want) << trial << " " << v;
      const double ideal = std::clamp<double>(std::round((v - zi) * si / so) + zo, -128, 127);
      ASSERT_LE(std::fabs(out[static_cast<size_t>(i)] - ideal), 1.0);
    }
  }
  qp_concat_input_t bad{};
  int8_t o[1];
  EXPECT_EQ(qp_concat_run_s8(1, &bad, 1, 0, o), QP_STATUS_BAD_ARGUMENT);  // no data
  EXPECT_EQ(qp_concat_run_s8(0, &bad, 1, 0, o), QP_STATUS_BAD_ARGUMENT);
}

// Random shapes (1..4 inputs, 1..40 channels each, 1..20 rows), each input copied (the output's own
// parameters) or requantized (random scale and zero point), against a straightforward int64
// concatenation; the trials reach both saturation ends.
TEST(RuntimeConcat, RandomShapesAndMixedInputsAgainstInt64Reference) {
  Rng rng(47);
  int64_t sat_hi = 0, sat_lo = 0, copied = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int count = 1 + static_cast<int>(rng.below(4)), outer = 1 + static_cast<int>(rng.below(20));
    const double so = log_uniform(rng, 1e-3, 1.0);
    const int32_t zo = static_cast<int32_t>(rng.below(256)) - 128;
    std::vector<std::vector<int8_t>> data(static_cast<size_t>(count));
    std::vector<qp_concat_input_t> in(static_cast<size_t>(count));
    std::vector<double> si(static_cast<size_t>(count));
    std::vector<int32_t> zi(static_cast<size_t>(count));
    int total = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const bool same = rng.below(3) == 0;
      si[i] = same ? so : log_uniform(rng, 1e-3, 1.0);
      zi[i] = same ? zo : static_cast<int32_t>(rng.below(256)) - 128;
      in[i] = quant::concat_input_params(si[i], zi[i], so, zo);
      ASSERT_EQ(in[i].requantize, same ? 0 : 1);
      copied += same;
      const int ch = 1 + static_cast<int>(rng.below(40));
      data[i].resize(static_cast<size_t>(outer) * static_cast<size_t>(ch));
      for (size_t e = 0; e < data[i].size(); ++e)
        data[i][e] = static_cast<int8_t>(e < 2 ? (e ? 127 : -128) : static_cast<int>(rng.below(256)) - 128);
      in[i].data = data[i].data();
      in[i].channels = ch;
      total += ch;
    }
    std::vector<int8_t> out(static_cast<size_t>(outer) * static_cast<size_t>(total), 0);
    ASSERT_EQ(qp_concat_run_s8(count, in.data(), outer, zo, out.data()), QP_STATUS_OK);
    for (int r = 0; r < outer; ++r) {
      int col = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        for (int c = 0; c < in[i].channels; ++c, ++col) {
          const int x = data[i][static_cast<size_t>(r) * static_cast<size_t>(in[i].channels) + static_cast<size_t>(c)];
          int64_t want = x;
          if (in[i].requantize)
            want = std::clamp<int64_t>(int64_t{ref_requant(x - zi[i], in[i].multiplier, in[i].shift)} + zo, -128, 127);
          const int got = out[static_cast<size_t>(r) * static_cast<size_t>(total) + static_cast<size_t>(col)];
          ASSERT_EQ(got, want) << "trial " << trial << " row " << r << " input " << i << " channel " << c;
          const double ideal = std::round((x - zi[i]) * si[i] / so) + zo;
          ASSERT_LE(std::fabs(got - std::clamp(ideal, -128.0, 127.0)), 1.0);
          sat_hi += ideal > 128;
          sat_lo += ideal < -129;
          if (ideal > 128) EXPECT_EQ(got, 127);
          if (ideal < -129) EXPECT_EQ(got, -128);
        }
      }
    }
  }
  EXPECT_GT(sat_hi, 0);
  EXPECT_GT(sat_lo, 0);
  EXPECT_GT(copied, 0);
}

// ---- ops of issue 11/12: depth multiplier, 'same'-padded pooling, PAD, MEAN, softmax beta ----

TEST(DwConvS8, DepthMultiplierHandChecked) {
  // 1x2x2x2 input, 1x1 filter, M = 2: output channel c*2+m reads input channel c. Identity requantization.
  const int8_t in[8] = {1, 5, 2, 6, 3, 7, 4, 8};  // pixels (c0, c1): (1,5) (2,6) (3,7) (4,8)
  const int8_t w[4] = {2, -1, 3, 1};              // [1][1][1][4]
  const int32_t bias[4] = {0, 10, 0, -5}, mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, shift[4] = {1, 1, 1, 1};
  const qp_conv_params_t p = {0, 0, 1, 0, 0, -128, 127};
  const qp_dims_t id = {1, 2, 2, 2}, fd = {1, 1, 1, 4}, od = {1, 2, 2, 4};
  int8_t out[16];
  ASSERT_EQ(qp_dwconv_run_s8(&p, mult, shift, &id, in, &fd, w, bias, &od, out), QP_STATUS_OK);
  const int8_t want[16] = {2, 9, 15, 0, 4, 8, 18, 1, 6, 7, 21, 2, 8, 6, 24, 3};
  EXPECT_EQ(std::vector<int8_t>(out, out + 16), std::vector<int8_t>(want, want + 16));
  // OC not a multiple of C, or a filter that does not have OC channels: refused.
  const qp_dims_t od3 = {1, 2, 2, 3}, fd3 = {1, 1, 1, 3};
  EXPECT_EQ(qp_dwconv_run_s8(&p, mult, shift, &id, in, &fd3, w, bias, &od3, out), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_dwconv_run_s8(&p, mult, shift, &id, in, &fd3, w, bias, &od, out), QP_STATUS_BAD_ARGUMENT);
}

TEST(DwConvS8, DepthMultiplierRandomAgainstLoops) {
  Rng r(41);
  for (int t = 0; t < 40; ++t) {
    const int h = 1 + static_cast<int>(r.below(7)), w = 1 + static_cast<int>(r.below(7)), c = 1 + static_cast<int>(r.below(4));
    const int m = 1 + static_cast<int>(r.below(4)), k = 1 + static_cast<int>(r.below(3)), s = 1 + static_cast<int>(r.below(2));
    const int oc = c * m, oh = (h + s - 1) / s, ow = (w + s - 1) / s;  // 'same'
    const int pt = std::max((oh - 1) * s + k - h, 0) / 2, pl = std::max((ow - 1) * s + k - w, 0) / 2;
    const auto x = random_s8(static_cast<size_t>(h * w * c), r);
    auto f = random_s8(static_cast<size_t>(k * k * oc), r);
    std::vector<int32_t> bias(static_cast<size_t>(oc)), mult(static_cast<size_t>(oc)), shift(static_cast<size_t>(oc));
    for (int o = 0; o < oc; ++o) {
      bias[static_cast<size_t>(o)] = static_cast<int32_t>(r.below(4000)) - 2000;
      const auto q = quant::quantize_multiplier(r.uniform(0.001, 0.1));
      mult[static_cast<size_t>(o)] = q.multiplier;
      shift[static_cast<size_t>(o)] = q.shift;
    }
    const qp_conv_params_t p = {static_cast<int32_t>(r.below(256)) - 127, static_cast<int32_t>(r.below(256)) - 128, s, pt, pl,
                                -128, 127};
    const qp_dims_t id = {1, h, w, c}, fd = {1, k, k, oc}, od = {1, oh, ow, oc};
    std::vector<int8_t> got(static_cast<size_t>(oh * ow * oc));
    ASSERT_EQ(qp_dwconv_run_s8(&p, mult.data(), shift.data(), &id, x.data(), &fd, f.data(), bias.data(), &od, got.data()),
              QP_STATUS_OK);
    for (int y = 0; y < oh; ++y)
      for (int xx = 0; xx < ow; ++xx)
        for (int o = 0; o < oc; ++o) {
          int64_t acc = bias[static_cast<size_t>(o)];
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = y * s + ky - pt, ix = xx * s + kx - pl;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += int64_t{f[static_cast<size_t>((ky * k + kx) * oc + o)]} *
                     (x[static_cast<size_t>((iy * w + ix) * c + o / m)] + p.input_offset);
            }
          const int32_t v = ref_requant(static_cast<int32_t>(acc), mult[static_cast<size_t>(o)], shift[static_cast<size_t>(o)]);
          ASSERT_EQ(got[static_cast<size_t>((y * ow + xx) * oc + o)], clamp8(v + p.output_offset, -128, 127)) << "trial " << t;
        }
  }
}

TEST(PoolS8, SamePaddingCountsInBoundsPositionsOnly) {
  // 3x3 (1..9), 2x2 windows, stride 2, 'same': one padded row/column at the bottom/right.
  const int8_t in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const qp_pool_params_t p = {2, 2, -128, 127, 0, 0};
  const qp_dims_t id = {1, 3, 3, 1}, od = {1, 2, 2, 1};
  int8_t out[4];
  ASSERT_EQ(qp_pool_avg_s8(&p, &id, in, &od, out), QP_STATUS_OK);
  // 12/4 = 3; (3+6)/2 = 4.5 -> 5; (7+8)/2 = 7.5 -> 8; 9/1 (dividing by the window's 4 would give 2, 4, 2).
  EXPECT_EQ(std::vector<int8_t>(out, out + 4), (std::vector<int8_t>{3, 5, 8, 9}));
  ASSERT_EQ(qp_pool_max_s8(&p, &id, in, &od, out), QP_STATUS_OK);
  EXPECT_EQ(std::vector<int8_t>(out, out + 4), (std::vector<int8_t>{5, 6, 8, 9}));
  // 3x3 windows, stride 1, padding 1 on every side, all values negative: padding is neither 0 nor counted.
  const int8_t neg[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  const qp_pool_params_t p3 = {3, 1, -128, 127, 1, 1};
  const qp_dims_t od3 = {1, 3, 3, 1};
  int8_t o9[9];
  ASSERT_EQ(qp_pool_avg_s8(&p3, &id, neg, &od3, o9), QP_STATUS_OK);
  // corner (0,0): (-1-2-4-5)/4 = -3; edge (0,1): -21/6 = -3.5 -> -4; centre -45/9 = -5; (2,2): (-5-6-8-9)/4 = -7.
  EXPECT_EQ(o9[0], -3);
  EXPECT_EQ(o9[1], -4);
  EXPECT_EQ(o9[4], -5);
  EXPECT_EQ(o9[8], -7);
  ASSERT_EQ(qp_pool_max_s8(&p3, &id, neg, &od3, o9), QP_STATUS_OK);
  EXPECT_EQ(std::vector<int8_t>(o9, o9 + 9), (std::vector<int8_t>{-1, -1, -2, -1, -1, -2, -4, -4, -5}));
  // A window of padding only (pad >= kernel, or the last window past the input) is refused.
  const qp_pool_params_t bad_pad = {2, 2, -128, 127, 2, 0};
  EXPECT_EQ(qp_pool_max_s8(&bad_pad, &id, in, &od, out), QP_STATUS_BAD_ARGUMENT);
  const qp_dims_t too_many = {1, 3, 3, 1};
  EXPECT_EQ(qp_pool_avg_s8(&p, &id, in, &too_many, out), QP_STATUS_BAD_ARGUMENT);
}

TEST(PadS8, FillsTheValueAroundTheInput) {
  const int8_t in[4] = {1, 2, 3, 4};  // 1x1x2x2
  const qp_dims_t id = {1, 1, 2, 2}, od = {1, 3, 3, 2};
  int8_t out[18];
  ASSERT_EQ(qp_pad_s8(1, 0, -7, &id, in, &od, out), QP_STATUS_OK);
  const std::vector<int8_t> want = {-7, -7, -7, -7, -7, -7, 1, 2, 3, 4, -7, -7, -7, -7, -7, -7, -7, -7};
  EXPECT_EQ(std::vector<int8_t>(out, out + 18), want);
  EXPECT_EQ(qp_pad_s8(3, 0, 0, &id, in, &od, out), QP_STATUS_BAD_ARGUMENT);  // 3 rows above 1 do not fit 3 rows
  const qp_dims_t small = {1, 1, 1, 2};
  EXPECT_EQ(qp_pad_s8(0, 0, 0, &id, in, &small, out), QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(qp_pad_s8(-1, 0, 0, &id, in, &od, out), QP_STATUS_BAD_ARGUMENT);
}

namespace {

// TFLite's int8 MEAN over H and W written out in int64 from its description: 1/n folded into the multiplier with
// s = min(floor(log2 n), 32, 31 + shift) bits, the sum off the input zero point, double rounding, clamp.
int8_t ref_mean(const std::vector<int8_t> &x, int n, int c, int channels, int32_t in_zp, int32_t out_zp, int32_t mult,
                int32_t shift) {
  int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += x[static_cast<size_t>(i * channels + c)];
  int s = 0;
  while ((int64_t{2} << s) <= n) ++s;
  s = std::min({s, 32, 31 + shift});
  const auto m2 = static_cast<int32_t>((static_cast<int64_t>(mult) << s) / n);
  const int64_t v = ref_requant(static_cast<int32_t>(sum - int64_t{in_zp} * n), m2, shift - s) + out_zp;
  return static_cast<int8_t>(std::clamp<int64_t>(v, -128, 127));
}

}  // namespace

TEST(MeanS8, HandCheckedDoubleRoundingDiffersFromAveragePool) {
  // 2x2x1 {10, 20, 30, 41}, same scale (multiplier 2^30, shift 1 = 1.0): the mean 25.25. MEAN folds 1/4 into
  // the multiplier (2^30, shift -1) and rounds twice: 101 * 2^30 / 2^31 = 50.5 -> 51, then 51 / 2 = 25.5 -> 26.
  // AVERAGE_POOL_2D's single division gives 25.
  const int8_t in[4] = {10, 20, 30, 41};
  const qp_dims_t id = {1, 2, 2, 1};
  const qp_mean_params_t p = {0, 0, 1 << 30, 1};
  int8_t out = 0, gap = 0;
  ASSERT_EQ(qp_mean_s8(&p, &id, in, &out), QP_STATUS_OK);
  EXPECT_EQ(out, 26);
  ASSERT_EQ(qp_pool_global_avg_s8(-128, 127, &id, in, &gap), QP_STATUS_OK);
  EXPECT_EQ(gap, 25);
  // n = 3 (not a power of two): multiplier (2^30 * 2) / 3 = 715827882, shift 0: {1, 1, 2} -> 4 * 0.3333 = 1.
  const int8_t three[3] = {1, 1, 2};
  const qp_dims_t i3 = {1, 1, 3, 1};
  ASSERT_EQ(qp_mean_s8(&p, &i3, three, &out), QP_STATUS_OK);
  EXPECT_EQ(out, 1);
  // Requantized to other parameters: input zero point -10, output zero point 5, scale ratio 0.5 (2^30, shift 0):
  // sum 101 + 40 = 141 over 4 -> 35.25 * 0.5 = 17.6 -> 18 + 5 = 23.
  const qp_mean_params_t q = {10, 5, 1 << 30, 0};
  ASSERT_EQ(qp_mean_s8(&q, &id, in, &out), QP_STATUS_OK);
  EXPECT_EQ(out, ref_mean({10, 20, 30, 41}, 4, 0, 1, -10, 5, 1 << 30, 0));
  EXPECT_EQ(out, 23);
  const qp_mean_params_t bad = {0, 0, 1 << 30, 31};
  EXPECT_EQ(qp_mean_s8(&bad, &id, in, &out), QP_STATUS_BAD_SHIFT);
  EXPECT_EQ(qp_mean_s8(nullptr, &id, in, &out), QP_STATUS_BAD_ARGUMENT);
}

TEST(MeanS8, RandomAgainstInt64Reference) {
  Rng r(43);
  for (int t = 0; t < 300; ++t) {
    const int h = 1 + static_cast<int>(r.below(12)), w = 1 + static_cast<int>(r.below(12)), c = 1 + static_cast<int>(r.below(5));
    const auto x = random_s8(static_cast<size_t>(h * w * c), r);
    const int32_t in_zp = static_cast<int32_t>(r.below(256)) - 128, out_zp = static_cast<int32_t>(r.below(256)) - 128;
    const auto q = quant::quantize_multiplier(std::exp(r.uniform(std::log(0.05), std::log(8.0))));
    const qp_mean_params_t p = {-in_zp, out_zp, q.multiplier, q.shift};
    const qp_dims_t id = {1, h, w, c};
    std::vector<int8_t> got(static_cast<size_t>(c));
    ASSERT_EQ(qp_mean_s8(&p, &id, x.data(), got.data()), QP_STATUS_OK);
    for (int ch = 0; ch < c; ++ch)
      ASSERT_EQ(got[static_cast<size_t>(ch)], ref_mean(x, h * w, ch, c, in_zp, out_zp, q.multiplier, q.shift)) << "trial " << t;
  }
}

TEST(SoftmaxS8, BetaScalesTheInputAsTfliteDoes) {
  // TFLite derives the parameters from beta * input_scale (in double): beta 2 at scale 0.05 is scale 0.1.
  const auto a = quant::softmax_params(0.05, 2.0), b = quant::softmax_params(0.1);
  EXPECT_EQ(a.input_multiplier, b.input_multiplier);
  EXPECT_EQ(a.input_left_shift, b.input_left_shift);
  EXPECT_EQ(a.diff_min, b.diff_min);
  // Within one output step of the real softmax of beta * x.
  Rng r(44);
  for (int t = 0; t < 500; ++t) {
    const double scale = std::ldexp(r.uniform(0.5, 1.0), -static_cast<int>(r.below(6))), beta = r.uniform(0.2, 3.0);
    const auto in = random_s8(2 + r.below(6), r);
    const auto sp = quant::softmax_params(scale, beta);
    const qp_softmax_params_t p = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
    std::vector<int8_t> out(in.size());
    ASSERT_EQ(qp_softmax_run_s8(&p, static_cast<int32_t>(in.size()), in.data(), out.data()), QP_STATUS_OK);
    const int mx = *std::max_element(in.begin(), in.end());
    double denom = 0;
    for (auto v : in) denom += std::exp((v - mx) * scale * beta);
    for (size_t i = 0; i < in.size(); ++i) {
      const double want = std::exp((in[i] - mx) * scale * beta) / denom * 256.0 - 128.0;
      ASSERT_LE(std::fabs(out[i] - std::min(127.0, want)), 1.01) << "scale " << scale << " beta " << beta;
    }
  }
  EXPECT_THROW(quant::softmax_params(0.1, 0.0), Error);
}
