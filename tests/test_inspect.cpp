// Quantization inspection: SQNR, clipping and saturation react to the scales as they should, the
// sensitivity simulation tracks the real INT8 engine, margins account for every image, and models
// that do not belong together are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/synth.h"
#include "inspect/inspect.h"
#include "quant/labels.h"
#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_util.h"

using namespace qp;

namespace {

// A small CNN (conv, pools, Flatten of a map -> Dense, so the CHW/HWC mapping matters), random
// weights, quantized with min/max calibration on every image that is later inspected.
const char *kSmallCnn = "conv3x3(8) relu maxpool2 conv3x3(16) relu maxpool2 flatten dense(32) relu dense(K) softmax";

struct Fixture {
  test::TempDir dir;
  data::Split split;
  model::Graph graph;
  quant::QModel q;
  explicit Fixture(const std::string &arch, uint64_t seed = 7) {
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 45;
    so.test = 3;
    data::synth_dataset(so);
    split = data::load_split((dir / "d/train").string(), {});
    graph = model::graph_from_spec(arch, data::synth_class_names());
    model::init_random(graph, seed);
    quant::QuantOptions opt;
    opt.calib_count = static_cast<int>(split.samples.size());  // the calibrated ranges cover the data
    q = quant::quantize_graph(graph, split, opt);
  }
};

const Fixture &small_cnn() {
  static const Fixture f(kSmallCnn);
  return f;
}

// Gives INT8 layer k new output parameters and keeps the model consistent: the pools/flatten after it
// carry them, and the next conv/dense/softmax takes them as its input (its int32 biases rescaled).
void set_output_params(quant::QModel &q, size_t k, const quant::QParams &p) {
  q.layers[k].q.output = p;
  quant::derive_requantization(q.layers[k]);
  for (size_t j = k + 1; j < q.layers.size(); ++j) {
    auto &l = q.layers[j];
    const double old_scale = l.q.input.scale;
    l.q.input = p;
    if (l.op == model::Op::MaxPool || l.op == model::Op::AvgPool || l.op == model::Op::GlobalAvgPool ||
        l.op == model::Op::Flatten) {
      l.q.output = p;
      continue;
    }
    for (auto &b : l.q.bias) b = static_cast<int32_t>(std::lround(b * old_scale / p.scale));
    quant::derive_requantization(l);
    break;
  }
}

const inspect::LayerStats &first_conv(const inspect::Inspection &r) {
  for (const auto &l : r.layers)
    if (l.op == model::Op::Conv2D) return l;
  throw std::runtime_error("no conv layer");
}

}  // namespace

TEST(InspectSqnr, KnownVectors) {
  // signal 1 + 4 + 9 = 14, noise 0.1^2 = 0.01: 10 log10(1400) = 31.461 dB.
  EXPECT_NEAR(inspect::sqnr_db({1, 2, 3}, {1, 2, 3.1f}), 31.461, 1e-3);
  // Half the amplitude everywhere: noise = signal / 4, 6.02 dB.
  EXPECT_NEAR(inspect::sqnr_db({2, -4, 8}, {1, -2, 4}), 10 * std::log10(4.0), 1e-9);
  EXPECT_NEAR(inspect::sqnr_db(100.0, 1.0), 20.0, 1e-12);
  EXPECT_TRUE(std::isinf(inspect::sqnr_db({1, 2}, {1, 2})));
  EXPECT_GT(inspect::sqnr_db({1, 2}, {1, 2}), 0);
  EXPECT_TRUE(std::isnan(inspect::sqnr_db(0.0, 0.0)));
  EXPECT_THROW(inspect::sqnr_db({1, 2}, {1}), Error);
}

