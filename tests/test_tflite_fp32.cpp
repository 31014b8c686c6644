// FP32 TensorFlow Lite files (src/tflite/tflite_read.cpp read_fp32_tflite, tflite_write_fp32.cpp): random graphs of
// the presets written from their FP32 ONNX as float32 .tflite and read back give the ONNX graph's outputs and, once
// quantized, its INT8 integers; hand-built files check the NHWC layouts (OHWI filters, depthwise [1,K,K,C*M],
// FULLY_CONNECTED columns in HWC order) against loops written in TFLite's own layout; hybrid and truncated files are
// refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/image_folder.h"
#include "data/synth.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qmodel.h"
#include "test_util.h"
#include "tflite/tflite_read.h"
#include "tflite/tflite_subset_generated.h"
#include "tflite/tflite_write.h"

namespace qp {
namespace {

using test::TempDir;
namespace fb = tflite::fb;

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

void write_bytes(const std::string &path, const std::vector<uint8_t> &b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
}

class Fp32TflitePresets : public ::testing::TestWithParam<std::string> {};

// ONNX -> .tflite -> graph: the same outputs (every layer) as the ONNX graph, and the same INT8 integers once quantized.
TEST_P(Fp32TflitePresets, SameOutputsAndSameInt8AsTheOnnxGraph) {
  TempDir dir;
  auto g0 = model::graph_from_spec(GetParam(), data::synth_class_names(), {3, 32, 32});
  model::init_random(g0, 7);
  for (auto &l : g0.layers)  // non-zero biases, so a bias in the wrong place shows
    for (size_t i = 0; i < l.bias.size(); ++i) l.bias[i] = 0.01f * static_cast<float>((i * 7) % 11) - 0.05f;
  const std::string onnx = (dir / "m.onnx").string(), tfl = (dir / "m.tflite").string();
  model::save_onnx(g0, onnx);
  const model::ModelFile mo = quant::load_fp32_model(onnx);
  tflite::save_fp32_tflite(mo.graph, tfl);
  ASSERT_TRUE(tflite::is_fp32_tflite_file(tfl));
  EXPECT_FALSE(quant::is_int8_model(tfl));
  const model::ModelFile mt = quant::load_fp32_model(tfl);  // through the one loader, by content
  EXPECT_EQ(mt.graph.classes, mo.graph.classes);
  EXPECT_EQ(mt.graph.arch, GetParam());
  EXPECT_EQ(tflite::fp32_graph_difference(model::fold_for_inference(mo.graph), mt.graph), "");

  const model::Fp32Executor eo(mo.graph), et(mt.graph);
  std::vector<float> x(static_cast<size_t>(mo.graph.input.size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37 + 11) % 256) / 255.f;
  std::vector<std::vector<float>> to, tt;
  const auto yo = eo.run(x.data(), &to), yt = et.run(x.data(), &tt);
  ASSERT_EQ(yo.size(), yt.size());
  for (size_t i = 0; i < yo.size(); ++i) EXPECT_NEAR(yo[i], yt[i], 1e-6) << i;
  ASSERT_EQ(to.size(), tt.size());
  for (size_t k = 0; k < to.size(); ++k) {
    ASSERT_EQ(to[k].size(), tt[k].size()) << k;
    for (size_t i = 0; i < to[k].size(); ++i) ASSERT_NEAR(to[k][i], tt[k][i], 1e-6) << "layer " << k << " value " << i;
  }

  data::SynthOptions so;
  so.out_dir = (dir / "d").string();
  so.train = 9;
  so.test = 3;
  data::synth_dataset(so);
  data::LoadOptions lo;
  const auto split = data::load_split((dir / "d/train").string(), lo);
  quant::QuantOptions qo;
  qo.calib_count = 9;
  const quant::QModel qa = quant::quantize_graph(mo.graph, split, qo), qb = quant::quantize_graph(mt.graph, split, qo);
  EXPECT_EQ(tflite::int8_model_difference(qa, qb), "");
  const quant::Int8Engine ea(qa, quant::Backend::Reference), eb(qb, quant::Backend::Reference);
  std::vector<int8_t> xi(static_cast<size_t>(qa.input.size()));
  for (size_t i = 0; i < xi.size(); ++i) xi[i] = static_cast<int8_t>(i * 29 + 3);
  EXPECT_EQ(ea.run_int8(xi.data()), eb.run_int8(xi.data()));
}

INSTANTIATE_TEST_SUITE_P(Presets, Fp32TflitePresets, ::testing::Values("rps-cnn", "rps-resnet", "rps-mobilenet"),
                         [](const auto &info) {
                           std::string n = info.param;
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// A tiny float32 .tflite built by hand, in TFLite's layout.
class Builder {
 public:
  Builder() { buffers_.push_back(fb::CreateBuffer(fbb_)); }
  int tensor(const std::vector<int32_t> &shape, fb::TensorType type, const void *data = nullptr, size_t bytes = 0) {
    uint32_t buf = 0;
    if (data != nullptr) {
      fbb_.ForceVectorAlignment(bytes, 1, 16);
      const auto v = fbb_.CreateVector(static_cast<const uint8_t *>(data), bytes);
      buffers_.push_back(fb::CreateBuffer(fbb_, v));
      buf = static_cast<uint32_t>(buffers_.size() - 1);
    }
    tensors_.push_back(fb::CreateTensor(fbb_, fbb_.CreateVector(shape), type, buf, fbb_.CreateString("t")));
    return static_cast<int>(tensors_.size() - 1);
  }
  int floats(const std::vector<int32_t> &shape, const std::vector<float> &v) {
    return tensor(shape, fb::TensorType_FLOAT32, v.data(), v.size() * 4);
  }
  int ints(const std::vector<int32_t> &shape, const std::vector<int32_t> &v) {
    return tensor(shape, fb::TensorType_INT32, v.data(), v.size() * 4);
  }
  void op(fb::BuiltinOperator code, const std::vector<int> &in, int out, fb::BuiltinOptions t, flatbuffers::Offset<void> o) {
    uint32_t idx = 0;
    while (idx < codes_.size() && codes_[idx] != code) ++idx;
    if (idx == codes_.size()) codes_.push_back(code);
    ops_.push_back(fb::CreateOperator(fbb_, idx, fbb_.CreateVector(in), fbb_.CreateVector(std::vector<int32_t>{out}), t, o));
  }
  std::vector<uint8_t> finish(int input, int output) {
    std::vector<flatbuffers::Offset<fb::OperatorCode>> codes;
    for (const auto c : codes_) codes.push_back(fb::CreateOperatorCode(fbb_, static_cast<int8_t>(c), 0, 1, c));
    const auto sg = fb::CreateSubGraph(fbb_, fbb_.CreateVector(tensors_), fbb_.CreateVector(std::vector<int32_t>{input}),
                                       fbb_.CreateVector(std::vector<int32_t>{output}), fbb_.CreateVector(ops_));
    const auto cv = fbb_.CreateVector(codes);
    const auto sv = fbb_.CreateVector(std::vector<flatbuffers::Offset<fb::SubGraph>>{sg});
    const auto bv = fbb_.CreateVector(buffers_);
    fb::ModelBuilder mb(fbb_);  // after the vectors: a table under construction may not nest other objects
    mb.add_version(3);
    mb.add_operator_codes(cv);
    mb.add_subgraphs(sv);
    mb.add_buffers(bv);
    fb::FinishModelBuffer(fbb_, mb.Finish());
    return {fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize()};
  }
  flatbuffers::FlatBufferBuilder fbb_;

 private:
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers_;
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<fb::Operator>> ops_;
  std::vector<fb::BuiltinOperator> codes_;
};

float val(int i) {
  return static_cast<float>((i * 13) % 17) / 8.f - 1.f;
}

// x [1,3,3,2] -> CONV_2D 2x2 VALID (OHWI [3,2,2,2]) -> [1,2,2,3] -> DEPTHWISE_CONV_2D 1x1 M=2 ([1,1,1,6]) -> [1,2,2,6]
// -> RESHAPE [1,24] -> FULLY_CONNECTED [2,24] (columns in HWC order) -> [1,2]; computed here in NHWC.
TEST(Fp32Tflite, LayoutsAgreeWithTfliteSemantics) {
  std::vector<float> x(18), wc(24), bc{0.5f, -0.25f, 0.125f}, wd(6), bd(6), wf(48), bf{0.1f, -0.2f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = val(static_cast<int>(i));
  for (size_t i = 0; i < wc.size(); ++i) wc[i] = val(static_cast<int>(i) + 5);
  for (size_t i = 0; i < wd.size(); ++i) wd[i] = val(static_cast<int>(i) + 3), bd[i] = 0.01f * static_cast<float>(i);
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = val(static_cast<int>(i) + 1);
  Builder b;
  const int in = b.tensor({1, 3, 3, 2}, fb::TensorType_FLOAT32);
  const int c = b.tensor({1, 2, 2, 3}, fb::TensorType_FLOAT32), d = b.tensor({1, 2, 2, 6}, fb::TensorType_FLOAT32);
  const int r = b.tensor({1, 24}, fb::TensorType_FLOAT32), y = b.tensor({1, 2}, fb::TensorType_FLOAT32);
  b.op(fb::BuiltinOperator_CONV_2D, {in, b.floats({3, 2, 2, 2}, wc), b.floats({3}, bc)}, c, fb::BuiltinOptions_Conv2DOptions,
       fb::CreateConv2DOptions(b.fbb_, fb::Padding_VALID, 1, 1).Union());
  b.op(fb::BuiltinOperator_DEPTHWISE_CONV_2D, {c, b.floats({1, 1, 1, 6}, wd), b.floats({6}, bd)}, d,
       fb::BuiltinOptions_DepthwiseConv2DOptions, fb::CreateDepthwiseConv2DOptions(b.fbb_, fb::Padding_VALID, 1, 1, 2).Union());
  b.op(fb::BuiltinOperator_RESHAPE, {d, b.ints({2}, {1, 24})}, r, fb::BuiltinOptions_NONE, 0);
  b.op(fb::BuiltinOperator_FULLY_CONNECTED, {r, b.floats({2, 24}, wf), b.floats({2}, bf)}, y,
       fb::BuiltinOptions_FullyConnectedOptions, fb::CreateFullyConnectedOptions(b.fbb_).Union());
  const auto bytes = b.finish(in, y);
  ASSERT_TRUE(tflite::is_fp32_tflite_bytes(bytes.data(), bytes.size()));
  const model::ModelFile mf = tflite::read_fp32_tflite(bytes.data(), bytes.size(), "hand.tflite");

  // TFLite's semantics, NHWC.
  std::vector<float> cv(12), dv(24), want(2);
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 2; ++w)
      for (int o = 0; o < 3; ++o) {
        float s = bc[static_cast<size_t>(o)];
        for (int kh = 0; kh < 2; ++kh)
          for (int kw = 0; kw < 2; ++kw)
            for (int i = 0; i < 2; ++i)
              s += x[static_cast<size_t>(((h + kh) * 3 + (w + kw)) * 2 + i)] *
                   wc[static_cast<size_t>(((o * 2 + kh) * 2 + kw) * 2 + i)];
        cv[static_cast<size_t>((h * 2 + w) * 3 + o)] = s;
      }
  for (int p = 0; p < 4; ++p)
    for (int o = 0; o < 6; ++o)
      dv[static_cast<size_t>(p * 6 + o)] =
          cv[static_cast<size_t>(p * 3 + o / 2)] * wd[static_cast<size_t>(o)] + bd[static_cast<size_t>(o)];
  for (int u = 0; u < 2; ++u) {
    want[static_cast<size_t>(u)] = bf[static_cast<size_t>(u)];
    for (int j = 0; j < 24; ++j) want[static_cast<size_t>(u)] += wf[static_cast<size_t>(u * 24 + j)] * dv[static_cast<size_t>(j)];
  }
  std::vector<float> chw(18);  // NHWC input -> the graph's CHW
  for (int h = 0; h < 3; ++h)
    for (int w = 0; w < 3; ++w)
      for (int i = 0; i < 2; ++i) chw[static_cast<size_t>((i * 3 + h) * 3 + w)] = x[static_cast<size_t>((h * 3 + w) * 2 + i)];
  const auto got = model::Fp32Executor(mf.graph).run(chw.data());
  ASSERT_EQ(got.size(), 2u);
  for (size_t u = 0; u < 2; ++u) EXPECT_NEAR(got[u], want[u], 1e-5) << u;
}

// Float activations with int8 weights (dynamic-range quantization): refused, named.
TEST(Fp32Tflite, HybridModelIsRefused) {
  Builder b;
  const std::vector<int8_t> w(8, 3);
  const int in = b.tensor({1, 2, 2, 2}, fb::TensorType_FLOAT32), y = b.tensor({1, 2, 2, 1}, fb::TensorType_FLOAT32);
  const int wt = b.tensor({1, 2, 2, 2}, fb::TensorType_INT8, w.data(), w.size());
  b.op(fb::BuiltinOperator_CONV_2D, {in, wt}, y, fb::BuiltinOptions_Conv2DOptions,
       fb::CreateConv2DOptions(b.fbb_, fb::Padding_SAME, 1, 1).Union());
  const auto bytes = b.finish(in, y);
  EXPECT_TRUE(tflite::is_fp32_tflite_bytes(bytes.data(), bytes.size()));
  const std::string e = error_of([&] { tflite::read_fp32_tflite(bytes.data(), bytes.size(), "hybrid.tflite"); });
  EXPECT_NE(e.find("'hybrid.tflite' operator 0 (CONV_2D)"), std::string::npos) << e;
  EXPECT_NE(e.find("mixed float/int8"), std::string::npos) << e;
  // The int8 reader refuses it as an FP32 file, not with a crash.
  EXPECT_NE(error_of([&] { tflite::read_int8_tflite(bytes.data(), bytes.size(), "hybrid.tflite"); }).find("FP32"),
            std::string::npos);
}

TEST(Fp32Tflite, TruncatedFileGivesAClearError) {
  TempDir dir;
  auto g = model::graph_from_spec("rps-cnn", data::synth_class_names(), {3, 32, 32});
  model::init_random(g, 3);
  auto bytes = tflite::fp32_tflite_bytes(g);
  const std::string whole = (dir / "whole.tflite").string(), cut = (dir / "cut.tflite").string();
  write_bytes(whole, bytes);
  EXPECT_EQ(quant::load_fp32_model(whole).graph.layers.size(), model::fold_for_inference(g).layers.size());
  bytes.resize(bytes.size() / 2);
  write_bytes(cut, bytes);
  const std::string e = error_of([&] { quant::load_fp32_model(cut); });
  EXPECT_NE(e.find("cut.tflite"), std::string::npos) << e;
  EXPECT_NE(e.find("FlatBuffers verifier"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { tflite::read_fp32_tflite(bytes.data(), bytes.size(), "cut.tflite"); }).find("truncated"),
            std::string::npos);
}

// An int8 .tflite is not an FP32 model, and an FP32 one is not an INT8 model.
TEST(Fp32Tflite, PrecisionsAreNotConfused) {
  auto g = model::graph_from_spec("rps-cnn", data::synth_class_names(), {3, 32, 32});
  model::init_random(g, 3);
  const auto bytes = tflite::fp32_tflite_bytes(g);
  const std::string e = error_of([&] { tflite::read_int8_tflite(bytes.data(), bytes.size(), "f.tflite"); });
  EXPECT_NE(e.find("is an FP32 (float32) TensorFlow Lite model"), std::string::npos) << e;
  const std::string resnet8 = std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/pretrainedResnet_quant.tflite";
  EXPECT_FALSE(tflite::is_fp32_tflite_file(resnet8));
  EXPECT_TRUE(quant::is_int8_model(resnet8));
  EXPECT_NE(error_of([&] { quant::load_fp32_model(resnet8); }).find("is an int8 TensorFlow Lite file"), std::string::npos);
}

}  // namespace
}  // namespace qp

namespace qp {
namespace {

// Tensor names go through an FP32 .tflite: the graph's names (a ReLU fused into its conv: the ReLU's, which is what the
// operator now writes) become the file's tensor names and read back as the graph's; tensors without one read back
// without (the names qparity makes up for them are not names).
TEST(Fp32Tflite, TensorNamesRoundTrip) {
  auto g = model::graph_from_spec("rps-cnn", data::synth_class_names(), {3, 32, 32});
  model::init_random(g, 3);
  g = model::fold_for_inference(g);
  g.set_tensor_name(model::kGraphInput, "pixels");
  ASSERT_EQ(g.layers[0].op, model::Op::Conv2D);
  ASSERT_EQ(g.layers[1].op, model::Op::ReLU);
  g.set_tensor_name(0, "conv_a");
  g.set_tensor_name(1, "relu_a");
  const int last = static_cast<int>(g.layers.size()) - 1;
  g.set_tensor_name(last, "scores");
  const auto bytes = tflite::fp32_tflite_bytes(g);
  const model::Graph back = tflite::read_fp32_tflite(bytes.data(), bytes.size(), "named.tflite").graph;
  ASSERT_EQ(back.layers.size(), g.layers.size());
  EXPECT_EQ(back.tensor_name(model::kGraphInput), "pixels");
  EXPECT_EQ(back.tensor_name(0), "");        // the conv's own output is not in the file: the fused ReLU writes it
  EXPECT_EQ(back.tensor_name(1), "relu_a");  // the reader's ReLU layer stands for that tensor
  EXPECT_EQ(back.tensor_name(last), "scores");
  for (int k = 2; k < last; ++k) EXPECT_EQ(back.tensor_name(k), "") << k;
}

}  // namespace
}  // namespace qp
