// The quantizer and the INT8 engine (torch-free parts): layer-by-layer agreement with FP32, the
// integer contract of the parameters, the overflow proof, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <type_traits>

#include "common/error.h"
#include "common/rng.h"
#include "data/image_folder.h"
#include "data/synth.h"
#include "eval/evaluate.h"
#include "model/executor_fp32.h"
#include "model/layout.h"
#include "model/onnx_io.h"
#include "quant/multiplier.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"

using namespace qp;

namespace {

struct Fixture {
  test::TempDir dir;
  data::Split split;
  model::Graph graph;
  Fixture(const std::string &arch, int size = 32) {
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 60;
    so.test = 3;
    data::synth_dataset(so);
    data::LoadOptions lo;
    lo.size = size;
    split = data::load_split((dir / "d/train").string(), lo);
    graph = model::graph_from_spec(arch, data::synth_class_names(), {3, size, size});
    model::init_random(graph, 7);
  }
};

}  // namespace

TEST(Quantize, ParametersFollowTheInt8Contract) {
  Fixture f("rps-cnn");
  const auto q = quant::quantize_graph(f.graph, f.split, {});
  EXPECT_EQ(q.input_params().zero_point, -128);
  int weighted = 0;
  for (const auto &l : q.layers) {
    for (int8_t w : l.q.weight) ASSERT_GE(w, -127);  // symmetric weights
    EXPECT_GE(l.q.output.zero_point, -128);
    EXPECT_LE(l.q.output.zero_point, 127);
    for (size_t c = 0; c < l.q.multiplier.size(); ++c) {
      EXPECT_TRUE(l.q.multiplier[c] == 0 || l.q.multiplier[c] >= (1 << 30));
      EXPECT_LE(quant::worst_case_accumulator(l, static_cast<int>(c)), INT32_MAX);
    }
    weighted += !l.q.weight.empty();
    if (l.q.activation == "relu") {
      EXPECT_EQ(l.q.act_min, l.q.output.zero_point);
    }
  }
  EXPECT_EQ(weighted, 5);
  EXPECT_EQ(q.layers.back().op, model::Op::Softmax);
  EXPECT_EQ(q.layers.back().q.output.zero_point, -128);
  // int8 weights + int32 biases of rps-cnn: 89,379 - 179 biases = 89,200 bytes + 179 * 4.
  EXPECT_EQ(q.int8_parameter_bytes(), 89200 + 179 * 4);
}

class QuantizeArch : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeArch, EveryLayerTracksFp32) {
  Fixture f(GetParam());
  for (auto mode : {quant::CalibMode::MinMax, quant::CalibMode::Percentile, quant::CalibMode::Mse}) {
    quant::QuantOptions opt;
    opt.calibration = mode;
    opt.calib_count = 30;
    const auto q = quant::quantize_graph(f.graph, f.split, opt);
    const quant::Int8Engine engine(q);
    const model::Fp32Executor exec(f.graph);
    for (size_t i = 0; i < 5; ++i) {
      std::vector<std::vector<int8_t>> qt;
      std::vector<std::vector<float>> ft;
      engine.run(f.split.image(i), &qt);
      exec.run_rgb(f.split.image(i), &ft);
      for (size_t k = 0; k < q.layers.size(); ++k) {
        const auto &l = q.layers[k];
        if (l.op == model::Op::Softmax || l.op == model::Op::Flatten) continue;
        const auto &fp = ft[static_cast<size_t>(l.q.fp32_index)];
        // Compare in the FP32 layout: CHW index (c, y, x) <-> HWC index (y, x, c).
        double signal = 0, noise = 0;
        for (int c = 0; c < l.out.c; ++c)
          for (int y = 0; y < l.out.h; ++y)
            for (int x = 0; x < l.out.w; ++x) {
              const double want = fp[(static_cast<size_t>(c) * l.out.h + y) * l.out.w + x];
              const double got =
                  (qt[k][(static_cast<size_t>(y) * l.out.w + x) * l.out.c + c] - l.q.output.zero_point) * l.q.output.scale;
              signal += want * want;
              noise += (got - want) * (got - want);
            }
        const double sqnr = 10 * std::log10(signal / std::max(noise, 1e-30));
        EXPECT_GT(sqnr, 15.0) << GetParam() << " layer " << k << " (" << model::op_name(l.op) << ") image " << i;
      }
    }
  }
}

// A concatenation of three branches (one the identity) with different scales, after a residual block.
const char *const kConcatSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) "
    "softmax";

INSTANTIATE_TEST_SUITE_P(Presets, QuantizeArch,
                         ::testing::Values("rps-cnn", "rps-cnn-bn", "rps-mobile", "rps-mobilenet", "rps-resnet", kConcatSpec),
                         [](const auto &info) {
                           std::string n = info.param == kConcatSpec ? "concat_spec" : info.param;
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Quantize, RefusesAnOverflowProneLayer) {
  // 3 x 160 x 160 = 76,800 inputs per output with every weight at full scale:
  // 76,800 * 127 * 255 > 2^31 - 1.
  Fixture f("flatten dense(K) softmax", 160);
  for (auto &w : f.graph.layers[1].weight) w = 0.01f;
  try {
    quant::quantize_graph(f.graph, f.split, {});
    FAIL() << "expected the overflow proof to refuse the model";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("could overflow"), std::string::npos) << e.what();
  }
}

