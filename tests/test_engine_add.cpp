// The optimized host engine's elementwise ADD (src/quant/engine_add.cpp): byte-equal to the reference kernel
// qp_add_run_s8 for every kernel set this CPU has, on random lengths (vector bodies and scalar tails), parameters
// derived from random scales (quant::add_params, as the quantizer makes them) and raw parameters over the reference's
// whole contract (any int32 multiplier, INT32_MIN included; shifts at both ends; output left shifts that wrap), every
// pair of input bytes (the output rescale's one-rounding forms at ties and at the sign boundary); the same status and
// nothing written where the reference refuses; and the residual preset with its Adds on it.
#include <gtest/gtest.h>

#include <cmath>

#include "common/rng.h"
#include "quant/engine_add.h"
#include "quant/multiplier.h"
#include "qp_runtime_mcu.h"
#include "test_quant_util.h"

using namespace qp;

namespace {

std::vector<quant::OptIsa> add_isas() {
  std::vector<quant::OptIsa> v = {quant::OptIsa::Auto, quant::OptIsa::Portable};
  for (const auto isa : {quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon, quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) v.push_back(isa);
  return v;
}

struct G {
  Rng r;
  explicit G(uint64_t seed) : r(seed) {}
  int in(int lo, int hi) { return lo + static_cast<int>(r.below(static_cast<uint32_t>(hi - lo + 1))); }
  int32_t any32() {
    const int k = in(0, 5);
    if (k == 0) return INT32_MIN;
    if (k == 1) return INT32_MAX;
    return static_cast<int32_t>(r.below(0xFFFFFFFFu) ^ (r.below(2) << 31));
  }
  std::vector<int8_t> bytes(size_t n) {
    const int mode = in(0, 5);  // 0: all -128, 1: all 127, else random
    std::vector<int8_t> v(n);
    for (auto &x : v) x = static_cast<int8_t>(mode == 0 ? -128 : mode == 1 ? 127 : in(-128, 127));
    return v;
  }
};

// Runs the reference and opt_add_s8 for every kernel set on the same inputs; returns the number of cases compared.
void expect_same(const qp_add_params_t &p, const std::vector<int8_t> &a, const std::vector<int8_t> &b,
                 const std::string &what) {
  const auto n = static_cast<int32_t>(a.size());
  std::vector<int8_t> want(a.size(), 0x5A);
  const qp_status_t ref = qp_add_run_s8(&p, n, a.data(), b.data(), want.data());
  std::vector<int32_t> table(512, 0);
  const qp_status_t tab = qp_add_table_mcu_s8(&p, table.data());
  ASSERT_EQ(tab, ref) << what;
  for (const auto isa : add_isas()) {
    std::vector<int8_t> got(a.size(), 0x5A);
    EXPECT_EQ(quant::opt_add_s8(p, table.data(), isa, n, a.data(), b.data(), got.data()), ref)
        << what << " " << quant::opt_isa_name(isa);
    ASSERT_EQ(got, want) << what << " kernel set " << quant::opt_isa_name(isa) << " (status " << ref << ")";
  }
}

}  // namespace

TEST(EngineAdd, EqualsTheReferenceOnQuantizerParameters) {
  G g(2024);
  for (int it = 0; it < 400; ++it) {
    const double s1 = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-12, 0));
    const double s2 = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-12, 0));
    const double so = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-12, 1));
    const int relu = g.in(0, 2);  // none, ReLU, ReLU6-like clamp
    const int zo = g.in(-128, 127);
    const int lo = relu == 0 ? -128 : zo, hi = relu == 2 ? std::min(127, zo + g.in(1, 100)) : 127;
    const auto p = quant::add_params(s1, g.in(-128, 127), s2, g.in(-128, 127), so, zo, std::max(-128, lo), hi);
    const size_t n = static_cast<size_t>(g.in(1, 3) == 1 ? g.in(1, 40) : g.in(1, 700));
    expect_same(p, g.bytes(n), g.bytes(n), "quantizer parameters, case " + std::to_string(it));
  }
}

TEST(EngineAdd, EqualsTheReferenceOverItsWholeContract) {
  G g(77);
  for (int it = 0; it < 1500; ++it) {
    qp_add_params_t p{};
    p.input1_offset = g.in(0, 4) == 0 ? (g.in(0, 1) ? -127 : 128) : g.in(-127, 128);
    p.input2_offset = g.in(0, 4) == 0 ? (g.in(0, 1) ? -127 : 128) : g.in(-127, 128);
    p.input1_multiplier = g.any32();
    p.input2_multiplier = g.any32();
    p.input1_shift = g.in(0, 3) == 0 ? (g.in(0, 1) ? -31 : 0) : g.in(-31, 0);
    p.input2_shift = g.in(0, 3) == 0 ? (g.in(0, 1) ? -31 : 0) : g.in(-31, 0);
    p.output_multiplier = g.any32();
    p.output_shift = g.in(0, 3) == 0 ? (g.in(0, 1) ? -31 : 30) : g.in(-31, 30);
    p.output_offset = g.in(-128, 127);
    p.act_min = g.in(-128, 127);
    p.act_max = g.in(p.act_min, 127);
    const size_t n = static_cast<size_t>(g.in(1, 100));
    expect_same(p, g.bytes(n), g.bytes(n), "raw parameters, case " + std::to_string(it));
  }
}