TEST(Inspect, RealQuantizationHasHighSqnrAndNoClipping) {
  const auto &f = small_cnn();
  const auto r = inspect::inspect_models(f.graph, f.q, f.split, {});
  ASSERT_EQ(r.layers.size(), f.q.layers.size());
  EXPECT_EQ(r.n_images, f.split.samples.size());
  for (const auto &l : r.layers) {
    EXPECT_GT(l.sqnr_db(), 20.0) << l.name;
    EXPECT_EQ(l.clipped, 0) << l.name << ": the calibration saw every inspected image";
    EXPECT_LE(l.observed_hi, l.calibrated_hi + l.output.scale / 2) << l.name;
    EXPECT_GE(l.observed_lo, l.calibrated_lo - l.output.scale / 2) << l.name;
    EXPECT_EQ(l.values, static_cast<int64_t>(r.n_images) * f.q.layers[static_cast<size_t>(l.index)].out.size());
    if (l.activation == "relu") {
      EXPECT_EQ(l.output.zero_point, -128);
      EXPECT_FALSE(l.count_low_saturation) << "for a ReLU output -128 is the real 0, not a clip";
      EXPECT_DOUBLE_EQ(l.calibrated_lo, 0.0);
    }
    if (l.weighted) {
      ASSERT_EQ(l.weight_range.size(), static_cast<size_t>(f.q.layers[static_cast<size_t>(l.index)].out.c));
      for (const auto &[lo, hi] : l.weight_range) {
        EXPECT_LE(lo, hi);
        // Symmetric per-channel weights: the channel's largest |w| is 127 steps.
        EXPECT_LE(std::max(-lo, hi), 127 * l.weight_scale_max * (1 + 1e-9));
      }
      EXPECT_LE(l.weight_scale_min, l.weight_scale_max);
    }
  }
}

TEST(Inspect, CoarseScaleLowersSqnrAndShrunkRangeClips) {
  const auto &f = small_cnn();
  const auto base = inspect::inspect_models(f.graph, f.q, f.split, {});
  const auto &b = first_conv(base);
  ASSERT_EQ(b.clipped, 0);

  quant::QModel coarse = f.q;
  set_output_params(coarse, static_cast<size_t>(b.index), {b.output.scale * 16, b.output.zero_point});
  const auto rc = inspect::inspect_models(f.graph, coarse, f.split, {});
  const auto &c = first_conv(rc);
  // A 16x coarser step has 256x the rounding noise power: about 24 dB less.
  EXPECT_LT(c.sqnr_db(), b.sqnr_db() - 12.0);
  EXPECT_EQ(c.clipped, 0);  // the range only grew

  quant::QModel shrunk = f.q;
  set_output_params(shrunk, static_cast<size_t>(b.index), {b.output.scale / 4, b.output.zero_point});
  const auto rs = inspect::inspect_models(f.graph, shrunk, f.split, {});
  const auto &s = first_conv(rs);
  EXPECT_GT(s.clipped_share(), 0.0);
  EXPECT_GT(s.saturated_share(), 0.0);
  EXPECT_GT(s.saturated_share(), b.saturated_share());
  EXPECT_NEAR(s.calibrated_hi, b.calibrated_hi / 4, 1e-6);
  EXPECT_DOUBLE_EQ(s.observed_hi, b.observed_hi);  // the FP32 side does not change
  EXPECT_LT(s.sqnr_db(), b.sqnr_db());
}

TEST(Inspect, SensitivityAndSimulationTrackTheEngine) {
  const auto &f = small_cnn();
  const auto r = inspect::inspect_models(f.graph, f.q, f.split, {});
  ASSERT_EQ(r.sensitivity.size(), 4u);  // conv, conv, dense, dense
  for (const auto &s : r.sensitivity) {
    EXPECT_GE(s.agreement, 0.0);
    EXPECT_LE(s.agreement, 1.0);
    EXPECT_EQ(s.flipped, static_cast<int>(std::lround((1.0 - s.agreement) * static_cast<double>(r.n_images))));
    EXPECT_TRUE(r.layers[static_cast<size_t>(s.layer)].weighted);
    EXPECT_EQ(s.name, r.layers[static_cast<size_t>(s.layer)].name);
  }
  EXPECT_GE(r.int8_agreement, 0.0);
  EXPECT_LE(r.int8_agreement, 1.0);
  // The float simulation of the whole INT8 model decides like the integer engine on (nearly) every image.
  EXPECT_NEAR(r.simulated_all_agreement, r.int8_agreement, 0.1);
  EXPECT_GE(r.simulated_all_vs_int8, 0.9);
  // ... and its output is close to the engine's (differences: rounding inside the integer kernels).
  EXPECT_GT(r.simulated_all_output_sqnr_db, 30.0);

  // A layer whose output step is larger than its whole FP32 range (every output rounds to 0, the logits
  // collapse to the biases) costs decisions when quantized alone; the other layers do not change.
  quant::QModel coarse = f.q;
  const auto &l1 = r.layers[static_cast<size_t>(r.sensitivity[2].layer)];  // the first dense layer
  ASSERT_EQ(l1.op, model::Op::Dense);
  set_output_params(coarse, static_cast<size_t>(l1.index), {l1.observed_hi * 4, l1.output.zero_point});
  const auto rc = inspect::inspect_models(f.graph, coarse, f.split, {});
  EXPECT_LT(rc.sensitivity[2].agreement, r.sensitivity[2].agreement);
  EXPECT_GT(rc.sensitivity[2].flipped, 0);
  EXPECT_EQ(rc.sensitivity[0].flipped, r.sensitivity[0].flipped);
}