// A trained network can hold channels whose weights decayed to (almost) nothing: max|w| / 127 as the
// weight scale then puts the channel's bias far outside int32 (bias / (input scale * weight scale)).
// The quantizer raises such a channel's scale instead of refusing the model (issue 14: seed-7 data,
// seed-1 training had channels at 8e-9 and 1.3e-15), and the channel still computes bias + ~0.
TEST(Quantize, DeadAndNearDeadChannelsQuantize) {
  Fixture f("rps-cnn");
  auto &conv = f.graph.layers[6];  // conv3x3(64), ReLU fused
  ASSERT_EQ(conv.op, model::Op::Conv2D);
  const size_t per = conv.weight.size() / static_cast<size_t>(conv.out.c);
  auto set_channel = [&](int c, double magnitude, float bias) {
    for (size_t i = 0; i < per; ++i)
      conv.weight[static_cast<size_t>(c) * per + i] = static_cast<float>(magnitude * ((i % 3) - 1.0));
    conv.bias[static_cast<size_t>(c)] = bias;
  };
  set_channel(56, 1.3e-15, 0.05f);  // near-dead: max|w|/127 ~ 1e-17 -> bias ~ 1e17 units without a floor
  set_channel(20, 8e-9, 0.20f);
  set_channel(10, 0.0, 0.30f);      // dead: all weights zero
  set_channel(11, 0.0, 0.0f);       // dead, no bias
  for (auto mode : {quant::WeightMode::PerChannel, quant::WeightMode::PerTensor}) {
    quant::QuantOptions opt;
    opt.weights = mode;
    opt.calib_count = 30;
    const auto q = quant::quantize_graph(f.graph, f.split, opt);
    size_t qk = 0;
    while (q.layers[qk].q.fp32_index != 7) ++qk;  // the quantized conv whose output is the fused ReLU's
    const auto &l = q.layers[qk];
    ASSERT_EQ(l.op, model::Op::Conv2D);
    if (mode == quant::WeightMode::PerChannel) {
      EXPECT_EQ(l.q.raised_scales, 2) << "the 1.3e-15 and 8e-9 channels";
    } else {
      for (double s : l.q.weight_scale) EXPECT_EQ(s, l.q.weight_scale[0]) << "per-tensor keeps one scale";
    }
    for (int c = 0; c < l.out.c; ++c) {
      EXPECT_LE(quant::worst_case_accumulator(l, c), INT32_MAX);
      EXPECT_GT(l.q.weight_scale[static_cast<size_t>(c)], 0.0);
      EXPECT_EQ(static_cast<double>(static_cast<float>(l.q.weight_scale[static_cast<size_t>(c)])),
                l.q.weight_scale[static_cast<size_t>(c)]);
    }
    // The (near-)dead channels output relu(bias) + ~0 on every pixel: within one output step of FP32.
    const quant::Int8Engine engine(q);
    const model::Fp32Executor exec(f.graph);
    for (size_t i = 0; i < 3; ++i) {
      std::vector<std::vector<int8_t>> qt;
      std::vector<std::vector<float>> ft;
      engine.run(f.split.image(i), &qt);
      exec.run_rgb(f.split.image(i), &ft);
      for (int c : {56, 20, 10, 11}) {
        for (int y = 0; y < l.out.h; ++y)
          for (int x = 0; x < l.out.w; ++x) {
            const double want = ft[7][(static_cast<size_t>(c) * l.out.h + y) * l.out.w + x];
            const int got = qt[qk][(static_cast<size_t>(y) * l.out.w + x) * l.out.c + static_cast<size_t>(c)];
            const double real = (got - l.q.output.zero_point) * l.q.output.scale;
            ASSERT_LE(std::fabs(real - std::min(want, (127 - l.q.output.zero_point) * l.q.output.scale)), l.q.output.scale)
                << "channel " << c << " pixel " << y << "," << x << " image " << i;
            if (c == 11) {
              ASSERT_EQ(got, l.q.output.zero_point);
            }
          }
      }
    }
  }
}

