// The optimized host engine's remaining ops (src/quant/engine_opt_ops.cpp): Pad, Mean, Concat (copied and
// requantized inputs), Softmax, padded max and average pooling, depthwise with depth multiplier > 1, each byte-equal
// to the op's reference kernel on random shapes, scales, zero points and clamps for every kernel set this CPU has;
// and whole models (the presets, the shared ResNet-8 .tflite, the PyTorch fixtures) that run with no layer left to
// the reference kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "common/rng.h"
#include "model/onnx_io.h"
#include "ops/registry.h"
#include "quant/model_file.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"

using namespace qp;

namespace {

std::vector<quant::OptIsa> isas() {
  std::vector<quant::OptIsa> v = {quant::OptIsa::Portable};
  for (const auto isa : {quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon, quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) v.push_back(isa);
  return v;
}

struct Gen {
  Rng r;
  explicit Gen(uint64_t seed) : r(seed) {}
  int in(int lo, int hi) { return lo + static_cast<int>(r.below(static_cast<uint32_t>(hi - lo + 1))); }
  int zp() { return in(0, 3) == 0 ? (in(0, 1) ? -128 : 127) : in(-128, 127); }
  double scale() { return std::ldexp(1.0 + in(0, 999) / 1000.0, in(-10, -1)); }
  std::vector<int8_t> bytes(size_t n) {
    const int mode = in(0, 5);  // 0: all -128, 1: all 127, else random
    std::vector<int8_t> v(n);
    for (auto &x : v) x = static_cast<int8_t>(mode == 0 ? -128 : mode == 1 ? 127 : in(-128, 127));
    return v;
  }
};

// 'same'-like geometry: input side, padding before, output side; every window touches the input.
void geometry(Gen &g, int k, int s, int *in, int *pad_before, int *out) {
  *in = g.in(1, 11);
  int before = g.in(0, k - 1), after = g.in(0, k - 1);
  if (*in + before + after < k) after = k - *in - before;
  if (after > k - 1) before += after - (k - 1), after = k - 1;
  *pad_before = before;
  *out = (*in + before + after - k) / s + 1;
}

// Layer `m.layers.back()` with the given inputs (one buffer per input) through the op's reference kernel and through
// opt_run_layer_n with every kernel set: the optimized kernel must take the layer and write the reference's bytes,
// nothing past the output.
void expect_equal(const quant::QModel &m, const std::vector<std::vector<int8_t>> &inputs, const std::string &what) {
  const size_t k = m.layers.size() - 1;
  const quant::QLayer &l = m.layers[k];
  std::vector<int8_t> arena;
  std::vector<size_t> off;
  for (const auto &x : inputs) off.push_back(arena.size()), arena.insert(arena.end(), x.begin(), x.end());
  const auto n_out = static_cast<size_t>(l.out.size());
  std::vector<int8_t> want(n_out);
  ASSERT_EQ(ops::op_def(l.op).int8({m, l, arena.data(), off, want.data()}), QP_STATUS_OK) << "reference refused " << what;
  const quant::OptWeights o = quant::pack_opt_weights(m, k);
  EXPECT_TRUE(quant::opt_takes_layer(l, o)) << what;
  std::vector<uint8_t> scratch_mem(o.scratch_bytes() + 64);
  auto *scratch = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch_mem.data()) + 63) & ~uintptr_t{63});
  std::vector<const int8_t *> ins;
  for (const size_t p : off) ins.push_back(arena.data() + p);
  for (const auto isa : isas()) {
    std::vector<int8_t> got(n_out + 32, 0x5A);
    ASSERT_TRUE(quant::opt_run_layer_n(l, o, isa, ins.data(), ins.size(), got.data(), scratch))
        << quant::opt_isa_name(isa) << ": fell back to the reference: " << what;
    for (size_t i = n_out; i < got.size(); ++i) ASSERT_EQ(got[i], 0x5A) << quant::opt_isa_name(isa) << " overran: " << what;
    got.resize(n_out);
    ASSERT_EQ(got, want) << quant::opt_isa_name(isa) << ": " << what;
  }
}

std::string dims(const quant::QLayer &l) {
  return model::shape_str(l.in) + " -> " + model::shape_str(l.out) + " k" + std::to_string(l.kernel) + " s" +
         std::to_string(l.stride) + " pad " + std::to_string(l.pad_top) + "," + std::to_string(l.pad_left) + " zp " +
         std::to_string(l.q.input.zero_point) + "/" + std::to_string(l.q.output.zero_point);
}

