// Max pooling fused before requantization on the optimized engine (engine_opt.cpp: opt_fuses_maxpool,
// opt_conv_maxpool_s8): random conv -> MaxPool chains run byte-equal to the reference engine, once per kernel set that
// fuses (AVX2, AVX-512 VNNI; skipped where this CPU lacks it); rps-cnn takes the fusion on both; a conv output with a
// second reader (residual model) or a negative multiplier does not.
#include <gtest/gtest.h>

#include <climits>

#include "common/rng.h"
#include "data/synth.h"
#include "model/ir.h"
#include "quant/qmodel.h"

using namespace qp;

namespace {

int pick(Rng &r, int lo, int hi) {
  return lo + static_cast<int>(r.below(static_cast<uint64_t>(hi - lo + 1)));
}

// A random Conv2D (input `in`, producer `from`) with fused none/ReLU/ReLU6; mode 0: typical multipliers, 1: extreme
// positive multipliers and right shifts (saturating), 2: small weights with left shifts, 3: a negative multiplier.
quant::QLayer random_conv(Rng &r, model::Shape in, int from, const quant::QParams &in_q, int k, int kernel, int stride,
                          int pad, int mode) {
  quant::QLayer l;
  l.op = model::Op::Conv2D;
  l.kernel = kernel;
  l.stride = stride;
  l.in = in;
  l.inputs = {from};
  l.q.input = in_q;
  l.q.input_q = {in_q};
  l.pad_top = l.pad_left = pad;
  l.out = {k, (in.h + 2 * pad - kernel) / stride + 1, (in.w + 2 * pad - kernel) / stride + 1};
  const int zps[] = {-128, 127, 0, -7};
  l.q.output.scale = 0.05f;
  l.q.output.zero_point = r.below(2) == 0 ? zps[r.below(4)] : pick(r, -128, 127);
  const int act = pick(r, 0, 2);  // none, ReLU, ReLU6 (a clamp inside [-128, 127] from the output zero point)
  l.q.act_min = act == 0 ? -128 : std::max(-128, l.q.output.zero_point);
  l.q.act_max = act == 2 ? std::min(127, std::max(l.q.act_min, l.q.output.zero_point + pick(r, 0, 100))) : 127;
  const int extreme = static_cast<int>(r.below(4));  // all -128, all 127, or random weights
  const int wmax = mode == 2 ? 2 : 127;
  for (int i = 0; i < k * kernel * kernel * in.c; ++i)
    l.q.weight.push_back(static_cast<int8_t>(mode == 2      ? pick(r, -wmax, wmax)
                                             : extreme == 0 ? -128
                                             : extreme == 1 ? 127
                                                            : pick(r, -128, 127)));
  for (int i = 0; i < k; ++i) {
    l.q.bias.push_back(mode == 2 ? pick(r, -100, 100) : pick(r, -(1 << 20), 1 << 20));
    const int m = mode == 1 ? pick(r, 0, 2) : 2;
    l.q.multiplier.push_back(m == 0 ? INT32_MAX : m == 1 ? (1 << 30) : (1 << 30) + pick(r, 0, (1 << 30) - 1));
    l.q.shift.push_back(mode == 1 ? pick(r, -31, 0) : mode == 2 ? pick(r, 1, 4) : pick(r, -16, -6));
  }
  if (mode == 3) l.q.multiplier[static_cast<size_t>(pick(r, 0, k - 1))] = INT32_MIN;
  return l;
}

quant::QLayer maxpool(const quant::QLayer &conv, int from, int kernel, int stride) {
  quant::QLayer p;
  p.op = model::Op::MaxPool;
  p.kernel = kernel;
  p.stride = stride;
  p.in = conv.out;
  p.out = {conv.out.c, (conv.out.h - kernel) / stride + 1, (conv.out.w - kernel) / stride + 1};
  p.inputs = {from};
  p.q.input = p.q.output = conv.q.output;
  p.q.input_q = {conv.q.output};
  return p;
}

quant::QModel rps_model(const char *spec) {
  model::Graph g = model::graph_from_spec(spec, data::synth_class_names());
  model::init_random(g, 3);
  data::Split calib;
  calib.classes = data::synth_class_names();
  for (int i = 0; i < 6; ++i) {
    const auto img = data::synth_render(i % 3, static_cast<uint64_t>(i));
    calib.samples.push_back({"", i % 3, "calib", "", ""});
    calib.pixels.insert(calib.pixels.end(), img.pixels.begin(), img.pixels.end());
  }
  return quant::quantize_graph(g, calib, {});
}

std::vector<quant::OptIsa> isas() {
  std::vector<quant::OptIsa> v;
  for (const auto isa : {quant::OptIsa::Portable, quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon,
                         quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) v.push_back(isa);
  return v;
}

bool fusing_set(quant::OptIsa isa) {  // the kernel sets with a fused conv + MaxPool kernel
  return isa == quant::OptIsa::Avx2 || isa == quant::OptIsa::Avx512Vnni;
}

// Two conv -> MaxPool blocks (the second conv reads the first pool's tensor from the arena): random shapes (odd maps
// where the pool drops the last row/column, 2x2/2, 3x3/2, 2x2/1, 3x3/3 and 1x1 pools, stride-2 and 1x1 convs, same
// and valid, 1..20 input channels, 1..40 or 64..72 output channels: partial 8- and 16-channel groups and partly empty
// tiles), extreme zero points and multipliers, left shifts, ReLU/ReLU6, 3x3 convs wide enough for Winograd (AVX2) and
// GEMM ones: run() without a trace (fused) equals the reference engine byte for byte on kernel set `isa`, and so does
// every tensor of a traced (unfused) run.
void random_chains_equal_reference(quant::OptIsa isa) {
  if (!quant::opt_isa_available(isa)) GTEST_SKIP() << "no " << quant::opt_isa_name(isa) << " on this CPU or build";
  Rng r(1313);
  int fused = 0, fused_wino = 0, fused_gemm = 0, refused = 0, partial = 0;
  const int pools[][2] = {{2, 2}, {2, 2}, {3, 2}, {2, 1}, {3, 3}, {1, 1}};
  for (int n = 0; n < 48; ++n) {
    const int mode = n % 4;
    quant::QModel m;
    m.input = {pick(r, 1, 20), pick(r, 3, 19), pick(r, 3, 19)};
    m.set_input_params({0.02f, r.below(2) != 0 ? -128 : pick(r, -128, 127)});
    int from = model::kGraphInput;
    model::Shape shape = m.input;
    quant::QParams q = m.input_params();
    for (int b = 0; b < 2; ++b) {
      const bool wide = r.below(2) != 0;  // 3x3 stride 1 with K >= 64: Winograd on AVX2
      const int kernel = wide ? 3 : (r.below(3) == 0 ? 1 : 3), stride = wide ? 1 : pick(r, 1, 2);
      const int pad = kernel == 3 && r.below(2) != 0 ? 1 : 0;
      if (shape.h + 2 * pad < kernel || shape.w + 2 * pad < kernel) break;
      quant::QLayer c = random_conv(r, shape, from, q, wide ? pick(r, 64, 72) : pick(r, 1, 40), kernel, stride, pad, mode);
      const auto &pk = pools[r.below(6)];
      if (c.out.h < pk[0] || c.out.w < pk[0]) break;
      m.layers.push_back(c);
      m.layers.push_back(maxpool(c, static_cast<int>(m.layers.size()) - 1, pk[0], pk[1]));
      from = static_cast<int>(m.layers.size()) - 1;
      shape = m.layers.back().out;
      q = m.layers.back().q.output;
    }
    if (m.layers.empty()) continue;
    std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
    const int fill = static_cast<int>(r.below(4));  // random, all -128, all 127, random
    for (auto &v : x) v = static_cast<int8_t>(fill == 1 ? -128 : fill == 2 ? 127 : pick(r, -128, 127));
    const quant::Int8Engine ref(m, quant::Backend::Reference);
    std::vector<std::vector<int8_t>> ref_trace;
    const auto want = ref.run_int8(x.data(), &ref_trace);
    const quant::Int8Engine opt(m, quant::Backend::Optimized, isa);
    ASSERT_EQ(opt.run_int8(x.data()), want) << "chain " << n << " mode " << mode << " isa " << quant::opt_isa_name(isa);
    std::vector<std::vector<int8_t>> trace;  // with a trace: unfused, every tensor
    opt.run_int8(x.data(), &trace);
    ASSERT_EQ(trace, ref_trace) << "chain " << n;
    for (size_t k = 0; k < m.layers.size(); k += 2) {
      if (!opt.fuses_maxpool(k)) {
        ++refused;
        continue;
      }
      EXPECT_NE(mode, 3) << "a negative multiplier is not monotone: must not fuse";
      ++fused;
      const quant::OptWeights o = quant::pack_opt_weights(m.layers[k]);
      partial += o.oc % 16 != 0;
      (isa == quant::OptIsa::Avx2 && o.wino ? fused_wino : fused_gemm) += 1;
    }
  }
  if (isa == quant::OptIsa::Avx2) {
    EXPECT_GT(fused_wino, 5);
  }
  EXPECT_GT(fused_gemm, 5);
  EXPECT_GT(partial, 10);
  EXPECT_GT(refused, 5);
  EXPECT_GT(fused, 20);
}

}  // namespace

TEST(EngineFuse, ConvMaxPoolEqualsReferenceOnRandomChainsAvx2) {
  random_chains_equal_reference(quant::OptIsa::Avx2);
}

TEST(EngineFuse, ConvMaxPoolEqualsReferenceOnRandomChainsAvx512Vnni) {
  random_chains_equal_reference(quant::OptIsa::Avx512Vnni);
}

// An RGB first layer (3 channels staged as 4; the AVX-512 VNNI set spreads 16 pixels per step and masks the rest of a
// row): every width 1..40, so every tail length, with and without padding, 1x1 and 3x3, strides 1 and 2, equals the
// reference on every kernel set.
TEST(EngineFuse, RgbFirstLayerEqualsReferenceOnEveryWidth) {
  Rng r(4711);
  for (int w = 1; w <= 40; ++w) {
    quant::QModel m;
    m.input = {3, pick(r, 1, 5), w};
    m.set_input_params({0.02f, r.below(2) != 0 ? -128 : pick(r, -128, 127)});
    const int kernel = w % 3 == 0 ? 1 : 3, pad = kernel == 3 && (w % 2 != 0 || m.input.h < 3 || w < 3) ? 1 : 0;
    m.layers.push_back(random_conv(r, m.input, model::kGraphInput, m.input_params(), pick(r, 1, 40), kernel, pick(r, 1, 2), pad,
                                   w % 4 == 3 ? 0 : w % 4));
    std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
    for (auto &v : x) v = static_cast<int8_t>(pick(r, -128, 127));
    const auto want = quant::Int8Engine(m, quant::Backend::Reference).run_int8(x.data());
    for (const auto isa : isas())
      ASSERT_EQ(quant::Int8Engine(m, quant::Backend::Optimized, isa).run_int8(x.data()), want)
          << "width " << w << " " << quant::opt_isa_name(isa);
  }
}

// 16-channel stride-1 convs with rows of >= 16 pixels run transposed on the AVX-512 VNNI set (gemm_t16: 16 pixels per
// vector, the weights as embedded broadcasts, the output transposed in registers): every input width 16..40 (full and
// partial 16-pixel blocks), inputs of 1 to 4 and 16 channels, 1x1 / 3x3 / 5x5 with and without padding, and every
// requantization form (single rounding with and without the sign step, double rounding with left shifts, extreme right
// shifts and INT32_MIN multipliers) equal the reference on every kernel set. Layers just outside the conditions (15 or
// 17 channels, stride 2, 32 input channels, rows of 15) do not take it and still agree.
TEST(EngineFuse, Transposed16ChannelConvEqualsReference) {
  Rng r(1606);
  const bool vnni = quant::opt_isa_available(quant::OptIsa::Avx512Vnni);
  int taken = 0, forms[3] = {0, 0, 0};
  for (int n = 0; n < 60; ++n) {
    const int w = 16 + n % 25, mode = n % 4, ics[] = {1, 2, 3, 4, 16, 16};
    const bool outside = n % 10 == 9;
    quant::QModel m;
    m.input = {outside && n % 20 == 9 ? 32 : ics[r.below(6)], pick(r, 1, 6), outside && n % 30 == 19 ? 15 : w};
    m.set_input_params({0.02f, r.below(2) != 0 ? -128 : pick(r, -128, 127)});
    const int kernel = n % 3 == 0 ? 1 : n % 3 == 1 ? 3 : 5, pad = kernel / 2;
    const int oc = outside && n % 30 == 29 ? (r.below(2) != 0 ? 15 : 17) : 16;
    const int stride = outside && n % 30 == 9 ? 2 : 1;
    quant::QLayer c = random_conv(r, m.input, model::kGraphInput, m.input_params(), oc, kernel, stride, pad, mode);
    if (n % 8 < 2) {  // no activation above a zero point > -128: the single rounding's sign-dependent form
      c.q.act_min = -128;
      c.q.act_max = 127;
      c.q.output.zero_point = pick(r, -100, 100);
    }
    m.layers.push_back(c);
    const quant::OptWeights o = quant::pack_opt_weights(c);
    const bool t16 = quant::opt_conv_transposed16(c, o, quant::OptIsa::Avx512Vnni);
    EXPECT_EQ(t16, vnni && !outside) << "conv " << n << " in " << m.input.c << "x" << m.input.h << "x" << m.input.w
                                     << " oc " << oc << " stride " << stride;
    EXPECT_FALSE(quant::opt_conv_transposed16(c, o, quant::OptIsa::Avx2));
    if (t16) ++taken, ++forms[o.rqf];
    const quant::Int8Engine ref(m, quant::Backend::Reference);
    for (int fill = 0; fill < 3; ++fill) {  // random, all -128, all 127
      std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
      for (auto &v : x) v = static_cast<int8_t>(fill == 1 ? -128 : fill == 2 ? 127 : pick(r, -128, 127));
      const auto want = ref.run_int8(x.data());
      for (const auto isa : isas())
        ASSERT_EQ(quant::Int8Engine(m, quant::Backend::Optimized, isa).run_int8(x.data()), want)
            << "conv " << n << " mode " << mode << " rqf " << o.rqf << " fill " << fill << " isa "
            << quant::opt_isa_name(isa);
    }
  }
  if (!vnni) GTEST_SKIP() << "no AVX-512 VNNI: checked on the others";
  EXPECT_GE(taken, 50);
  for (int f = 0; f < 3; ++f) EXPECT_GE(forms[f], 5) << "requantization form " << f;
}

// The kernel sets without a fused kernel never fuse, and still agree with the reference on the same kind of chain.
TEST(EngineFuse, OtherSetsDoNotFuse) {
  Rng r(31);
  quant::QModel m;
  m.input = {5, 11, 13};
  m.set_input_params({0.02f, -3});
  m.layers.push_back(random_conv(r, m.input, model::kGraphInput, m.input_params(), 21, 3, 1, 1, 2));
  m.layers.push_back(maxpool(m.layers[0], 0, 2, 2));
  std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
  for (auto &v : x) v = static_cast<int8_t>(pick(r, -128, 127));
  const auto want = quant::Int8Engine(m, quant::Backend::Reference).run_int8(x.data());
  for (const auto isa : isas()) {
    const quant::Int8Engine opt(m, quant::Backend::Optimized, isa);
    EXPECT_EQ(opt.fuses_maxpool(0), fusing_set(isa)) << quant::opt_isa_name(isa);
    EXPECT_EQ(opt.run_int8(x.data()), want) << quant::opt_isa_name(isa);
  }
}

// rps-cnn: each of its three conv -> ReLU -> MaxPool blocks runs fused on AVX2 and on AVX-512 VNNI, on no other set
// (and the outputs still agree).
TEST(EngineFuse, TakenForRpsCnn) {
  const quant::QModel q = rps_model("rps-cnn");
  const quant::Int8Engine ref(q, quant::Backend::Reference);
  std::vector<uint8_t> img(static_cast<size_t>(q.input.size()));
  Rng r(5);
  for (auto &v : img) v = static_cast<uint8_t>(r.below(256));
  const auto want = ref.run(img.data());
  for (const auto isa : isas()) {
    const quant::Int8Engine opt(q, quant::Backend::Optimized, isa);
    EXPECT_EQ(opt.run(img.data()), want) << quant::opt_isa_name(isa);
    int fused = 0;
    for (size_t k = 0; k < q.layers.size(); ++k) {
      if (!opt.fuses_maxpool(k)) continue;
      ++fused;
      EXPECT_EQ(q.layers[k].op, model::Op::Conv2D);
      EXPECT_EQ(q.layers[k + 1].op, model::Op::MaxPool);
    }
    EXPECT_EQ(fused, fusing_set(isa) ? 3 : 0) << quant::opt_isa_name(isa);
  }
  EXPECT_FALSE(quant::Int8Engine(q, quant::Backend::Reference).fuses_maxpool(0));
  if (!quant::opt_isa_available(quant::OptIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI: checked on the others";
}

// A conv whose output has a second reader is not fused: a hand-made conv -> {MaxPool, Add} model, and rps-resnet; on
// each fusing kernel set.
TEST(EngineFuse, NotTakenForASecondReader) {
  int sets = 0;
  for (const auto isa : isas()) {
    if (!fusing_set(isa)) continue;
    ++sets;
    Rng r(7);
    quant::QModel m;
    m.input = {4, 8, 8};
    m.set_input_params({0.02f, -128});
    m.layers.push_back(random_conv(r, m.input, model::kGraphInput, m.input_params(), 8, 3, 1, 1, 0));
    m.layers.push_back(maxpool(m.layers[0], 0, 2, 2));
    const quant::Int8Engine one(m, quant::Backend::Optimized, isa);
    EXPECT_TRUE(one.fuses_maxpool(0)) << quant::opt_isa_name(isa);
    m.layers.push_back(maxpool(m.layers[0], 0, 2, 2));  // a second reader of the conv's output
    EXPECT_FALSE(quant::Int8Engine(m, quant::Backend::Optimized, isa).fuses_maxpool(0));
    EXPECT_FALSE(quant::opt_fuses_maxpool(m, 0, quant::pack_opt_weights(m.layers[0]), isa));
    const quant::QModel res = rps_model("rps-resnet");
    const quant::Int8Engine e(res, quant::Backend::Optimized, isa);
    const auto readers = [&](size_t k) {
      int n = 0;
      for (const auto &l : res.layers)
        for (const int i : l.inputs) n += i == static_cast<int>(k);
      return n;
    };
    int multi = 0;
    for (size_t k = 0; k < res.layers.size(); ++k) {
      if (readers(k) < 2) continue;
      ++multi;
      EXPECT_FALSE(e.fuses_maxpool(k)) << "layer " << k << " " << quant::opt_isa_name(isa);
    }
    EXPECT_GT(multi, 0);
  }
  if (sets == 0) GTEST_SKIP() << "no AVX2 or AVX-512 VNNI on this CPU or build";
}

// The single-rounding requantization (OptWeights::rqf, chosen by pack_opt_weights where it proves it equal to the
// double rounding): random 1x1 and 3x3 convs with typical and extreme multipliers, every right shift 0..31, output zero
// points anywhere, none/ReLU/ReLU6, and a third kind built for ties (multiplier 2^30, right shift 1..4, weights -2..2:
// small accumulators of both signs, so many exact halves). The packer picks the one-nudge form exactly where act_min >=
// the output zero point and the sign-dependent one elsewhere; every kernel set equals the reference byte for byte on
// random and extreme inputs. rps-resnet (random weights) takes both forms.
TEST(EngineFuse, SingleRoundingRequantizationEqualsDoubleRounding) {
  Rng r(4242);
  int chosen[3] = {0, 0, 0};
  for (int n = 0; n < 72; ++n) {
    const int kind = n % 3;  // 0: typical multipliers, 1: extreme multipliers and right shifts, 2: ties
    quant::QModel m;
    m.input = {pick(r, 1, 20), pick(r, 3, 9), pick(r, 3, 9)};
    m.set_input_params({0.02f, pick(r, -128, 127)});
    const int kernel = r.below(2) != 0 ? 1 : 3;
    quant::QLayer c = random_conv(r, m.input, model::kGraphInput, m.input_params(), pick(r, 1, 40), kernel, 1,
                                  kernel == 3 ? 1 : 0, kind == 1 ? 1 : 0);
    if (kind == 2) {
      for (auto &w : c.q.weight) w = static_cast<int8_t>(pick(r, -2, 2));
      for (auto &b : c.q.bias) b = pick(r, -60, 60);
      for (size_t i = 0; i < c.q.multiplier.size(); ++i) {
        c.q.multiplier[i] = 1 << 30;
        c.q.shift[i] = -pick(r, 1, 4);
      }
    }
    m.layers.push_back(c);
    const int rqf = quant::pack_opt_weights(c).rqf;
    ASSERT_GE(rqf, 0);
    ASSERT_LE(rqf, 2);
    ++chosen[rqf];
    if (rqf != 0) {
      EXPECT_EQ(rqf, c.q.act_min >= c.q.output.zero_point ? 1 : 2) << "conv " << n;
    }
    const quant::Int8Engine ref(m, quant::Backend::Reference);
    for (int fill = 0; fill < 4; ++fill) {  // random, all -128, all 127, random
      std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
      for (auto &v : x) v = static_cast<int8_t>(fill == 1 ? -128 : fill == 2 ? 127 : pick(r, -128, 127));
      const auto want = ref.run_int8(x.data());
      for (const auto isa : isas()) {
        ASSERT_EQ(quant::Int8Engine(m, quant::Backend::Optimized, isa).run_int8(x.data()), want)
            << "conv " << n << " kind " << kind << " rqf " << rqf << " fill " << fill << " isa " << quant::opt_isa_name(isa);
      }
    }
  }
  EXPECT_GE(chosen[0], 3);  // right shift 0 or 31, or a product out of range
  EXPECT_GE(chosen[1], 10);
  EXPECT_GE(chosen[2], 10);
  const quant::QModel res = rps_model("rps-resnet");
  int forms[3] = {0, 0, 0};
  for (const auto &l : res.layers)
    if (l.op == model::Op::Conv2D) ++forms[quant::pack_opt_weights(l).rqf];
  EXPECT_GT(forms[1], 0);
  EXPECT_GT(forms[2], 0);
}