// A network the default recipe trained (tests/fixtures/near_dead: `train --seed 1` on `data synth --seed 7`, the
// default built-in set; its layer 6 has a near-dead channel), quantized by the defaults (per-channel weights,
// min/max calibration on 200 training images): INT8 stays within 1.0 percentage point of FP32 and agrees with it
// on at least 98% of the 427 test images; the optimized host backend equals the reference kernels on every layer
// of every test image. (Trained here by CI until 2026-12-03: minutes on 2 cores for the same assertions.)
TEST(Quantize, DefaultRecipeNetworkInt8TracksFp32) {
  test::TempDir t;
  data::SynthOptions so;
  so.out_dir = (t / "d").string();
  so.seed = 7;
  data::synth_dataset(so);
  const auto mf = model::load_onnx(std::string(QP_SOURCE_DIR) + "/tests/fixtures/near_dead/rps_cnn_default_recipe.onnx");
  data::LoadOptions lo;
  lo.classes = mf.graph.classes;
  const auto test_split = data::load_split((t / "d/test").string(), lo);
  const auto train_split = data::load_split((t / "d/train").string(), lo);
  ASSERT_EQ(test_split.samples.size(), 427u);
  const auto fp32 = eval::evaluate_fp32(mf, test_split);
  const auto q = quant::quantize_graph(mf.graph, train_split, {});
  int raised = 0;
  for (const auto &l : q.layers) raised += l.q.raised_scales;
  EXPECT_GE(raised, 1) << "the fixture's near-dead channel";
  const auto int8 = eval::evaluate_int8(q, "m-int8", "", test_split);
  const double agree = eval::agreement(fp32, int8);
  std::printf("FP32 %.4f  INT8 %.4f  agreement %.4f\n", fp32.accuracy(), int8.accuracy(), agree);
  EXPECT_GT(fp32.accuracy(), 0.8) << "a trained network";
  EXPECT_LE(std::fabs(fp32.accuracy() - int8.accuracy()), 0.010);
  EXPECT_GE(agree, 0.98);
  for (const auto &img : int8.images) {
    ASSERT_EQ(img.qscores.size(), 3u);
    ASSERT_GE(img.margin(), 0);
  }
  const quant::Int8Engine ref(q, quant::Backend::Reference), opt(q, quant::Backend::Optimized);
  for (size_t i = 0; i < test_split.samples.size(); ++i) {
    std::vector<std::vector<int8_t>> a, b;
    ref.run(test_split.image(i), &a);
    opt.run(test_split.image(i), &b);
    ASSERT_EQ(a, b) << test_split.samples[i].path;
  }
}

TEST(Quantize, NonFiniteParametersAreRefused) {
  Fixture f("rps-cnn");
  f.graph.layers[3].bias[2] = std::numeric_limits<float>::quiet_NaN();
  try {
    quant::quantize_graph(f.graph, f.split, {});
    FAIL() << "expected a NaN bias to be refused";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("layer 3 (Conv2D) has a non-finite"), std::string::npos) << e.what();
  }
}

TEST(Quantize, BadInputs) {
  Fixture f("rps-cnn");
  // A model may end in logits (tests/test_logits.cpp), but its output must be a class vector.
  model::Graph feature_map = model::graph_from_spec("conv3x3(8) relu flatten dense(K)", data::synth_class_names());
  feature_map.layers.resize(2);  // ends in the conv's feature map
  feature_map.classes.clear();
  model::infer_shapes(feature_map);
  EXPECT_THROW(quant::quantize_graph(feature_map, f.split, {}), Error);
  model::Graph act_first = model::graph_from_spec("relu flatten dense(K) softmax", data::synth_class_names());
  EXPECT_THROW(quant::quantize_graph(act_first, f.split, {}), Error);
  quant::QuantOptions bad;
  bad.calib_count = 0;
  EXPECT_THROW(quant::quantize_graph(f.graph, f.split, bad), Error);
  data::Split empty = f.split;
  empty.samples.clear();
  EXPECT_THROW(quant::quantize_graph(f.graph, empty, {}), Error);
}

TEST(Quantize, DeterministicAcrossThreadCounts) {
  Fixture f("rps-cnn");
  quant::QuantOptions a, b;
  a.threads = 1;
  b.threads = 2;
  a.calibration = b.calibration = quant::CalibMode::Percentile;
  const auto qa = quant::quantize_graph(f.graph, f.split, a), qb = quant::quantize_graph(f.graph, f.split, b);
  for (size_t k = 0; k < qa.layers.size(); ++k) {
    EXPECT_EQ(qa.layers[k].q.weight, qb.layers[k].q.weight);
    EXPECT_EQ(qa.layers[k].q.bias, qb.layers[k].q.bias);
    EXPECT_EQ(qa.layers[k].q.multiplier, qb.layers[k].q.multiplier);
    EXPECT_EQ(qa.layers[k].q.output.zero_point, qb.layers[k].q.output.zero_point);
  }
}

class QdqRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(QdqRoundTrip, FileRebuildsTheExactIntegers) {
  Fixture f(GetParam());
  quant::QuantOptions opt;
  opt.calib_count = 20;
  const auto q = quant::quantize_graph(f.graph, f.split, opt);
  const std::string path = (f.dir / "q.onnx").string();
  quant::save_qdq_onnx(q, path);
  EXPECT_TRUE(quant::is_int8_onnx(path));
  const auto back = quant::load_qdq_onnx(path);
  ASSERT_EQ(back.model.layers.size(), q.layers.size());
  EXPECT_EQ(back.model.classes, q.classes);
  EXPECT_EQ(back.model.input_params().scale, q.input_params().scale);
  for (size_t k = 0; k < q.layers.size(); ++k) {
    const auto &a = q.layers[k], &b = back.model.layers[k];
    EXPECT_EQ(a.op, b.op) << k;
    EXPECT_EQ(a.q.activation, b.q.activation) << k;
    EXPECT_EQ(a.inputs, b.inputs) << k;
    ASSERT_EQ(a.q.input_q.size(), b.q.input_q.size()) << k;
    for (size_t j = 0; j < a.q.input_q.size(); ++j) {
      EXPECT_EQ(a.q.input_q[j].scale, b.q.input_q[j].scale) << k << " input " << j;
      EXPECT_EQ(a.q.input_q[j].zero_point, b.q.input_q[j].zero_point) << k << " input " << j;
    }
    EXPECT_EQ(std::memcmp(&a.q.add, &b.q.add, sizeof a.q.add), 0) << k;  // Add: TFLite's ADD parameters
    EXPECT_EQ(a.q.weight, b.q.weight) << k;
    EXPECT_EQ(a.q.bias, b.q.bias) << k;
    EXPECT_EQ(a.q.multiplier, b.q.multiplier) << k;
    EXPECT_EQ(a.q.shift, b.q.shift) << k;
    EXPECT_EQ(a.q.output.scale, b.q.output.scale) << k;
    EXPECT_EQ(a.q.output.zero_point, b.q.output.zero_point) << k;
    EXPECT_EQ(a.q.act_min, b.q.act_min) << k;
    EXPECT_EQ(a.q.act_max, b.q.act_max) << k;
    EXPECT_EQ(a.q.softmax.input_multiplier, b.q.softmax.input_multiplier) << k;
    EXPECT_EQ(a.q.softmax.diff_min, b.q.softmax.diff_min) << k;
  }
  // Both engines give the same bytes on every layer (the Add/Concat layers and their branches included).
  for (const auto backend : {quant::Backend::Reference, quant::Backend::Optimized}) {
    const quant::Int8Engine e1(q, backend), e2(back.model, backend);
    for (size_t i = 0; i < 10; ++i) {
      std::vector<std::vector<int8_t>> t1, t2;
      EXPECT_EQ(e1.run(f.split.image(i), &t1), e2.run(f.split.image(i), &t2));
      ASSERT_EQ(t1.size(), q.layers.size());
      for (size_t k = 0; k < t1.size(); ++k) EXPECT_EQ(t1[k], t2[k]) << "layer " << k << " image " << i;
    }
  }
  // Writing what was read gives the same file, byte for byte.
  const std::string again = (f.dir / "q2.onnx").string();
  quant::save_qdq_onnx(back.model, again, back.metadata);  // the metadata as read (calibration options)
  EXPECT_EQ(data::read_file_bytes(again), data::read_file_bytes(path));
  // INT8 is smaller than FP32 on parameters: int8 weights + int32 biases vs 4 bytes each.
  EXPECT_LT(q.int8_parameter_bytes() * 3, model::param_count(model::fold_for_inference(f.graph)) * 4);
}