quant::QModel one_layer(const quant::QLayer &l) {
  quant::QModel m;
  m.input = l.in;
  m.layers = {l};
  m.layers[0].inputs = {model::kGraphInput};
  m.layers[0].q.input_q = {l.q.input};
  return m;
}

}  // namespace

TEST(EngineOptOps, PadEqualsReference) {
  Gen g(11);
  for (int n = 0; n < 200; ++n) {
    quant::QLayer l;
    l.op = model::Op::Pad;
    l.in = {g.in(1, 40), g.in(1, 9), g.in(1, 9)};
    l.pad_top = g.in(0, 3), l.pad_left = g.in(0, 3);
    l.out = {l.in.c, l.in.h + l.pad_top + g.in(0, 3), l.in.w + l.pad_left + g.in(0, 3)};
    l.q.input = {0.05, g.zp()};
    l.q.output = l.q.input;
    expect_equal(one_layer(l), {g.bytes(static_cast<size_t>(l.in.size()))}, "Pad " + dims(l));
  }
}

// Scales from random ratios (derive_requantization, as the quantizer and the readers), and multipliers/shifts set
// directly, the extremes of the kernel's contract included (the folded shift clamp at shift -31 + log2(H*W)).
TEST(EngineOptOps, MeanEqualsReference) {
  Gen g(12);
  for (int n = 0; n < 300; ++n) {
    quant::QLayer l;
    l.op = model::Op::Mean;
    l.in = {g.in(1, 70), g.in(1, 12), g.in(1, 12)};
    l.out = {l.in.c, 1, 1};
    l.q.input = {g.scale(), g.zp()};
    l.q.output = {g.scale(), g.zp()};
    l.q.input_q = {l.q.input};
    quant::derive_requantization(l);
    if (n % 3 == 0) {
      l.q.multiplier = {g.in(0, 3) == 0 ? g.in(0, 1) * INT32_MAX : (1 << 30) + g.in(0, (1 << 30) - 1)};
      l.q.shift = {g.in(-31, 30)};
    }
    expect_equal(one_layer(l), {g.bytes(static_cast<size_t>(l.in.size()))},
                 "Mean " + dims(l) + " m " + std::to_string(l.q.multiplier[0]) + " shift " + std::to_string(l.q.shift[0]));
  }
}

TEST(EngineOptOps, SoftmaxEqualsReference) {
  Gen g(13);
  for (int n = 0; n < 200; ++n) {
    quant::QLayer l;
    l.op = model::Op::Softmax;
    l.in = l.out = {g.in(1, 40), 1, 1};
    l.q.input = {std::ldexp(1.0 + g.in(0, 999) / 1000.0, g.in(-8, 0)), g.zp()};
    l.q.output = {1.0 / 256, -128};
    l.softmax_beta = g.in(0, 1) ? 1.0 : g.in(1, 20) / 10.0;
    l.q.input_q = {l.q.input};
    quant::derive_requantization(l);
    expect_equal(one_layer(l), {g.bytes(static_cast<size_t>(l.in.size()))}, "Softmax " + dims(l));
  }
}

// 2 to 4 inputs of 1 to 20 channels, each either with the output's scale and zero point (copied) or not
// (requantized through its table), zero points at the extremes included.
TEST(EngineOptOps, ConcatEqualsReference) {
  Gen g(14);
  for (int n = 0; n < 200; ++n) {
    quant::QModel m;
    const int h = g.in(1, 6), w = g.in(1, 6), count = g.in(2, 4);
    const quant::QParams out = {g.scale(), g.zp()};
    quant::QLayer cat;
    cat.op = model::Op::Concat;
    std::vector<std::vector<int8_t>> inputs;
    int c = 0;
    for (int j = 0; j < count; ++j) {
      quant::QLayer p;  // a producer: only its output's shape and parameters matter
      p.op = model::Op::Pad;
      p.out = {g.in(1, 20), h, w};
      p.q.output = g.in(0, 2) == 0 ? out : quant::QParams{g.in(0, 5) == 0 ? out.scale : g.scale(), g.zp()};
      c += p.out.c;
      cat.inputs.push_back(static_cast<int>(m.layers.size()));
      cat.q.input_q.push_back(p.q.output);
      inputs.push_back(g.bytes(static_cast<size_t>(p.out.size())));
      m.layers.push_back(p);
    }
    cat.in = m.layers[0].out;
    cat.q.input = cat.q.input_q[0];
    cat.out = {c, h, w};
    cat.q.output = out;
    m.layers.push_back(cat);
    expect_equal(m, inputs, "Concat of " + std::to_string(count) + " into " + model::shape_str(cat.out));
  }
}

