// The optimized engine's Winograd F(2x2, 3x3) kernel (src/quant/engine_wino.cpp): byte-equal to the reference
// Conv2D (qp_conv_run_s8) on random layers, and actually chosen for rps-cnn's wide 3x3 convolutions.
#include <gtest/gtest.h>

#include <climits>

#include "common/rng.h"
#include "data/synth.h"
#include "qp_runtime.h"
#include "qp_runtime_mcu.h"
#include "quant/engine_wino.h"
#include "quant/qmodel.h"

using namespace qp;

namespace {

int pick(Rng &r, int lo, int hi) {
  return lo + static_cast<int>(r.below(static_cast<uint64_t>(hi - lo + 1)));
}

struct Case {
  int c, k, h, w;
  bool same;
};

// A random 3x3 stride-1 Conv2D; `wild`: extreme multipliers and shifts, saturating most outputs.
quant::QLayer random_layer(const Case &cs, Rng &r, bool wild) {
  quant::QLayer l;
  l.op = model::Op::Conv2D;
  l.kernel = 3;
  l.in = {cs.c, cs.h, cs.w};
  l.pad_top = l.pad_left = cs.same ? 1 : 0;
  l.out = {cs.k, cs.same ? cs.h : cs.h - 2, cs.same ? cs.w : cs.w - 2};
  const int zps[] = {-128, 127, 0, -7};
  l.q.input.zero_point = r.below(2) ? zps[r.below(4)] : pick(r, -128, 127);
  l.q.output.zero_point = r.below(3) == 0 ? zps[r.below(4)] : pick(r, -128, 127);
  const int act = pick(r, 0, 2);  // none, ReLU, ReLU6 (a clamp inside [-128, 127] from the output zero point)
  l.q.act_min = act == 0 ? -128 : std::max(-128, l.q.output.zero_point);
  l.q.act_max = act == 2 ? std::min(127, std::max(l.q.act_min, l.q.output.zero_point + pick(r, 0, 100))) : 127;
  const int extreme = static_cast<int>(r.below(3));  // all -128, all 127, or random weights
  for (int i = 0; i < cs.k * 9 * cs.c; ++i)
    l.q.weight.push_back(static_cast<int8_t>(extreme == 0 ? -128 : extreme == 1 ? 127 : pick(r, -128, 127)));
  for (int i = 0; i < cs.k; ++i) {
    l.q.bias.push_back(pick(r, -(1 << 20), 1 << 20));
    const int m = wild ? pick(r, 0, 3) : 3;
    l.q.multiplier.push_back(m == 0 ? INT32_MIN : m == 1 ? INT32_MAX : (1 << 30) + pick(r, 0, (1 << 30) - 1));
    l.q.shift.push_back(m == 0 ? pick(r, 28, 30) : wild ? pick(r, -31, 30) : pick(r, -16, -6));
  }
  return l;
}

std::vector<int8_t> reference(const quant::QLayer &l, const std::vector<int8_t> &x) {
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
  const qp_dims_t f = {l.out.c, 3, 3, l.in.c};
  const qp_conv_params_t p = {-l.q.input.zero_point, l.q.output.zero_point, 1, l.pad_top, l.pad_left, l.q.act_min, l.q.act_max};
  std::vector<int8_t> y(static_cast<size_t>(l.out.size()));
  EXPECT_EQ(qp_conv_run_s8(&p, l.q.multiplier.data(), l.q.shift.data(), &in, x.data(), &f, l.q.weight.data(), l.q.bias.data(),
                           &out, y.data()),
            QP_STATUS_OK);
  return y;
}

std::vector<int8_t> winograd(const quant::QLayer &l, const std::vector<int8_t> &x) {
  quant::OptWeights o = quant::pack_opt_weights(l);
  EXPECT_TRUE(quant::pack_wino(l, o));
  EXPECT_TRUE(o.wino);
  std::vector<uint8_t> scratch(o.scratch_bytes() + 64, 0xA5);  // stale bytes must not matter
  auto *sp = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
  std::vector<int8_t> y(static_cast<size_t>(l.out.size()), 0x55);
  EXPECT_TRUE(quant::opt_run_layer(l, o, quant::OptIsa::Avx2, x.data(), nullptr, y.data(), sp));
  return y;
}

}  // namespace