// Every pair of input bytes (65,536 values per case), so every sum the tables can make goes through the output rescale:
// the vector kernels requantize it with one rounding where the parameters allow (output right shift 1..30, multiplier
// >= 0), picking the nudge by sign unless the clamp absorbs negative values. Quantizer parameters as they come, and
// with the output multiplier forced to 2^30 (x M / 2^31 = x / 2) or near it and any right shift, and a tie-heavy kind:
// input rescales of exactly 2^19 or 2^18 per step (multipliers 2^30, shifts 0 or -1), so the sum is n * 2^18 and the
// output (multiplier 2^30, right shift 17..21) lands on a half for about every other n, of either sign; every kind of
// clamp.
TEST(EngineAdd, EqualsTheReferenceOnEveryPairOfInputBytes) {
  G g(4242);
  std::vector<int8_t> a(65536), b(65536);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<int8_t>(static_cast<int>(i & 255) - 128);
    b[i] = static_cast<int8_t>(static_cast<int>(i >> 8) - 128);
  }
  for (int it = 0; it < 60; ++it) {
    const double s1 = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-9, 0));
    const double s2 = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-9, 0));
    const double so = std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-9, 1));
    const int zo = g.in(-128, 127), kind = it % 5;
    const int lo = it % 3 == 0 ? -128 : zo - it % 2, hi = it % 3 == 2 ? std::min(127, zo + g.in(1, 60)) : 127;
    auto p = quant::add_params(s1, g.in(-128, 127), s2, g.in(-128, 127), so, zo, std::max(-128, lo), hi);
    if (kind == 1) p.output_multiplier = 1 << 30, p.output_shift = -g.in(1, 4);
    if (kind == 2) p.output_multiplier = (1 << 30) + g.in(-2, 2), p.output_shift = -g.in(1, 30);
    if (kind == 3) p.output_shift = -g.in(1, 30);
    if (kind == 4) {
      p.input1_multiplier = p.input2_multiplier = p.output_multiplier = 1 << 30;
      p.input1_shift = -g.in(0, 1), p.input2_shift = -g.in(0, 1), p.output_shift = -g.in(17, 21);
    }
    expect_same(p, a, b, "every pair, case " + std::to_string(it) + " (multiplier " +
                             std::to_string(p.output_multiplier) + ", shift " + std::to_string(p.output_shift) + ")");
  }
}

TEST(EngineAdd, RefusesWhatTheReferenceRefusesAndWritesNothing) {
  const auto good = quant::add_params(0.05, 3, 0.02, -7, 0.06, 1);
  std::vector<qp_add_params_t> bad(6, good);
  bad[0].input1_offset = 129;
  bad[1].input2_offset = -128;
  bad[2].act_min = 5, bad[2].act_max = 4;
  bad[3].input1_shift = 1;
  bad[4].output_shift = 31;
  bad[5].input2_shift = -32;
  const std::vector<int8_t> a(64, 9), b(64, -3);
  for (size_t i = 0; i < bad.size(); ++i) {
    std::vector<int8_t> want(64, 0x5A);
    const qp_status_t ref = qp_add_run_s8(&bad[i], 64, a.data(), b.data(), want.data());
    ASSERT_NE(ref, QP_STATUS_OK) << i;
    std::vector<int32_t> table(512, 0);
    for (const auto isa : add_isas()) {
      std::vector<int8_t> got(64, 0x5A);
      EXPECT_EQ(quant::opt_add_s8(bad[i], table.data(), isa, 64, a.data(), b.data(), got.data()), ref) << i;
      EXPECT_EQ(got, std::vector<int8_t>(64, 0x5A)) << i << " " << quant::opt_isa_name(isa);
    }
  }
  std::vector<int32_t> table(512, 0);
  std::vector<int8_t> out(64);
  EXPECT_EQ(quant::opt_add_s8(good, table.data(), quant::OptIsa::Auto, 0, a.data(), b.data(), out.data()),
            QP_STATUS_BAD_ARGUMENT);
  EXPECT_EQ(quant::opt_add_s8(good, nullptr, quant::OptIsa::Auto, 64, a.data(), b.data(), out.data()),
            QP_STATUS_BAD_ARGUMENT);
}

TEST(EngineAdd, ResidualPresetRunsItsAddsOnEveryKernelSetByteEqual) {
  test::TempDir dir;
  const auto q = test::quantized_random_model(dir, "rps-resnet", 32, 5);
  int adds = 0;
  for (const auto &l : q.layers) adds += l.op == model::Op::Add ? 1 : 0;
  ASSERT_EQ(adds, 3);
  const quant::Int8Engine ref(q, quant::Backend::Reference);
  G g(9);
  for (int img = 0; img < 3; ++img) {
    std::vector<uint8_t> px(32 * 32 * 3);
    for (auto &v : px) v = static_cast<uint8_t>(g.in(0, 255));
    std::vector<std::vector<int8_t>> want;
    ref.run(px.data(), &want);
    for (const auto isa : add_isas()) {
      const quant::Int8Engine opt(q, quant::Backend::Optimized, isa);
      std::vector<std::vector<int8_t>> got;
      opt.run(px.data(), &got);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k)
        ASSERT_EQ(got[k], want[k]) << "layer " << k << " kernel set " << quant::opt_isa_name(isa) << " image " << img;
    }
  }
}