TEST(Inspect, MarginsAccountForEveryImage) {
  const auto &f = small_cnn();
  inspect::InspectOptions opt;
  opt.closest = 10;
  const auto r = inspect::inspect_models(f.graph, f.q, f.split, opt);
  int total = 0, prev = -1;
  for (const auto &[m, c] : r.margin_histogram) {
    EXPECT_GT(m, prev);  // ascending, each margin once
    EXPECT_GT(c, 0);
    EXPECT_GE(m, 0);
    EXPECT_LE(m, 255);
    prev = m;
    total += c;
  }
  EXPECT_EQ(total, static_cast<int>(r.n_images));
  ASSERT_EQ(r.closest.size(), 10u);
  EXPECT_EQ(r.closest.front().margin, r.margin_histogram.front().first);
  for (size_t i = 1; i < r.closest.size(); ++i) EXPECT_LE(r.closest[i - 1].margin, r.closest[i].margin);
  for (const auto &c : r.closest) {
    EXPECT_FALSE(c.file.empty());
    EXPECT_GE(c.label, 0);
    EXPECT_GE(c.int8_pred, 0);
    EXPECT_GE(c.fp32_pred, 0);
  }
}

TEST(Inspect, MobileNetMapsDepthwiseRelu6AndGap) {
  const Fixture f("rps-mobile");
  const auto r = inspect::inspect_models(f.graph, f.q, f.split, {});
  int relu6 = 0;
  for (const auto &l : r.layers) {
    EXPECT_GT(l.sqnr_db(), 15.0) << l.name;
    EXPECT_EQ(l.clipped, 0) << l.name;
    relu6 += l.activation == "relu6";
  }
  EXPECT_GT(relu6, 0);
  EXPECT_GE(r.simulated_all_vs_int8, 0.9);
  EXPECT_GT(r.simulated_all_output_sqnr_db, 25.0);
}

TEST(Inspect, SameResultForAnyThreadCountAndJsonHasTheReportKeys) {
  const auto &f = small_cnn();
  inspect::InspectOptions one, two;
  one.threads = 1;
  two.threads = 2;
  auto ja = inspect::inspection_json(inspect::inspect_models(f.graph, f.q, f.split, one));
  auto jb = inspect::inspection_json(inspect::inspect_models(f.graph, f.q, f.split, two));
  ja.erase("seconds");
  jb.erase("seconds");
  EXPECT_EQ(ja, jb);
  for (const char *k : {"fp32_model", "int8_model", "data", "n_images", "layers", "sensitivity", "simulated_all_agreement",
                        "int8_agreement", "margins"})
    EXPECT_TRUE(ja.contains(k)) << k;
  const auto &conv = ja["layers"][0];
  for (const char *k :
       {"index", "name", "op", "fp32_index", "activation", "input", "output", "weight_scale", "weight_range_per_channel",
        "calibrated_range", "observed_range", "clipped_share", "saturated_share", "sqnr_db"})
    EXPECT_TRUE(conv.contains(k)) << k;
  EXPECT_TRUE(conv["sqnr_db"].is_number());
  EXPECT_FALSE(ja["layers"][1].contains("weight_scale"));  // a pool
  EXPECT_TRUE(ja["margins"]["histogram"][0].contains("count"));
  EXPECT_TRUE(ja["margins"]["closest"][0].contains("fp32_pred"));

  // An exact layer (identical outputs) has an infinite SQNR, written as null.
  inspect::Inspection exact;
  exact.layers.resize(1);
  exact.layers[0].signal = 4;
  exact.layers[0].noise = 0;
  const auto je = inspect::inspection_json(exact);
  EXPECT_TRUE(je["layers"][0]["sqnr_db"].is_null());
  EXPECT_TRUE(je["layers"][0]["sqnr_exact"].get<bool>());
  EXPECT_NE(inspect::format_inspection_table(exact).find("inf"), std::string::npos);
}