// TFLite's SAME windows: the padded part of a window is ignored (max) or not counted (average).
TEST(EngineOptOps, PaddedPoolingEqualsReference) {
  Gen g(15);
  for (int n = 0; n < 400; ++n) {
    quant::QLayer l;
    l.op = n % 2 ? model::Op::MaxPool : model::Op::AvgPool;
    l.kernel = g.in(1, 4), l.stride = g.in(1, 3);
    l.in.c = g.in(1, 70);
    geometry(g, l.kernel, l.stride, &l.in.h, &l.pad_top, &l.out.h);
    geometry(g, l.kernel, l.stride, &l.in.w, &l.pad_left, &l.out.w);
    l.out.c = l.in.c;
    l.q.input = {0.05, g.zp()};
    l.q.output = l.q.input;
    expect_equal(one_layer(l), {g.bytes(static_cast<size_t>(l.in.size()))},
                 std::string(l.op == model::Op::MaxPool ? "MaxPool " : "AvgPool ") + dims(l));
  }
}

// Depth multiplier 2..4: output channel c*M + m reads input channel c; weights, biases within the overflow proof,
// multipliers with right shifts and a third extreme, fused clamps.
TEST(EngineOptOps, DepthwiseMultiplierEqualsReference) {
  Gen g(16);
  for (int n = 0; n < 200; ++n) {
    quant::QLayer l;
    l.op = model::Op::DepthwiseConv2D;
    l.kernel = g.in(1, 5), l.stride = g.in(1, 3);
    l.in.c = g.in(1, 12);
    l.out.c = l.in.c * g.in(2, 4);
    geometry(g, l.kernel, l.stride, &l.in.h, &l.pad_top, &l.out.h);
    geometry(g, l.kernel, l.stride, &l.in.w, &l.pad_left, &l.out.w);
    const bool wild = n % 3 == 0;  // any shift, extreme multipliers; output zero point 0 so the reference cannot overflow
    l.q.input = {0.05, g.zp()};
    l.q.output = {0.05, wild ? 0 : g.zp()};
    l.q.act_min = g.in(-128, 0);
    l.q.act_max = g.in(l.q.act_min, 127);
    const auto taps = static_cast<size_t>(l.kernel * l.kernel), oc = static_cast<size_t>(l.out.c);
    l.q.weight = g.bytes(taps * oc);
    for (size_t c = 0; c < oc; ++c) {
      int64_t sum_abs = 0;
      for (size_t t = 0; t < taps; ++t) sum_abs += std::abs(static_cast<int>(l.q.weight[t * oc + c]));
      const int64_t room = INT32_MAX - 255 * sum_abs;
      l.q.bias.push_back(static_cast<int32_t>(g.in(0, 4) == 0 ? (g.in(0, 1) ? room : -room) : g.in(-50000, 50000)));
      const int pick = wild ? g.in(0, 3) : 3;
      l.q.multiplier.push_back(pick == 0 ? INT32_MIN : pick == 1 ? INT32_MAX : (1 << 30) + g.in(0, (1 << 30) - 1));
      l.q.shift.push_back(wild ? g.in(-31, 30) : g.in(-14, -4));
    }
    expect_equal(one_layer(l), {g.bytes(static_cast<size_t>(l.in.size()))}, "DepthwiseConv2D M>1 " + dims(l));
  }
}

