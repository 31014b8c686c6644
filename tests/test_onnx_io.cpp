#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>

#include "common/error.h"
#include "data/image_io.h"
#include "model/executor_fp32.h"
#include "model/info.h"
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
  EXPECT_EQ(mf.graph.input, folded.input);
  for (size_t i = 0; i < folded.layers.size(); ++i) {
    const Layer &r = mf.graph.layers[i], &w = folded.layers[i];
    EXPECT_EQ(r.op, w.op) << i;
    EXPECT_EQ(r.inputs, w.inputs) << i;  // the same DAG edges (Add/Concat read the same layers)
    EXPECT_EQ(r.in, w.in) << i;
    EXPECT_EQ(r.out, w.out) << i;
    EXPECT_EQ(r.kernel, w.kernel) << i;
    EXPECT_EQ(r.stride, w.stride) << i;
    EXPECT_EQ(r.units, w.units) << i;
    EXPECT_EQ(r.padding, w.padding) << i;
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

// A Concat of three branches (one the identity) after a conv, then pooling and a dense layer.
const char *const kConcatSpec = "conv3x3(8) relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) softmax";

INSTANTIATE_TEST_SUITE_P(Presets, OnnxRoundTrip,
                         ::testing::Values("rps-cnn", "rps-cnn-bn", "rps-mobile", "rps-mobilenet", "rps-resnet", kConcatSpec),
                         [](const auto &info) {
                           std::string n = info.param;
                           if (n == kConcatSpec) return std::string("concat_spec");
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// The DAG as ONNX: Add and Concat(axis=1) nodes reading the tensors their IR inputs name.
TEST(OnnxIo, ResidualAndConcatNodesNameTheirInputs) {
  test::TempDir t;
  const std::string path = (t / "m.onnx").string();
  save_onnx(random_graph("rps-resnet", 2), path);
  const auto proto = read_proto(path);
  int adds = 0;
  for (const auto &n : proto.graph().node())
    if (n.op_type() == "Add") {
      ++adds;
      ASSERT_EQ(n.input_size(), 2);
      EXPECT_NE(n.input(0), n.input(1));
    }
  EXPECT_EQ(adds, 3);
  // The first residual block adds the stem's ReLU output (its identity shortcut).
  const auto &nodes = proto.graph().node();
  std::string stem_relu;
  for (const auto &n : nodes)
    if (n.op_type() == "Relu") {
      stem_relu = n.output(0);
      break;
    }
  bool shortcut = false;
  for (const auto &n : nodes)
    if (n.op_type() == "Add" && n.input(1) == stem_relu) shortcut = true;
  EXPECT_TRUE(shortcut) << stem_relu;

  save_onnx(random_graph(kConcatSpec, 2), path);
  const auto cp = read_proto(path);
  for (const auto &n : cp.graph().node())
    if (n.op_type() == "Concat") {
      ASSERT_EQ(n.input_size(), 3);
      ASSERT_EQ(n.attribute_size(), 1);
      EXPECT_EQ(n.attribute(0).name(), "axis");
      EXPECT_EQ(n.attribute(0).i(), 1);
    }
}

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
  // A wrong input shape: a 4-D input with no fixed width.
  proto = read_proto(good);
  proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(3)->set_dim_param(
      "W");
  write_proto(proto, (t / "shape.onnx").string());
  expect_load_error((t / "shape.onnx").string(), "must be float32 [N,C,H,W] with fixed C, H and W");
  // An INT8 (QDQ) model given where FP32 is needed.
  proto = read_proto(good);
  proto.mutable_graph()->mutable_node(0)->set_op_type("QuantizeLinear");
  write_proto(proto, (t / "q.onnx").string());
  EXPECT_THROW(load_onnx((t / "q.onnx").string()), Error);
}

// `qparity info` on a graph with branches lists each layer's inputs; a chain's table stays as it was.
TEST(OnnxIo, InfoShowsTheInputsOfADag) {
  test::TempDir t;
  const std::string path = (t / "m.onnx").string();
  save_onnx(random_graph("rps-resnet", 4), path);
  const std::string text = describe_model(load_onnx(path));
  EXPECT_NE(text.find("inputs"), std::string::npos) << text;
  EXPECT_NE(text.find("<- input\n"), std::string::npos) << text;  // the stem conv reads the image
  // Folded rps-resnet: layer 5 is the first Add (the second conv of block 1 + the stem's ReLU), layer
  // 10 the strided projection reading block 1's ReLU (layer 6), layer 11 the second Add.
  EXPECT_NE(text.find("<- 4, 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("<- 9, 10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("parameters  77,251"), std::string::npos) << text;
  save_onnx(random_graph("rps-cnn", 4), path);
  const std::string chain = describe_model(load_onnx(path));
  EXPECT_EQ(chain.find("<-"), std::string::npos) << chain;
}

// A graph read from a foreign ONNX file keeps its value names when qparity writes it as FP32 ONNX again: every tensor
// reads back with the name it had (PyTorch exports: residual Adds, Concats, depthwise blocks, a grey input).
TEST(OnnxIo, Fp32ExportKeepsTheFilesValueNames) {
  test::TempDir t;
  for (const std::string name : {"resnet_small", "squeezenet_fire", "mobilenetv2_025", "clip_gap_gray"}) {
    ModelFile mf = load_onnx(std::string(QP_SOURCE_DIR) + "/tests/fixtures/pytorch/" + name + ".onnx");
    for (int c = 0; c < mf.graph.output().c; ++c) mf.graph.classes.push_back("class" + std::to_string(c));
    const Graph g = fold_for_inference(mf.graph);
    const std::string path = (t / (name + ".onnx")).string();
    save_onnx(mf.graph, path);
    const onnx::ModelProto proto = read_proto(path);
    const std::string &in_name = g.tensor_name(kGraphInput);
    EXPECT_EQ(proto.graph().input(0).name(), in_name.empty() ? "input" : in_name) << name;
    const ModelFile back = load_onnx(path);
    ASSERT_EQ(back.graph.tensors.size(), g.tensors.size()) << name;
    size_t named = 0;
    for (size_t k = 0; k < g.tensors.size(); ++k) {
      // A name of the kind qparity makes up ("input" is PyTorch's usual one) reads back from qparity's file as none.
      const std::string &n = g.tensors[k].name;
      EXPECT_EQ(back.graph.tensors[k].name, is_generated_tensor_name(n) ? std::string() : n) << name << " tensor " << k;
      named += !back.graph.tensors[k].name.empty();
    }
    EXPECT_GT(named, g.layers.size() / 2) << name;
  }
}

// Names that would collide (twice the same, or one qparity generates for another value) give way to qparity's own, so
// the file stays valid ONNX (unique value names); they read back as no name, the others as they were.
TEST(OnnxIo, Fp32ExportKeepsValueNamesUnique) {
  test::TempDir t;
  Graph g = random_graph("rps-resnet", 3);
  infer_shapes(g);
  const int n = static_cast<int>(g.layers.size());
  ASSERT_GE(n, 6);
  g.set_tensor_name(kGraphInput, "images");
  g.set_tensor_name(0, "l1_ReLU_out");  // the pattern of another layer's generated value
  g.set_tensor_name(1, "block/x");
  g.set_tensor_name(2, "block/x");  // a duplicate: the first keeps it
  g.set_tensor_name(3, "logits");   // the last layer's generated name
  g.set_tensor_name(4, "l7_Conv2D.weight");
  g.set_tensor_name(n - 1, "scores");
  const Graph folded = fold_for_inference(g);
  const std::string path = (t / "m.onnx").string();
  save_onnx(g, path);  // runs onnx::checker, which refuses a value written twice
  const ModelFile back = load_onnx(path);
  ASSERT_EQ(back.graph.tensors.size(), folded.tensors.size());
  std::map<std::string, int> seen;
  for (const auto &tensor : back.graph.tensors)
    if (!tensor.name.empty()) ++seen[tensor.name];
  EXPECT_EQ(back.graph.tensor_name(kGraphInput), "images");
  EXPECT_EQ(back.graph.tensor_name(static_cast<int>(back.graph.layers.size()) - 1), "scores");
  EXPECT_EQ(seen["block/x"], folded.tensor_name(1) == "block/x" || folded.tensor_name(2) == "block/x" ? 1 : 0);
  for (const char *bad : {"l1_ReLU_out", "logits", "l7_Conv2D.weight"}) EXPECT_EQ(seen.count(bad), 0u) << bad;
  for (const auto &[name, count] : seen) EXPECT_EQ(count, 1) << name;
}