INSTANTIATE_TEST_SUITE_P(Presets, QdqRoundTrip,
                         ::testing::Values("rps-cnn", "rps-mobile", "rps-mobilenet", "rps-resnet", kConcatSpec),
                         [](const auto &info) {
                           std::string n = info.param == kConcatSpec ? "concat_spec" : info.param;
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// The weight layout conversions (model/layout.h) over random shapes: each pair is inverse both ways,
// and the runtime side is the layout the kernels index (OHWI, [1][K][K][C], HWC columns).
TEST(Layout, ConversionsAreInversePermutations) {
  Rng r(11);
  auto dim = [&](int hi) { return 1 + static_cast<int>(r.below(static_cast<uint32_t>(hi))); };
  for (int trial = 0; trial < 200; ++trial) {
    const int oc = dim(9), ic = dim(7), k = dim(5);
    const model::Shape map{dim(6), dim(5), dim(5)};
    auto random_vec = [&](size_t n) {
      std::vector<int8_t> v(n);
      for (auto &x : v) x = static_cast<int8_t>(r.below(256) - 128);
      return v;
    };
    const auto conv = random_vec(static_cast<size_t>(oc) * ic * k * k);
    const auto ohwi = model::conv_oihw_to_ohwi(conv, oc, ic, k);
    EXPECT_EQ(model::conv_ohwi_to_oihw(ohwi, oc, ic, k), conv);
    EXPECT_EQ(model::conv_oihw_to_ohwi(model::conv_ohwi_to_oihw(conv, oc, ic, k), oc, ic, k), conv);
    const int o = static_cast<int>(r.below(static_cast<uint32_t>(oc))), i = static_cast<int>(r.below(static_cast<uint32_t>(ic)));
    const int y = static_cast<int>(r.below(static_cast<uint32_t>(k))), x = static_cast<int>(r.below(static_cast<uint32_t>(k)));
    EXPECT_EQ(ohwi[((static_cast<size_t>(o) * k + y) * k + x) * ic + i], conv[((static_cast<size_t>(o) * ic + i) * k + y) * k + x]);

    const auto dw = random_vec(static_cast<size_t>(oc) * k * k);
    const auto kkc = model::depthwise_ckk_to_kkc(dw, oc, k);
    EXPECT_EQ(model::depthwise_kkc_to_ckk(kkc, oc, k), dw);
    EXPECT_EQ(model::depthwise_ckk_to_kkc(model::depthwise_kkc_to_ckk(dw, oc, k), oc, k), dw);
    EXPECT_EQ(kkc[(static_cast<size_t>(y) * k + x) * oc + o], dw[(static_cast<size_t>(o) * k + y) * k + x]);

    const auto dense = random_vec(static_cast<size_t>(oc) * map.size());
    const auto hwc = model::dense_columns_chw_to_hwc(dense, oc, map);
    EXPECT_EQ(model::dense_columns_hwc_to_chw(hwc, oc, map), dense);
    EXPECT_EQ(model::dense_columns_chw_to_hwc(model::dense_columns_hwc_to_chw(dense, oc, map), oc, map), dense);
    const size_t e = r.below(static_cast<uint32_t>(map.size()));  // column e of row o, in CHW order
    const size_t c = e / (static_cast<size_t>(map.h) * map.w), hw = e % (static_cast<size_t>(map.h) * map.w);
    EXPECT_EQ(hwc[static_cast<size_t>(o) * map.size() + hw * map.c + c], dense[static_cast<size_t>(o) * map.size() + e]);
    EXPECT_EQ(model::hwc_to_chw_index(model::chw_to_hwc_index(e, map), map), e);
    EXPECT_EQ(model::chw_to_hwc_index(e, map), quant::chw_to_hwc(e, map));
  }
  // Floats too (the templates serve any element type), and a size that does not fit is an internal error.
  const std::vector<float> f = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(model::dense_columns_chw_to_hwc(f, 1, {2, 1, 3}), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_THROW(model::conv_oihw_to_ohwi(f, 1, 2, 1), Error);  // 1x2x1x1 is 2 elements, not 6
}

TEST(QdqOnnx, WrongModelsGiveClearErrors) {
  Fixture f("rps-cnn");
  const std::string fp32 = (f.dir / "fp32.onnx").string(), int8 = (f.dir / "int8.onnx").string();
  model::save_onnx(f.graph, fp32);
  quant::save_qdq_onnx(quant::quantize_graph(f.graph, f.split, {}), int8);
  auto expect = [](const std::function<void()> &fn, const std::string &needle) {
    try {
      fn();
      FAIL() << "expected an error mentioning " << needle;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect([&] { quant::load_qdq_onnx(fp32); }, "is an FP32 model");
  expect([&] { model::load_onnx(int8); }, "is an INT8 (quantized) model");
  expect([&] { quant::load_qdq_onnx((f.dir / "nope.onnx").string()); }, "does not exist");
  {
    const auto bytes = data::read_file_bytes(int8);
    std::ofstream((f.dir / "trunc.onnx").string(), std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_THROW(quant::load_qdq_onnx((f.dir / "trunc.onnx").string()), Error);
  EXPECT_FALSE(quant::is_int8_onnx(fp32));
}

namespace {

// The optimized kernel sets this CPU can run: the portable loops always, AVX2, AVX-512 VNNI, NEON, NEON dot where present.
std::vector<quant::OptIsa> runnable_isas() {
  std::vector<quant::OptIsa> v = {quant::OptIsa::Portable};
  for (const auto isa : {quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon, quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) v.push_back(isa);
  return v;
}

// Perturbs the integers of a quantized model within the runtime's contract, to reach requantization
// corners and padding values that calibration rarely produces: random input/output zero points,
// clamps and biases (within the overflow proof), multipliers over [2^30, 2^31) with right shifts; and
// in one layer of three ("wild"), output zero point 0 (so that requantized + zero point cannot
// overflow in the reference) with any shift in [-31, 30] and multipliers incl. INT32_MIN and INT32_MAX
// (INT32_MIN with a large left shift reaches the one saturating product, x = m = INT32_MIN).
void scramble(quant::QModel &q, uint64_t seed) {
  Rng r(seed);
  auto in = [&](int lo, int hi) { return lo + static_cast<int>(r.below(static_cast<uint32_t>(hi - lo + 1))); };
  for (auto &l : q.layers) {
    if (l.op != model::Op::Conv2D && l.op != model::Op::DepthwiseConv2D && l.op != model::Op::Dense) continue;
    const bool wild = in(0, 2) == 0;
    l.q.input.zero_point = in(-128, 127);
    l.q.output.zero_point = wild ? 0 : in(-128, 127);
    l.q.act_min = in(-128, 0);
    l.q.act_max = in(l.q.act_min, 127);
    for (size_t c = 0; c < l.q.bias.size(); ++c) {
      const int32_t old = l.q.bias[c];
      l.q.bias[c] += in(-5000, 5000);
      if (quant::worst_case_accumulator(l, static_cast<int>(c)) > INT32_MAX) l.q.bias[c] = old;
      const int pick = wild ? in(0, 3) : 3;
      l.q.multiplier[c] = pick == 0 ? INT32_MIN : pick == 1 ? INT32_MAX : (1 << 30) + in(0, (1 << 30) - 1);
      l.q.shift[c] = pick == 0 ? in(28, 30) : wild ? in(-31, 30) : in(-12, 0);
    }
  }
}

// Synthetic images plus random pixels and the two extremes.
std::vector<std::vector<uint8_t>> test_images(const data::Split &split, uint64_t seed) {
  std::vector<std::vector<uint8_t>> v;
  const size_t n = static_cast<size_t>(split.size) * split.size * 3;
  for (size_t i = 0; i < split.samples.size(); ++i) v.emplace_back(split.image(i), split.image(i) + n);
  Rng r(seed);
  for (int k = 0; k < 3; ++k) {
    auto &img = v.emplace_back(n);
    for (auto &p : img) p = static_cast<uint8_t>(r.below(256));
  }
  v.emplace_back(n, uint8_t{0});
  v.emplace_back(n, uint8_t{255});
  return v;
}

}  // namespace

// Every layer's output of the optimized backend (each kernel set this CPU has, the portable loops
// included) equals the reference kernels', on random models of every preset and odd shapes (channel
// counts off the 16-lane and 4-byte grids, strides, valid padding, several channel tiles), calibrated
// and scrambled, on synthetic and random pixels.
TEST(Int8Backends, OptimizedEqualsReferenceOnEveryLayer) {
  const std::vector<std::pair<std::string, int>> archs = {
      {"rps-cnn", 32},
      {"rps-cnn-bn", 32},
      {"rps-mobile", 32},
      {"conv5x5s2valid(8) relu conv3x3s2(12) relu6 conv1x1(5) flatten dense(K) softmax", 32},
      {"conv3x3(40) relu maxpool2 conv3x3s2(72) relu conv1x1(20) relu maxpool2 flatten dense(100) relu dense(K) softmax", 20},
      // The AVX2 blocking's edges: a 2-channel input (one 4-byte group, half padding), 17 and 50 output
      // channels (a last 8-channel group with 1 or 2 channels, a tile with an empty group), 196 and 16
      // pixels (a remainder block), max pooling over 17 and 50 channels (the 32-, 16-byte and scalar parts).
      {"conv1x1(2) relu conv3x3(17) relu maxpool2 conv3x3s2(50) relu maxpool2 flatten dense(9) relu dense(K) softmax", 14},
      // Residual blocks (Add with a fused ReLU, a projection shortcut) and a Concat: the planned arena keeps
      // each shortcut alive across its branch.
      {"rps-resnet", 32},
      {kConcatSpec, 16},
      // Inverted residuals: expand 1x1, depthwise 3x3 (stride 1 and 2), linear projection, an Add without ReLU.
      {"rps-mobilenet", 32},
      // Depthwise-heavy: channel counts off the 8-lane grid (13, 24, 37), strides 1 and 2, 'same' and 'valid'
      // windows down to a 2x2 map, a depthwise residual Add, average and global average pooling.
      {"conv3x3s2(13) relu6 dwconv3x3 relu6 conv1x1(24) relu6 dwconv3x3s2 relu6 add{ dwconv3x3 relu6 conv1x1(24) | } "
       "dwconv3x3valid relu avgpool2 conv1x1(37) relu dwconv3x3 gap dense(K) softmax",
       27},
  };
  for (const auto &[arch, size] : archs) {
    Fixture f(arch, size);
    for (int scrambled = 0; scrambled < 2; ++scrambled) {
      auto q = quant::quantize_graph(f.graph, f.split, {});
      if (scrambled) scramble(q, 99 + static_cast<uint64_t>(size));
      const quant::Int8Engine ref(q, quant::Backend::Reference);
      const auto images = test_images(f.split, 5);
      for (const auto isa : runnable_isas()) {
        const quant::Int8Engine opt(q, quant::Backend::Optimized, isa);
        for (size_t i = 0; i < images.size(); ++i) {
          std::vector<std::vector<int8_t>> a, b;
          ref.run(images[i].data(), &a);
          opt.run(images[i].data(), &b);
          ASSERT_EQ(a.size(), q.layers.size());
          for (size_t k = 0; k < a.size(); ++k)
            ASSERT_EQ(a[k], b[k]) << arch << (scrambled ? " scrambled" : "") << " isa " << static_cast<int>(isa) << " image "
                                  << i << " layer " << k << " (" << model::op_name(q.layers[k].op) << ")";
        }
      }
    }
  }
}

// run_batch gives run()'s scores for every image of the batch, in order; on a chain and on graphs (residual
// Adds, a Concat), whose shortcut tensors stay alive in the one arena from image to image.
TEST(Int8Backends, RunBatchEqualsRun) {
  const std::vector<std::pair<std::string, int>> archs = {{"rps-cnn", 32}, {"rps-resnet", 32}, {kConcatSpec, 16}};
  for (const auto &[arch, size] : archs) {
    Fixture f(arch, size);
    auto q = quant::quantize_graph(f.graph, f.split, {});
    const auto images = test_images(f.split, 6);
    std::vector<uint8_t> all;
    for (const auto &img : images) all.insert(all.end(), img.begin(), img.end());
    for (const auto backend : {quant::Backend::Reference, quant::Backend::Optimized}) {
      const quant::Int8Engine e(q, backend);
      std::vector<int8_t> batch(images.size() * e.output_size(), 0);
      e.run_batch(all.data(), images.size(), batch.data());
      for (size_t i = 0; i < images.size(); ++i) {
        const auto one = e.run(images[i].data());
        ASSERT_EQ(one.size(), e.output_size());
        EXPECT_EQ(std::vector<int8_t>(batch.begin() + static_cast<std::ptrdiff_t>(i * one.size()),
                                      batch.begin() + static_cast<std::ptrdiff_t>((i + 1) * one.size())),
                  one)
            << arch << " image " << i;
      }
    }
  }
}

// Naming a kernel set the CPU lacks is refused at construction, not mid-run.
TEST(Int8Backends, MissingKernelSetIsRefusedClearly) {
  Fixture f("rps-cnn");
  const auto q = quant::quantize_graph(f.graph, f.split, {});
  int missing = 0;
  for (const auto isa : {quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon, quant::OptIsa::NeonDot})
    if (!quant::opt_isa_available(isa)) {
      ++missing;
      EXPECT_THROW(quant::Int8Engine(q, quant::Backend::Optimized, isa), Error);
    }
  if (missing == 0) GTEST_SKIP() << "this CPU has every kernel set";
}

// Found by fuzz_qdq: a ReLU6 layer whose output scale read from a file is tiny (1e-45) put 6/scale through
// lround, which cannot represent it: LONG_MIN on x86, so the bound became -128 (zero point 0), or a signed
// overflow adding a negative zero point (UBSan). The bound saturates to 127 instead; ordinary scales give
// what they always gave.
TEST(Quantize, Relu6BoundSaturatesAtTinyOutputScale) {
  quant::QLayer l;
  l.op = model::Op::MaxPool;
  l.q.activation = "relu6";
  l.q.output = {1e-45f, 0};
  quant::derive_requantization(l);
  EXPECT_EQ(l.q.act_max, 127);
  EXPECT_EQ(l.q.act_min, 0);
  l.q.output = {1e-45f, -128};
  quant::derive_requantization(l);
  EXPECT_EQ(l.q.act_max, 127);
  l.q.output = {0.1f, -128};  // 6 / 0.1 = 60 steps above the zero point
  quant::derive_requantization(l);
  EXPECT_EQ(l.q.act_max, -68);
  l.q.output = {static_cast<float>(6.0 / 255.0), -128};
  quant::derive_requantization(l);
  EXPECT_EQ(l.q.act_max, 127);
}

// ---- the ops of TFLite/PyTorch models: depth multiplier, 'same' pooling, Pad, Mean (kept and flat), softmax beta ----

namespace {

const char *const kNewOpsSpec =
    "pad1 conv3x3valid(8) relu dwconv3x3m2 relu6 maxpool3s2same conv1x1(12) relu avgpool3s1same dwconv3x3s2m2 relu meankeep "
    "conv1x1(8) relu flatten dense(K) softmax";
const char *const kNewOpsFlatSpec = "conv3x3(6) relu pad2 dwconv5x5m3valid relu avgpool2s2same conv1x1(9) mean dense(K) softmax";

std::string new_ops_name(const ::testing::TestParamInfo<std::string> &info) {
  return info.param == kNewOpsSpec ? "new_ops" : "new_ops_flat";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(NewOps, QuantizeArch, ::testing::Values(kNewOpsSpec, kNewOpsFlatSpec), new_ops_name);
INSTANTIATE_TEST_SUITE_P(NewOps, QdqRoundTrip, ::testing::Values(kNewOpsSpec, kNewOpsFlatSpec), new_ops_name);

// The optimized engine runs its own kernels where it has them and the reference kernel for the rest: same bytes on
// every layer, on odd sizes ('same' pools with a padded last window) too.
TEST(Int8Backends, NewOpsOptimizedEqualsReference) {
  for (const auto &[arch, size] : std::vector<std::pair<std::string, int>>{{kNewOpsSpec, 27}, {kNewOpsFlatSpec, 21}}) {
    Fixture f(arch, size);
    for (int scrambled = 0; scrambled < 2; ++scrambled) {
      auto q = quant::quantize_graph(f.graph, f.split, {});
      if (scrambled) scramble(q, 7 + static_cast<uint64_t>(size));
      const quant::Int8Engine ref(q, quant::Backend::Reference);
      const auto images = test_images(f.split, 3);
      for (const auto isa : runnable_isas()) {
        const quant::Int8Engine opt(q, quant::Backend::Optimized, isa);
        for (size_t i = 0; i < images.size(); ++i) {
          std::vector<std::vector<int8_t>> a, b;
          ref.run(images[i].data(), &a);
          opt.run(images[i].data(), &b);
          for (size_t k = 0; k < a.size(); ++k)
            ASSERT_EQ(a[k], b[k]) << arch << " isa " << static_cast<int>(isa) << " layer " << k << " ("
                                  << model::op_name(q.layers[k].op) << ")";
        }
      }
    }
  }
}

// TFLite's SOFTMAX beta: the parameters come from beta * input_scale, the QDQ file multiplies the logits by beta
// before its Softmax and reads beta back, and a model with beta 1 computes other bytes.
TEST(Quantize, SoftmaxBetaQuantizesAndRoundTrips) {
  Fixture f(kNewOpsFlatSpec, 21);
  f.graph.layers.back().softmax_beta = 0.5f;
  const auto q = quant::quantize_graph(f.graph, f.split, {});
  const auto &sm = q.layers.back();
  ASSERT_EQ(sm.op, model::Op::Softmax);
  EXPECT_EQ(sm.softmax_beta, 0.5);
  const auto sp = quant::softmax_params(sm.q.input.scale * 0.5);
  EXPECT_EQ(sm.q.softmax.input_multiplier, sp.input_multiplier);
  EXPECT_EQ(sm.q.softmax.input_left_shift, sp.input_left_shift);
  const std::string path = (f.dir / "beta.onnx").string();
  quant::save_qdq_onnx(q, path);
  const auto back = quant::load_qdq_onnx(path);
  EXPECT_EQ(back.model.layers.back().softmax_beta, 0.5);
  EXPECT_EQ(back.model.layers.back().q.softmax.input_multiplier, sm.q.softmax.input_multiplier);
  EXPECT_EQ(back.model.layers.back().q.softmax.diff_min, sm.q.softmax.diff_min);
  quant::QModel beta1 = q;
  beta1.layers.back().softmax_beta = 1.0;
  quant::derive_requantization(beta1.layers.back());
  const quant::Int8Engine e(q, quant::Backend::Reference), e2(back.model, quant::Backend::Reference), e1(beta1);
  bool differs = false;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(e.run(f.split.image(i)), e2.run(f.split.image(i)));
    differs = differs || e.run(f.split.image(i)) != e1.run(f.split.image(i));
  }
  EXPECT_TRUE(differs) << "beta 0.5 and beta 1 gave the same scores on every image";
  // The FP32 executor applies beta too: softmax(0.5 x) is flatter than softmax(x).
  const model::Fp32Executor with(f.graph);
  model::Graph g1 = f.graph;
  g1.layers.back().softmax_beta = 1.f;
  const model::Fp32Executor without(g1);
  const auto p05 = with.run_rgb(f.split.image(0)), p1 = without.run_rgb(f.split.image(0));
  EXPECT_LT(*std::max_element(p05.begin(), p05.end()), *std::max_element(p1.begin(), p1.end()));
}

// The INT8 model is an FP32 graph's type: its tensor table (filled by normalize) describes every tensor as int8 with
// the quantization the kernels use, the graph passes (consumers, is_chain) read it, and a model assembled node by node
// gets the same table from quant::normalize.
TEST(Quantize, Int8ModelIsAGraphWithQuantizedTensors) {
  static_assert(std::is_same_v<quant::QModel, model::Graph> && std::is_same_v<quant::QLayer, model::Layer>);
  test::TempDir t;
  for (const std::string arch : {"rps-cnn", "rps-resnet"}) {
    quant::QModel q = test::quantized_random_model(t, arch, 32, 4);
    ASSERT_EQ(q.tensors.size(), q.layers.size() + 1) << arch;
    EXPECT_EQ(q.tensors[0].quant, q.input_params()) << arch;
    EXPECT_EQ(q.input_params(), model::kOwnInputParams) << arch;  // the default convention: q = p - 128
    for (int p = model::kGraphInput; p < static_cast<int>(q.layers.size()); ++p) {
      const model::Tensor &x = q.tensor(p);
      EXPECT_EQ(x.dtype, model::DType::Int8) << arch << " " << p;
      ASSERT_TRUE(x.quant.has_value()) << arch << " " << p;
      EXPECT_EQ(*x.quant, q.tensor_params(p)) << arch << " " << p;
      EXPECT_EQ(x.shape, q.tensor_shape(p)) << arch << " " << p;
    }
    // Every node's input quantization is its producer's output tensor's.
    for (size_t k = 0; k < q.layers.size(); ++k)
      for (size_t j = 0; j < q.layers[k].inputs.size(); ++j)
        EXPECT_EQ(q.layers[k].q.input_q[j], *q.tensor(q.layers[k].inputs[j]).quant) << arch << " " << k;
    EXPECT_EQ(model::is_chain(q), arch == "rps-cnn");
    const auto readers = model::consumers(q);
    ASSERT_EQ(readers.size(), q.layers.size());
    for (size_t k = 0; k + 1 < q.layers.size(); ++k) EXPECT_FALSE(readers[k].empty()) << arch << " " << k;

    // The same nodes assembled again (no table, no input_q) and normalized give the same table.
    quant::QModel m;
    m.input = q.input;
    m.set_input_params({0.25, 3});
    m.set_tensor_name(model::kGraphInput, "pixels");
    for (auto l : q.layers) {
      l.q.input_q.clear();
      l.q.input = {};
      m.layers.push_back(std::move(l));
    }
    m.layers[0].q.name = "first";
    quant::normalize(m);
    ASSERT_EQ(m.tensors.size(), q.tensors.size());
    EXPECT_EQ(m.tensor_name(model::kGraphInput), "pixels");
    EXPECT_EQ(m.tensor_name(0), "first");
    EXPECT_EQ(*m.tensor(model::kGraphInput).quant, (model::QParams{0.25, 3}));
    EXPECT_EQ(m.layers[0].q.input, (model::QParams{0.25, 3}));
    for (size_t k = 0; k < q.layers.size(); ++k) EXPECT_EQ(*m.tensors[k + 1].quant, *q.tensors[k + 1].quant) << arch << " " << k;
  }
}