namespace {

// Every layer of q, fed the reference engine's tensors, runs on the optimized kernels of every kernel set (none left
// to the reference; Flatten has no work) with the reference's bytes; the optimized engine's own run agrees too.
void expect_fully_optimized(const quant::QModel &q, const std::vector<std::vector<int8_t>> &images, const std::string &name) {
  const auto coverage = quant::opt_layer_coverage(q);
  for (size_t k = 0; k < q.layers.size(); ++k)
    EXPECT_TRUE(coverage[k]) << name << ": layer " << k << " (" << model::op_name(q.layers[k].op) << ") on the reference";
  const quant::Int8Engine ref(q, quant::Backend::Reference);
  std::vector<quant::OptWeights> packed;
  size_t scratch = 64;
  for (size_t k = 0; k < q.layers.size(); ++k) {
    packed.push_back(quant::pack_opt_weights(q, k));
    scratch = std::max(scratch, packed.back().scratch_bytes() + 64);
  }
  std::vector<uint8_t> scratch_mem(scratch);
  auto *sp = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(scratch_mem.data()) + 63) & ~uintptr_t{63});
  for (const auto isa : isas()) {
    const quant::Int8Engine opt(q, quant::Backend::Optimized, isa);
    for (const auto &x : images) {
      std::vector<std::vector<int8_t>> a, b;
      ref.run_int8(x.data(), &a);
      opt.run_int8(x.data(), &b);
      ASSERT_EQ(a, b) << name << " " << quant::opt_isa_name(isa);
      for (size_t k = 0; k < q.layers.size(); ++k) {
        const quant::QLayer &l = q.layers[k];
        if (l.op == model::Op::Flatten) continue;
        std::vector<const int8_t *> ins;
        for (const int p : l.inputs) ins.push_back(p < 0 ? x.data() : a[static_cast<size_t>(p)].data());
        std::vector<int8_t> got(static_cast<size_t>(l.out.size()));
        ASSERT_TRUE(quant::opt_run_layer_n(l, packed[k], isa, ins.data(), ins.size(), got.data(), sp))
            << name << " " << quant::opt_isa_name(isa) << ": layer " << k << " (" << model::op_name(l.op) << ") fell back";
        ASSERT_EQ(got, a[k]) << name << " " << quant::opt_isa_name(isa) << ": layer " << k;
      }
    }
  }
}

std::vector<std::vector<int8_t>> int8_inputs(const quant::QModel &q, uint64_t seed, int n) {
  Gen g(seed);
  std::vector<std::vector<int8_t>> v;
  for (int i = 0; i < n; ++i) v.push_back(g.bytes(static_cast<size_t>(q.input.size())));
  return v;
}

}  // namespace

// The presets and specs with every op of the graph core: Pad, depthwise with multiplier 2 and 3, SAME max and average
// pooling, Mean (kept and flat), residual Adds, a requantizing Concat, Softmax.
TEST(EngineOptOps, PresetsRunEntirelyOptimized) {
  const std::vector<std::pair<std::string, int>> specs = {
      {"rps-cnn", 32},
      {"rps-resnet", 32},
      {"rps-mobilenet", 32},
      {"pad1 conv3x3valid(8) relu dwconv3x3m2 relu6 maxpool3s2same conv1x1(12) relu avgpool3s1same dwconv3x3s2m2 relu "
       "meankeep conv1x1(8) relu flatten dense(K) softmax",
       27},
      {"conv3x3(6) relu pad2 dwconv5x5m3valid relu avgpool2s2same conv1x1(9) mean dense(K) softmax", 21},
      {"conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten "
       "dense(K) softmax",
       16},
  };
  for (const auto &[spec, size] : specs) {
    test::TempDir dir;
    const auto q = test::quantized_random_model(dir, spec, size, 5);
    expect_fully_optimized(q, int8_inputs(q, 3, 3), spec);
  }
}

// The shared MLPerf Tiny ResNet-8 (TFLite's converter wrote it).
TEST(EngineOptOps, Resnet8TfliteRunsEntirelyOptimized) {
  const auto f = quant::load_int8_model(std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/pretrainedResnet_quant.tflite");
  expect_fully_optimized(f.model, int8_inputs(f.model, 4, 2), "resnet8");
}

// The PyTorch exports (tests/fixtures/pytorch), quantized on random images.
TEST(EngineOptOps, PytorchFixturesRunEntirelyOptimized) {
  for (const char *name : {"clip_gap_gray", "mobilenetv2_025", "resnet_small", "resnet_small_logits", "squeezenet_fire"}) {
    const auto mf = model::load_onnx(std::string(QP_SOURCE_DIR) + "/tests/fixtures/pytorch/" + name + ".onnx");
    data::Split split;
    split.classes = {"rock", "paper", "scissors"};
    split.height = split.size = mf.graph.input.h;
    split.width = mf.graph.input.w;
    split.channels = mf.graph.input.c;
    Rng rng(7);
    for (int i = 0; i < 6; ++i) {
      data::Sample s;
      s.path = "random" + std::to_string(i);
      s.label = i % 3;
      split.samples.push_back(s);
    }
    split.pixels.resize(split.samples.size() * split.image_bytes());
    for (auto &p : split.pixels) p = static_cast<uint8_t>(rng.below(256));
    quant::QuantOptions qo;
    qo.calib_count = 6;
    const auto q = quant::quantize_graph(mf.graph, split, qo);
    expect_fully_optimized(q, int8_inputs(q, 5, 2), name);
  }
}