TEST(Inspect, RefusesModelsThatDoNotBelongTogether) {
  const auto &f = small_cnn();
  // Another architecture: the INT8 layers do not map onto it.
  model::Graph other = model::graph_from_spec("conv3x3(4) relu maxpool2 flatten dense(K) softmax", data::synth_class_names());
  model::init_random(other, 1);
  try {
    inspect::inspect_models(other, f.q, f.split, {});
    FAIL() << "expected a mapping error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("does not match FP32 layer"), std::string::npos) << e.what();
  }
  // The file-level check: the INT8 file records the sha256 of a different FP32 file.
  test::TempDir dir;
  const std::string a = (dir / "a.onnx").string(), b = (dir / "b.onnx").string(), q = (dir / "q.onnx").string();
  model::save_onnx(f.graph, a);
  model::Graph g2 = f.graph;
  model::init_random(g2, 99);
  model::save_onnx(g2, b);
  const auto fa = model::load_onnx(a), fb = model::load_onnx(b);
  quant::save_qdq_onnx(f.q, q, {{"qparity.quant.fp32_model_sha256", fa.sha256}});
  const auto qf = quant::load_qdq_onnx(q);
  EXPECT_NO_THROW(inspect::check_provenance(fa, qf));
  try {
    inspect::check_provenance(fb, qf);
    FAIL() << "expected a provenance error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("was not quantized from"), std::string::npos) << e.what();
  }
}

// A softmax output at its top int8 step is probability ~1.0: a confident image, the softmax's own
// ceiling. It is saturation, shown as such (never as clipping of a calibrated range, never a warning).
TEST(Inspect, SoftmaxAtOneIsExpectedSaturationNotClipping) {
  const auto &f = small_cnn();
  model::Graph g = f.graph;
  // Large logits: the last Dense scaled up makes most images' top probability round to 1.0.
  for (auto it = g.layers.rbegin(); it != g.layers.rend(); ++it)
    if (it->op == model::Op::Dense) {
      for (auto &w : it->weight) w *= 60.0f;
      break;
    }
  quant::QuantOptions opt;
  opt.calib_count = static_cast<int>(f.split.samples.size());
  const quant::QModel q = quant::quantize_graph(g, f.split, opt);
  const auto r = inspect::inspect_models(g, q, f.split, {});
  const inspect::LayerStats &sm = r.layers.back();
  ASSERT_EQ(sm.op, model::Op::Softmax);
  EXPECT_TRUE(sm.softmax_ceiling);
  EXPECT_GT(sm.saturated, 0) << "the scaled logits must drive some outputs to 1.0";
  EXPECT_EQ(sm.clipped, 0) << "p ~ 1.0 is the softmax's ceiling, not a clipped range";
  EXPECT_FALSE(r.layers.front().softmax_ceiling);
  const auto j = inspect::inspection_json(r);
  const auto &jl = j["layers"].back();
  EXPECT_EQ(jl["saturation"], "softmax_ceiling");
  EXPECT_EQ(jl["saturation_note"], "saturated at 1.0 (expected for softmax)");
  EXPECT_EQ(jl["clipped_share"], 0.0);
  EXPECT_EQ(j["layers"][0]["saturation"], "clip");
  EXPECT_FALSE(j["layers"][0].contains("saturation_note"));
  const std::string table = inspect::format_inspection_table(r);
  EXPECT_NE(table.find(sm.name + ": "), std::string::npos) << table;
  EXPECT_NE(table.find("saturated at 1.0 (expected for softmax"), std::string::npos) << table;
}

