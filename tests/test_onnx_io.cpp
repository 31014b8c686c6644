#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>

#include "common/error.h"
#include "data/image_io.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "test_onnx_util.h"
#include "test_util.h"

using namespace qp;
using namespace qp::model;

namespace {

const std::vector<std::string> kRps = {"rock", "paper", "scissors"};

Graph random_graph(const std::string &arch, uint64_t seed) {
  Graph g = graph_from_spec(arch, kRps);
  init_random(g, seed);
  Rng rng(seed + 1);
  for (auto &l : g.layers) {
    for (auto &b : l.bias) b = static_cast<float>(rng.uniform(-0.1, 0.1));
    for (size_t c = 0; c < l.gamma.size(); ++c) {
      l.gamma[c] = static_cast<float>(rng.uniform(0.5, 1.5));
      l.mean[c] = static_cast<float>(rng.uniform(-0.1, 0.1));
      l.var[c] = static_cast<float>(rng.uniform(0.5, 1.5));
    }
  }
  return g;
}

using test::read_proto;
using test::write_proto;

void expect_load_error(const std::string &path, const std::string &needle) {
  try {
    load_onnx(path);
    FAIL() << "expected an error loading " << path;
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

class OnnxRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxRoundTrip, SameWeightsSameOutputsCheckerAccepts) {
  test::TempDir t;
  const Graph g = random_graph(GetParam(), 11);
  const std::string path = (t / "m.onnx").string();
  save_onnx(g, path);
  onnx::ModelProto proto = read_proto(path);
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  EXPECT_EQ(proto.opset_import(0).version(), 13);
  const ModelFile mf = load_onnx(path);
  EXPECT_EQ(mf.graph.classes, kRps);
  EXPECT_EQ(mf.graph.arch, GetParam());
  const Graph folded = fold_for_inference(g);
  ASSERT_EQ(mf.graph.layers.size(), folded.layers.size());
  for (size_t i = 0; i < folded.layers.size(); ++i) {
    EXPECT_EQ(mf.graph.layers[i].op, folded.layers[i].op) << i;
    EXPECT_EQ(mf.graph.layers[i].out, folded.layers[i].out) << i;
    EXPECT_EQ(mf.graph.layers[i].weight, folded.layers[i].weight) << i;  // bit-identical floats
    EXPECT_EQ(mf.graph.layers[i].bias, folded.layers[i].bias) << i;
  }
  const Fp32Executor a(g), b(mf.graph);
  for (uint64_t s = 0; s < 5; ++s) {
    const auto img = test::random_image(32, 32, s);
    EXPECT_EQ(a.run_rgb(img.pixels.data()), b.run_rgb(img.pixels.data()));
  }
  // Same graph, same bytes.
  EXPECT_EQ(onnx_bytes(g), onnx_bytes(g));
  EXPECT_EQ(onnx_bytes(g), std::string(reinterpret_cast<const char *>(data::read_file_bytes(path).data()), mf.file_bytes));
}

INSTANTIATE_TEST_SUITE_P(Presets, OnnxRoundTrip, ::testing::Values("rps-cnn", "rps-cnn-bn", "rps-mobile"), [](const auto &info) {
  std::string n = info.param;
  for (auto &c : n)
    if (c == '-') c = '_';
  return n;
});

TEST(OnnxIo, BadFilesGiveClearErrors) {
  test::TempDir t;
  const std::string good = (t / "good.onnx").string();
  save_onnx(random_graph("rps-cnn", 1), good);
  expect_load_error((t / "missing.onnx").string(), "does not exist");
  std::ofstream(t / "text.onnx") << "hello, I am not a model";
  expect_load_error((t / "text.onnx").string(), "is not an ONNX model");
  {
    const auto bytes = data::read_file_bytes(good);
    std::ofstream(t / "trunc.onnx", std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size() - 5000));
  }
  EXPECT_THROW(load_onnx((t / "trunc.onnx").string()), Error);
  // An unsupported op.
  auto proto = read_proto(good);
  for (auto &n : *proto.mutable_graph()->mutable_node())
    if (n.op_type() == "Relu") {
      n.set_op_type("Elu");
      break;
    }
  write_proto(proto, (t / "elu.onnx").string());
  expect_load_error((t / "elu.onnx").string(), "operator 'Elu' is not supported");
  // A wrong input shape.
  proto = read_proto(good);
  proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(3)->set_dim_value(
      28);
  write_proto(proto, (t / "shape.onnx").string());
  expect_load_error((t / "shape.onnx").string(), "must be float32 [N,3,H,W] with H = W");
  // An INT8 (QDQ) model given where FP32 is needed.
  proto = read_proto(good);
  proto.mutable_graph()->mutable_node(0)->set_op_type("QuantizeLinear");
  write_proto(proto, (t / "q.onnx").string());
  EXPECT_THROW(load_onnx((t / "q.onnx").string()), Error);
}