// Random shapes (odd and even maps down to 1x1, 'same' and 'valid', channel counts off the 2/8/16 grids, one and
// several channel tiles, partial tile blocks), zero points at the extremes, fused ReLU/ReLU6, extreme weights,
// multipliers and shifts (saturating outputs): every output byte equals the reference kernel's.
TEST(EngineWino, Avx2EqualsReferenceOnRandomLayers) {
  if (!quant::opt_isa_available(quant::OptIsa::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<Case> cases = {{16, 32, 16, 16, true}, {32, 64, 8, 8, true}, {1, 1, 1, 1, true},   {3, 5, 2, 2, true},
                             {5, 9, 3, 5, true},     {17, 33, 7, 9, true}, {8, 8, 3, 3, false},  {13, 20, 5, 6, false},
                             {2, 7, 4, 3, false},    {40, 17, 6, 5, true}, {9, 24, 11, 1, true}, {31, 8, 1, 13, true}};
  Rng r(2026);
  for (int i = 0; i < 24; ++i) {  // and random ones
    const bool same = r.below(2) != 0;
    cases.push_back({pick(r, 1, 48), pick(r, 1, 70), pick(r, same ? 1 : 3, 14), pick(r, same ? 1 : 3, 14), same});
  }
  for (size_t n = 0; n < cases.size(); ++n)
    for (int wild = 0; wild < 2; ++wild) {
      const Case &cs = cases[n];
      const quant::QLayer l = random_layer(cs, r, wild != 0);
      ASSERT_TRUE(quant::wino_exact(l));
      std::vector<int8_t> x(static_cast<size_t>(l.in.size()));
      const int fill = static_cast<int>(r.below(4));  // random, all -128, all 127, random
      for (auto &v : x) v = static_cast<int8_t>(fill == 1 ? -128 : fill == 2 ? 127 : pick(r, -128, 127));
      ASSERT_EQ(winograd(l, x), reference(l, x))
          << "case " << n << " C " << cs.c << " K " << cs.k << " " << cs.h << "x" << cs.w << (cs.same ? " same" : " valid")
          << (wild ? " wild" : "") << " zp in " << l.q.input.zero_point << " out " << l.q.output.zero_point;
    }
}

// Not Winograd: other kernels and strides, and more input channels than the int32 proof covers.
TEST(EngineWino, ExactnessGate) {
  Rng r(1);
  quant::QLayer l = random_layer({4, 4, 6, 6, true}, r, false);
  EXPECT_TRUE(quant::wino_exact(l));
  quant::QLayer s = l;
  s.stride = 2;
  EXPECT_FALSE(quant::wino_exact(s));
  s = l;
  s.kernel = 5;
  EXPECT_FALSE(quant::wino_exact(s));
  s = l;
  s.op = model::Op::DepthwiseConv2D;
  EXPECT_FALSE(quant::wino_exact(s));
  s = l;
  s.in.c = QP_CONV_WINO_MAX_CHANNELS + 1;
  EXPECT_FALSE(quant::wino_exact(s));
}

// rps-cnn's conv2 (16 -> 32 at 16x16) and conv3 (32 -> 64 at 8x8) run by Winograd on x86-64 (the AVX2 kernel set
// takes it; pack_opt_weights decides from the shape), so the engine-level equality tests (Int8Backends.*) cover it.
TEST(EngineWino, ChosenForRpsCnnWideConvs) {
  model::Graph g = model::graph_from_spec("rps-cnn", data::synth_class_names());
  model::init_random(g, 1);
  data::Split calib;
  calib.classes = data::synth_class_names();
  for (int i = 0; i < 6; ++i) {
    const auto img = data::synth_render(i % 3, static_cast<uint64_t>(i));
    calib.samples.push_back({"", i % 3, "calib", "", ""});
    calib.pixels.insert(calib.pixels.end(), img.pixels.begin(), img.pixels.end());
  }
  const quant::QModel q = quant::quantize_graph(g, calib, {});
  int wino = 0;
  for (const auto &l : q.layers) {
    if (l.op != model::Op::Conv2D) continue;
    const bool wide = l.in.c >= 16;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    EXPECT_EQ(quant::pack_opt_weights(l).wino, wide) << "conv " << l.in.c << " -> " << l.out.c;
#else
    EXPECT_FALSE(quant::pack_opt_weights(l).wino);
#endif
    wino += wide;
  }
  EXPECT_EQ(wino, 2);
}