// Margin 0 is a tie, decided for the first tied class: counted in inspection.json and said on the console.
TEST(Inspect, TiesAreCountedAndSaid) {
  inspect::Inspection r;
  r.classes = {"rock", "paper", "scissors"};
  r.n_images = 6;
  r.margin_histogram = {{0, 2}, {3, 4}};
  r.closest = {{"a.png", 0, 2, 0, 0}, {"b.png", 1, 1, 1, 3}};
  const auto j = inspect::inspection_json(r);
  EXPECT_EQ(j["margins"]["ties"], 2);
  const std::string t = inspect::format_inspection_table(r);
  EXPECT_NE(t.find("2 image(s) tie for the top INT8 score (margin 0): decided for the first tied class in class order"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("a.png (true rock, FP32 scissors, INT8 rock: a tie, the first tied class)"), std::string::npos) << t;
  EXPECT_EQ(t.find("b.png (true paper, FP32 paper, INT8 paper: a tie"), std::string::npos) << t;
  r.margin_histogram = {{1, 6}};
  EXPECT_EQ(inspect::inspection_json(r)["margins"]["ties"], 0);
  EXPECT_EQ(inspect::format_inspection_table(r).find("tie for the top"), std::string::npos);
}

namespace {

// Every `step`-th image of a split (all classes, fewer images: the deeper graphs cost more per image).
data::Split every_nth(const data::Split &s, size_t step) {
  data::Split r = s;
  r.samples.clear();
  r.pixels.clear();
  const size_t bytes = static_cast<size_t>(s.size) * s.size * 3;
  for (size_t i = 0; i < s.samples.size(); i += step) {
    r.samples.push_back(s.samples[i]);
    r.pixels.insert(r.pixels.end(), s.image(i), s.image(i) + bytes);
  }
  return r;
}

// Checks shared by the graph tests: a row per INT8 layer with its edges, finite SQNR, no clipping (the
// calibration saw every image), a sensitivity entry per conv/dense/add/concat layer, and the all-layers
// simulation deciding like the engine.
void expect_graph_inspection(const Fixture &f, const inspect::Inspection &r, double min_sqnr) {
  ASSERT_EQ(r.layers.size(), f.q.layers.size());
  std::vector<int> simulated;
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const auto &l = r.layers[k];
    const auto &ql = f.q.layers[k];
    EXPECT_EQ(l.inputs, ql.inputs) << l.name;
    ASSERT_EQ(l.inputs_q.size(), ql.inputs.size()) << l.name;
    for (size_t i = 0; i < ql.inputs.size(); ++i) {
      EXPECT_EQ(l.inputs_q[i].scale, f.q.tensor_params(ql.inputs[i]).scale) << l.name;
      EXPECT_EQ(l.inputs_q[i].zero_point, f.q.tensor_params(ql.inputs[i]).zero_point) << l.name;
    }
    EXPECT_TRUE(std::isfinite(l.sqnr_db())) << l.name;
    EXPECT_GT(l.sqnr_db(), min_sqnr) << l.name;
    EXPECT_EQ(l.clipped, 0) << l.name;
    EXPECT_EQ(l.values, static_cast<int64_t>(r.n_images) * ql.out.size()) << l.name;
    EXPECT_LE(l.observed_hi, l.calibrated_hi + l.output.scale / 2) << l.name;
    if (ql.op == model::Op::Conv2D || ql.op == model::Op::DepthwiseConv2D || ql.op == model::Op::Dense ||
        ql.op == model::Op::Add || ql.op == model::Op::Concat)
      simulated.push_back(static_cast<int>(k));
  }
  ASSERT_EQ(r.sensitivity.size(), simulated.size());
  for (size_t j = 0; j < simulated.size(); ++j) {
    EXPECT_EQ(r.sensitivity[j].layer, simulated[j]);
    EXPECT_EQ(r.sensitivity[j].name, r.layers[static_cast<size_t>(simulated[j])].name);
    EXPECT_GE(r.sensitivity[j].agreement, 0.0);
    EXPECT_LE(r.sensitivity[j].agreement, 1.0);
  }
  EXPECT_NEAR(r.simulated_all_agreement, r.int8_agreement, 0.1);
  EXPECT_GE(r.simulated_all_vs_int8, 0.9);
  EXPECT_GT(r.simulated_all_output_sqnr_db, 25.0);
}

}  // namespace

// rps-resnet: residual Adds with a fused ReLU (identity and projection shortcuts). Each Add has its own row
// (both inputs' parameters, its output's ranges, clipping, saturation and SQNR) and its own sensitivity
// entry; the whole-graph simulation follows the edges and decides like the engine.
TEST(Inspect, ResnetHasARowPerLayerIncludingTheAdds) {
  const Fixture f("rps-resnet");
  const data::Split split = every_nth(f.split, 3);
  const auto r = inspect::inspect_models(f.graph, f.q, split, {});
  expect_graph_inspection(f, r, 20.0);
  int adds = 0;
  for (const auto &l : r.layers) {
    if (l.op != model::Op::Add) continue;
    ++adds;
    EXPECT_EQ(l.name, quant::layer_label(f.q, static_cast<size_t>(l.index)));  // the one label per node
    EXPECT_NE(l.name.find(" Add+relu <- "), std::string::npos) << l.name;
    EXPECT_EQ(l.activation, "relu");
    EXPECT_FALSE(l.count_low_saturation) << "a ReLU output's -128 is the real 0";
    EXPECT_EQ(l.inputs.size(), 2u);
    EXPECT_FALSE(l.weighted);
  }
  EXPECT_EQ(adds, 3);
  int add_sens = 0;
  for (const auto &s : r.sensitivity) add_sens += r.layers[static_cast<size_t>(s.layer)].op == model::Op::Add;
  EXPECT_EQ(add_sens, 3);

  const auto j = inspect::inspection_json(r);
  for (const auto &l : j["layers"])
    if (l["op"] == "Add") {
      ASSERT_EQ(l["inputs"].size(), 2u);
      EXPECT_TRUE(l["inputs"][1].contains("scale"));
      EXPECT_TRUE(l["sqnr_db"].is_number());
    }
  std::vector<std::string> add_labels;  // each Add's one label, in order ("11 Add+relu <- 10,9")
  for (const auto &l : r.layers)
    if (l.op == model::Op::Add) add_labels.push_back(l.name);
  ASSERT_EQ(add_labels.size(), 3u);
  EXPECT_NE(inspect::format_inspection_table(r).find(add_labels[2]), std::string::npos);

  // The last Add's output step made larger than its whole FP32 range (every output rounds to 0, the
  // logits collapse to the dense biases): quantized alone it costs decisions; the first conv alone does not
  // change. Only the simulation reads these parameters, so the rest of the model is left as it is.
  size_t add3 = 0, s_add3 = 0;
  for (size_t j = 0; j < r.sensitivity.size(); ++j)
    if (r.sensitivity[j].name == add_labels[2]) {
      s_add3 = j;
      add3 = static_cast<size_t>(r.sensitivity[j].layer);
    }
  ASSERT_GT(add3, 0u);
  quant::QModel coarse = f.q;
  coarse.layers[add3].q.output.scale = r.layers[add3].observed_hi * 4;
  quant::derive_requantization(coarse.layers[add3]);
  const auto rc = inspect::inspect_models(f.graph, coarse, split, {});
  EXPECT_LT(rc.sensitivity[s_add3].agreement, r.sensitivity[s_add3].agreement);
  EXPECT_GT(rc.sensitivity[s_add3].flipped, 0);
  EXPECT_EQ(rc.sensitivity[0].flipped, r.sensitivity[0].flipped);

  // An Add wired to other tensors than the FP32 graph's (both inputs the same branch) is refused.
  quant::QModel rewired = f.q;
  for (auto &l : rewired.layers)
    if (l.op == model::Op::Add) {
      l.inputs[1] = l.inputs[0];
      break;
    }
  try {
    inspect::inspect_models(f.graph, rewired, split, {});
    FAIL() << "expected a mapping error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("its inputs come from other layers"), std::string::npos) << e.what();
  }
}

// A Concat of three branches (one the identity) after a residual block: the Concat's row lists
// its three inputs, whose parameters differ from its output's (the engine requantizes them).
TEST(Inspect, ConcatHasARowWithEveryInput) {
  const char *spec =
      "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten "
      "dense(K) softmax";
  const Fixture f(spec);
  const auto r = inspect::inspect_models(f.graph, f.q, f.split, {});
  expect_graph_inspection(f, r, 15.0);
  int concats = 0;
  for (const auto &l : r.layers)
    if (l.op == model::Op::Concat) {
      ++concats;
      EXPECT_EQ(l.name, quant::layer_label(f.q, static_cast<size_t>(l.index)));
      EXPECT_NE(l.name.find(" Concat <- "), std::string::npos) << l.name;
      EXPECT_EQ(l.inputs.size(), 3u);
    }
  EXPECT_EQ(concats, 1);
}

// An INT8 model alone (no FP32 model, e.g. a foreign .tflite): the same margins and saturation as the
// two-model inspection (both count on the INT8 engine), observed ranges from the engine's own
// outputs (on the int8 grid, inside the calibrated range), and no FP32 figure in inspection.json.
TEST(Inspect, Int8AloneMatchesTheEngineAndLeavesFp32FiguresOut) {
  const auto &f = small_cnn();
  const auto both = inspect::inspect_models(f.graph, f.q, f.split, {});
  const auto alone = inspect::inspect_int8(f.q, f.split, {});
  EXPECT_FALSE(alone.has_fp32);
  ASSERT_EQ(alone.layers.size(), both.layers.size());
  EXPECT_EQ(alone.margin_histogram, both.margin_histogram);
  ASSERT_EQ(alone.closest.size(), both.closest.size());
  for (size_t i = 0; i < alone.closest.size(); ++i) {
    EXPECT_EQ(alone.closest[i].file, both.closest[i].file);
    EXPECT_EQ(alone.closest[i].int8_pred, both.closest[i].int8_pred);
    EXPECT_EQ(alone.closest[i].fp32_pred, -1);
  }
  bool some_range = false;
  for (size_t k = 0; k < alone.layers.size(); ++k) {
    const auto &a = alone.layers[k], &b = both.layers[k];
    EXPECT_EQ(a.saturated, b.saturated) << a.name;
    EXPECT_EQ(a.values, b.values) << a.name;
    EXPECT_EQ(a.clipped, 0) << a.name;
    EXPECT_GE(a.observed_lo, a.calibrated_lo - 1e-12) << a.name;
    EXPECT_LE(a.observed_hi, a.calibrated_hi + 1e-12) << a.name;
    // On the grid: (observed / scale) + zp is an integer.
    const double steps = a.observed_hi / a.output.scale + a.output.zero_point;
    EXPECT_NEAR(steps, std::round(steps), 1e-6) << a.name;
    // The FP32 range and the engine's dequantized range agree to within the clamp and a few steps.
    if (!a.softmax_ceiling && b.observed_hi < b.calibrated_hi) {
      EXPECT_NEAR(a.observed_hi, b.observed_hi, 4 * a.output.scale + 0.1 * std::fabs(b.observed_hi)) << a.name;
      some_range = true;
    }
  }
  EXPECT_TRUE(some_range);
  const auto j = inspect::inspection_json(alone);
  EXPECT_EQ(j["has_fp32"], false);
  EXPECT_TRUE(j["fp32_model"].is_null());
  EXPECT_TRUE(j["int8_agreement"].is_null());
  EXPECT_TRUE(j["sensitivity"].is_null());
  EXPECT_TRUE(j["layers"][0]["clipped_share"].is_null());
  EXPECT_TRUE(j["layers"][0]["sqnr_db"].is_null());
  EXPECT_EQ(j["layers"][0]["observed_range_source"], "int8");
  EXPECT_TRUE(j["margins"]["closest"][0]["fp32_pred"].is_null());
  EXPECT_EQ(inspect::inspection_json(both)["has_fp32"], true);
  const std::string table = inspect::format_inspection_table(alone);
  EXPECT_NE(table.find("need the FP32 model"), std::string::npos) << table;
  EXPECT_EQ(table.find("agreement with FP32"), std::string::npos) << table;
}
