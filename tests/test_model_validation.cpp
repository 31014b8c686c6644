// Model files that ONNX's checker accepts but that do not mean what qparity would run (issue 14,
// item 2): each test starts from a valid model qparity wrote, corrupts one thing with the protobuf
// API, and expects a qp::Error naming the file and the node or layer - never a crash, an escaped
// std::out_of_range, or a model that loads and answers wrongly.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/image_io.h"
#include "data/synth.h"
#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_onnx_util.h"
#include "test_util.h"

using namespace qp;

namespace {

using test::read_proto;
using test::write_proto;

// Runs `load` and expects a qp::Error whose text contains every needle. Any other exception fails
// the test (gtest reports it), as does loading without an error.
void expect_error(const std::function<void()> &load, const std::vector<std::string> &needles) {
  try {
    load();
    ADD_FAILURE() << "expected an error mentioning '" << needles.front() << "'";
  } catch (const Error &e) {
    for (const auto &n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "'" << n << "' not in: " << e.what();
  }
}

onnx::NodeProto *find_node(onnx::ModelProto &m, const std::string &op, int nth = 0) {
  for (auto &n : *m.mutable_graph()->mutable_node())
    if (n.op_type() == op && nth-- == 0) return &n;
  ADD_FAILURE() << "no " << op << " node";
  return nullptr;
}

onnx::TensorProto *find_init(onnx::ModelProto &m, const std::string &name) {
  for (auto &t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == name) return &t;
  ADD_FAILURE() << "no initializer " << name;
  return nullptr;
}

onnx::AttributeProto *find_attr(onnx::NodeProto *n, const std::string &name) {
  for (auto &a : *n->mutable_attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

void set_floats(onnx::TensorProto *t, const std::vector<float> &v) {
  std::string raw(v.size() * 4, '\0');
  std::memcpy(raw.data(), v.data(), raw.size());
  t->set_raw_data(raw);
}

// A valid FP32 model file of the given preset, and its parsed proto to corrupt.
struct Fp32File {
  test::TempDir dir;
  std::string good;
  onnx::ModelProto proto;
  explicit Fp32File(const std::string &arch = "rps-cnn", model::Shape input = {3, 32, 32}) {
    model::Graph g = model::graph_from_spec(arch, {"rock", "paper", "scissors"}, input);
    model::init_random(g, 3);
    good = (dir / "good.onnx").string();
    model::save_onnx(g, good);
    proto = read_proto(good);
  }
  // Writes the (corrupted) proto and expects load_onnx to refuse it with these words; the file must
  // still pass ONNX's own checker, so the reader is what catches it.
  void expect(const std::vector<std::string> &needles, bool checker_accepts = true) {
    const std::string path = (dir / "bad.onnx").string();
    write_proto(proto, path);
    if (checker_accepts) {
      EXPECT_NO_THROW(onnx::checker::check_model(proto));
    }
    auto all = needles;
    all.push_back(path);
    expect_error([&] { model::load_onnx(path); }, all);
  }
};

}  // namespace

TEST(ModelValidation, GemmWeightWithoutDims) {
  Fp32File f;
  auto *gemm = find_node(f.proto, "Gemm");
  auto *w = find_init(f.proto, gemm->input(1));
  w->clear_dims();  // a scalar: one float
  set_floats(w, {0.5f});
  f.expect({gemm->name(), "is not a 2-D matrix"});
}

TEST(ModelValidation, GemmWeightDimsOverflowTheElementCount) {
  Fp32File f;
  auto *gemm = find_node(f.proto, "Gemm");
  gemm->clear_attribute();  // transB = 0: the reader would transpose
  auto *w = find_init(f.proto, gemm->input(1));
  w->clear_dims();
  w->add_dims(int64_t{1} << 32);  // 2^32 * 2^32 wraps to 0 in int64
  w->add_dims(int64_t{1} << 32);
  w->clear_raw_data();
  f.expect({"initializer '" + w->name() + "'", "elements"});
  w->clear_dims();
  w->add_dims(-64);
  w->add_dims(-576);
  set_floats(w, std::vector<float>(64 * 576, 0.f));
  f.expect({"negative dimension"});
}

TEST(ModelValidation, WeightsMustBeInitializers) {
  Fp32File f;
  // The Gemm's weight is the activation the Flatten computes: not a constant.
  auto *gemm = find_node(f.proto, "Gemm");
  gemm->set_input(1, gemm->input(0));
  f.expect({gemm->name(), "must be a constant"});
  // The same for a Conv's weight and bias.
  f.proto = read_proto(f.good);
  auto *conv = find_node(f.proto, "Conv", 1);
  conv->set_input(1, conv->input(0));
  f.expect({conv->name(), "must be a constant"});
  f.proto = read_proto(f.good);
  conv = find_node(f.proto, "Conv", 1);
  conv->set_input(2, conv->input(0));
  f.expect({conv->name(), "input 2", "must be a constant"});
}

TEST(ModelValidation, ConvKernelShapeMustMatchTheWeights) {
  Fp32File f;
  auto *conv = find_node(f.proto, "Conv");
  auto *ks = find_attr(conv, "kernel_shape");
  ASSERT_NE(ks, nullptr);
  ks->set_ints(0, 5);
  ks->set_ints(1, 5);
  f.expect({conv->name(), "kernel_shape [5,5] does not match", "[16,3,3,3]"});
}

TEST(ModelValidation, ShapesDerivedFromAttributesMustAgree) {
  Fp32File f;
  // Bias length vs output channels.
  auto *conv = find_node(f.proto, "Conv", 1);
  auto *b = find_init(f.proto, conv->input(2));
  b->set_dims(0, 31);
  set_floats(b, std::vector<float>(31, 0.f));
  f.expect({conv->name(), "has 31 values for 32 output channels"});
  // Gemm in/out vs the previous layer (transB flipped on the last, non-square Gemm).
  f.proto = read_proto(f.good);
  auto *gemm = find_node(f.proto, "Gemm", 1);
  find_attr(gemm, "transB")->set_i(0);
  f.expect({gemm->name(), "transB=0 takes 3 inputs but the previous layer outputs 64"});
  // Initializer data length vs dims (float_data instead of raw_data, one value short).
  f.proto = read_proto(f.good);
  auto *w = find_init(f.proto, find_node(f.proto, "Conv")->input(1));
  w->clear_raw_data();
  for (int i = 0; i < 16 * 3 * 3 * 3 - 1; ++i) w->add_float_data(0.f);
  f.expect({"initializer '" + w->name() + "' has 431 values but its dims [16,3,3,3] say 432"});
  // A stride that does not fit an int (2^32 + 1 would read as 1).
  f.proto = read_proto(f.good);
  auto *st = find_attr(find_node(f.proto, "Conv"), "strides");
  st->set_ints(0, (int64_t{1} << 32) + 1);
  st->set_ints(1, (int64_t{1} << 32) + 1);
  f.expect({"stride 4294967297 is not in [1, 1024]"});
  // A Clip bound that is an empty tensor (its value would be read at [0]).
  Fp32File mobile("rps-mobile");
  auto *clip = find_node(mobile.proto, "Clip");
  auto *lo = find_init(mobile.proto, clip->input(1));
  lo->add_dims(0);
  lo->clear_raw_data();
  mobile.expect({clip->name(), "is not a scalar"});
}

TEST(ModelValidation, OnlyOneOrThreeChannelInputs) {
  // qparity feeds RGB (3 channels) or luma (1 channel) images; anything else is refused by name.
  Fp32File gray("rps-cnn", {1, 32, 32});
  EXPECT_EQ(model::load_onnx(gray.good).graph.input, (model::Shape{1, 32, 32}));
  Fp32File four("rps-cnn", {4, 32, 32});
  expect_error([&] { model::load_onnx(four.good); }, {four.good, "has 4 channels", "[N,3,H,W] or [N,1,H,W]"});
}

// Graphs with branches (issue 10): the reader follows tensors by name, so a file whose Add, Concat or
// wiring does not mean what it says is refused, naming the node and the tensors.
const char *const kConcatSpec = "conv3x3(8) relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) softmax";

TEST(ModelValidation, ResidualAndConcatFilesLoad) {
  Fp32File resnet("rps-resnet");
  EXPECT_EQ(model::load_onnx(resnet.good).graph.layers.size(), 22u);
  Fp32File concat(kConcatSpec);
  EXPECT_EQ(model::load_onnx(concat.good).graph.layers[5].inputs, (std::vector<int>{3, 4, 1}));
}

TEST(ModelValidation, AddInputsMustHaveTheSameShape) {
  Fp32File f("rps-resnet");
  // The second block's 1x1 projection with stride 1 instead of 2: [32,32,32] added to [32,16,16].
  auto *proj = find_node(f.proto, "Conv", 5);
  ASSERT_EQ(find_attr(proj, "kernel_shape")->ints(0), 1);
  find_attr(proj, "strides")->set_ints(0, 1);
  find_attr(proj, "strides")->set_ints(1, 1);
  auto *add = find_node(f.proto, "Add", 1);
  f.expect({add->name(), "[32,16,16] and", "[32,32,32]", "different shapes", "no broadcasting"});
  // An Add with a constant operand (a broadcast bias) is not a residual connection.
  f.proto = read_proto(f.good);
  auto *relu = find_node(f.proto, "Relu");
  relu->set_op_type("Add");
  relu->add_input(find_node(f.proto, "Conv")->input(2));
  f.expect({relu->name(), "adds a constant to a tensor that is not a MatMul's output"});
}

TEST(ModelValidation, ConcatAlongChannelsWithTheSameHeightAndWidth) {
  Fp32File f(kConcatSpec);
  auto *cat = find_node(f.proto, "Concat");
  find_attr(cat, "axis")->set_i(2);
  f.expect({cat->name(), "axis 2 is not the channel axis"});
  // The first branch's 1x1 conv with stride 2: [8,16,16] next to [6,32,32].
  f.proto = read_proto(f.good);
  auto *conv = find_node(f.proto, "Conv", 1);
  find_attr(conv, "strides")->set_ints(0, 2);
  find_attr(conv, "strides")->set_ints(1, 2);
  cat = find_node(f.proto, "Concat");
  f.expect({cat->name(), "input 1", "[6,32,32]", "[8,16,16]", "differ in height or width"});
}

TEST(ModelValidation, EveryNodeFeedsTheOutputInTopologicalOrder) {
  Fp32File f("rps-resnet");
  // A node whose output nobody reads.
  auto *extra = f.proto.mutable_graph()->add_node();
  extra->set_op_type("Relu");
  extra->set_name("stray");
  extra->add_input(find_node(f.proto, "Relu")->output(0));
  extra->add_output("stray_out");
  f.expect({"node 'stray' (Relu)", "'stray_out' is never used"});
  // An Add moved before the node that computes its second input: ONNX's checker refuses the order,
  // and the error says so.
  f.proto = read_proto(f.good);
  auto *nodes = f.proto.mutable_graph()->mutable_node();
  int add = -1;
  for (int i = 0; i < nodes->size(); ++i)
    if (nodes->Get(i).op_type() == "Add") {
      add = i;
      break;
    }
  ASSERT_GT(add, 2);
  nodes->SwapElements(add, add - 1);
  f.expect({"topologically"}, /*checker_accepts=*/false);
  // The graph's output named as an earlier tensor: the last node would dangle.
  f.proto = read_proto(f.good);
  f.proto.mutable_graph()->mutable_output(0)->set_name(find_node(f.proto, "Gemm")->output(0));
  f.expect({"Softmax", "is never used"});
}

TEST(ModelValidation, CheckedElementCount) {
  EXPECT_EQ(model::checked_element_count(std::vector<int64_t>{}, "t"), 1);
  EXPECT_EQ(model::checked_element_count(std::vector<int64_t>{2, 0, 5}, "t"), 0);
  EXPECT_EQ(model::checked_element_count(std::vector<int64_t>{64, 576}, "t"), 64 * 576);
  EXPECT_THROW(model::checked_element_count(std::vector<int64_t>{3, -1}, "t"), Error);
  EXPECT_THROW(model::checked_element_count(std::vector<int64_t>{int64_t{1} << 32, int64_t{1} << 32}, "t"), Error);
  EXPECT_THROW(model::checked_element_count(std::vector<int64_t>{std::numeric_limits<int64_t>::max(), 2}, "t"), Error);
  EXPECT_THROW(model::checked_element_count(std::vector<int64_t>{model::kMaxTensorElements + 1}, "t"), Error);
}

// ---- INT8 (QDQ) files ----

namespace {

// A quantized rps-cnn written by save_qdq_onnx, and its proto to corrupt. Layers: conv0 (relu),
// maxpool1, conv2, maxpool3, conv4, maxpool5, flatten6, dense7, dense8, softmax9.
struct QdqFile {
  test::TempDir dir;
  std::string good;
  onnx::ModelProto proto;
  explicit QdqFile(const std::string &arch = "rps-cnn", int size = 32) {
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 30;
    so.test = 3;
    data::synth_dataset(so);
    data::LoadOptions lo;
    lo.size = size;
    const data::Split split = data::load_split((dir / "d/train").string(), lo);
    model::Graph g = model::graph_from_spec(arch, data::synth_class_names(), {3, size, size});
    model::init_random(g, 7);
    quant::QuantOptions opt;
    opt.calib_count = 10;
    good = (dir / "good.onnx").string();
    quant::save_qdq_onnx(quant::quantize_graph(g, split, opt), good);
    proto = read_proto(good);
  }
  nlohmann::json layers() {
    for (const auto &p : proto.metadata_props())
      if (p.key() == "qparity.int8.layers") return nlohmann::json::parse(p.value());
    ADD_FAILURE() << "no layer metadata";
    return {};
  }
  void set_meta(const std::string &key, const std::string &value) {
    for (auto &p : *proto.mutable_metadata_props())
      if (p.key() == key) p.set_value(value);
  }
  template <typename T>
  void set_value(const std::string &name, size_t i, T v) {
    auto *t = find_init(proto, name);
    ASSERT_GE(t->raw_data().size(), (i + 1) * sizeof(T));
    std::string raw = t->raw_data();
    std::memcpy(raw.data() + i * sizeof(T), &v, sizeof(T));
    t->set_raw_data(raw);
  }
  void expect(const std::vector<std::string> &needles) {
    const std::string path = (dir / "bad.onnx").string();
    write_proto(proto, path);
    EXPECT_NO_THROW(onnx::checker::check_model(proto));
    auto all = needles;
    all.push_back(path);
    expect_error([&] { quant::load_qdq_onnx(path); }, all);
    proto = read_proto(good);  // the next case starts from the valid file again
  }
};

}  // namespace

TEST(QdqValidation, TheValidFileLoads) {
  QdqFile f;
  EXPECT_NO_THROW(quant::load_qdq_onnx(f.good));
}

TEST(QdqValidation, LayersMustChain) {
  QdqFile f;
  // The first max pool declares a map twice as large as the conv before it gives (self-consistent
  // otherwise): the optimized max pool read out of bounds with the declared shape.
  auto layers = f.layers();
  ASSERT_EQ(layers[1]["op"], "MaxPool");
  for (const char *k : {"in", "out"})
    for (int d : {1, 2}) layers[1][k][d] = layers[1][k][d].get<int>() * 2;
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({"layer 1 (MaxPool)", "is not the previous layer's output"});
  // A conv whose declared output does not follow from its input and window.
  layers = f.layers();
  layers[2]["out"][1] = layers[2]["out"][1].get<int>() + 1;
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({"layer 2 (Conv2D)", "does not follow from input"});
}

TEST(QdqValidation, MetadataIntegersAreNotTruncated) {
  QdqFile f;
  auto layers = f.layers();
  layers[1]["kernel"] = (uint64_t{1} << 32) + 2;  // read as 2 by get<int>
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({"layer 1 (MaxPool)", "'kernel' = 4294967298 is not in"});
  layers = f.layers();
  layers[0]["in"] = {3, 32};
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({"layer 0 (Conv2D)", "is missing or not a [c, h, w] list"});
}

TEST(QdqValidation, ScalesAndZeroPointsMustBeValid) {
  QdqFile f;
  f.set_value<float>("in.y_scale", 0, 0.f);  // activation scale 0
  f.expect({"activation scale 'in.y_scale'", "not a finite number > 0"});
  f.set_value<float>("l1.y_scale", 0, std::numeric_limits<float>::quiet_NaN());
  f.expect({"activation scale 'l1.y_scale'"});
  f.set_value<float>("l2.w_scale", 3, -0.01f);
  f.expect({"layer 2 (Conv2D) channel 3", "weight scale"});
  f.set_value<float>("l2.w_scale", 0, std::numeric_limits<float>::infinity());
  f.expect({"layer 2 (Conv2D) channel 0", "weight scale inf"});
  f.set_value<int8_t>("l4.w_zp", 5, int8_t{3});
  f.expect({"layer 4 (Conv2D) channel 5", "zero points must be 0"});
  f.set_value<float>("l7.b_scale", 0, 1.f);
  f.expect({"layer 7 (Dense) channel 0", "bias scale"});
  // A pool that claims to requantize (the kernel does not).
  f.set_value<int8_t>("l3.y_zp", 0, int8_t{5});
  f.expect({"layer 3 (MaxPool)", "does not requantize"});
  // The input's pixel convention must be one (a file without the key means range 0,1; any input scale and zero
  // point is fine, the pixel table follows them).
  auto *conv = f.proto.add_metadata_props();
  conv->set_key("qparity.input.convention");
  conv->set_value("range=1,0");
  f.expect({"qparity.input.convention", "LO must be less than HI"});
}

TEST(QdqValidation, CountsMustMatchTheChannels) {
  QdqFile f;
  auto *ws = find_init(f.proto, "l2.w_scale");
  ws->set_dims(0, ws->dims(0) - 1);
  ws->set_raw_data(ws->raw_data().substr(4));
  f.expect({"tensor 'l2.w_scale' has the wrong type, dims or size"});
  // Same bytes, other dims: the dims must describe the tensor.
  auto *w = find_init(f.proto, "l7.w_q");
  const int64_t a = w->dims(0), b = w->dims(1);
  w->set_dims(0, b);
  w->set_dims(1, a);
  f.expect({"tensor 'l7.w_q' has the wrong type, dims or size"});
  auto classes = nlohmann::json::array({"rock", "paper"});
  f.set_meta("qparity.classes", classes.dump());
  f.expect({"names 2 classes but the model outputs 3"});
}

TEST(QdqValidation, AccumulatorBoundIsChecked) {
  QdqFile f;
  f.set_value<int32_t>("l8.b_q", 1, std::numeric_limits<int32_t>::max());
  f.expect({"layer 8 (Dense) channel 1", "accumulator could overflow"});
}

TEST(QdqValidation, GraphNodesMustMatchTheMetadata) {
  QdqFile f;
  // ONNX Runtime runs the graph, qparity the metadata: a 5x5 Conv node over 3x3 layer metadata.
  onnx::NodeProto *conv = find_node(f.proto, "Conv", 1);
  auto *ks = find_attr(conv, "kernel_shape");
  ks->set_ints(0, 5);
  ks->set_ints(1, 5);
  f.expect({"layer 2 (Conv2D)", "kernel_shape, strides, pads or group other than the layer's"});
}

TEST(QdqValidation, OnlyOneOrThreeChannelInputs) {
  QdqFile f;
  auto layers = f.layers();
  layers[0]["in"][0] = 4;
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({"qparity feeds RGB (3 channels) or luma (1 channel) images"});
}

// ---- INT8 (QDQ) files with a residual Add and a Concat ----

namespace {

// Layers: conv0 (relu), conv1 (relu), conv2, add3 (relu) of conv2 and conv0, conv4 (relu), conv5,
// concat6 of conv4, conv5 and add3, maxpool7, flatten8, dense9, softmax10; 16x16 inputs.
const char *const kQdqGraphSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) "
    "softmax";

// The index of the first layer of the metadata with op `op`.
int layer_index(const nlohmann::json &layers, const std::string &op) {
  for (size_t k = 0; k < layers.size(); ++k)
    if (layers[k]["op"] == op) return static_cast<int>(k);
  ADD_FAILURE() << "no " << op << " layer";
  return 0;
}

}  // namespace

TEST(QdqValidation, TheGraphFileLoads) {
  QdqFile f(kQdqGraphSpec, 16);
  const auto m = quant::load_qdq_onnx(f.good).model;
  ASSERT_EQ(m.layers.size(), 11u);
  EXPECT_EQ(m.layers[3].op, model::Op::Add);
  EXPECT_EQ(m.layers[3].q.activation, "relu");
  EXPECT_EQ(m.layers[3].inputs, (std::vector<int>{2, 0}));
  EXPECT_EQ(m.layers[6].op, model::Op::Concat);
  EXPECT_EQ(m.layers[6].inputs, (std::vector<int>{4, 5, 3}));
  EXPECT_EQ(m.layers[6].out, (model::Shape{22, 16, 16}));
}

TEST(QdqValidation, AddWiringMustMatch) {
  QdqFile f(kQdqGraphSpec, 16);
  auto layers = f.layers();
  const int a = layer_index(layers, "Add");
  const std::string at = "layer " + std::to_string(a) + " (Add)";
  // The graph adds the first input to itself: ONNX Runtime would compute 2x, not the residual sum.
  auto *add = find_node(f.proto, "Add");
  add->set_input(1, add->input(0));
  f.expect({at, "node '" + add->name() + "' (Add) reads (", "but the metadata's layer reads"});
  // The metadata names a later layer, the model input (another shape), or three inputs.
  layers[a]["inputs"][1] = a + 1;
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({at, "input = " + std::to_string(a + 1) + " is not in [-1, " + std::to_string(a - 1) + "]"});
  layers = f.layers();
  layers[a]["inputs"][1] = -1;
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({at, "is not the model input [3,16,16]", "Add takes two tensors of the same shape"});
  layers = f.layers();
  layers[a]["inputs"].push_back(0);
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({at, "3 input(s), but Add takes 2"});
}

TEST(QdqValidation, ConcatWiringMustMatch) {
  QdqFile f(kQdqGraphSpec, 16);
  auto layers = f.layers();
  const int c = layer_index(layers, "Concat");
  const std::string at = "layer " + std::to_string(c) + " (Concat)";
  // Branches swapped in the graph: the channels would come out in another order.
  auto *cat = find_node(f.proto, "Concat");
  const std::string first = cat->input(0);
  cat->set_input(0, cat->input(1));
  cat->set_input(1, first);
  f.expect({at, "(Concat) reads (", "but the metadata's layer reads"});
  cat = find_node(f.proto, "Concat");
  find_attr(cat, "axis")->set_i(2);
  f.expect({at, "has axis = 2, expected 1"});
  // Declared output of another height and width than its inputs; inputs whose channels do not add up.
  layers[c]["out"] = {22, 8, 8};
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({at, "of another height or width"});
  layers = f.layers();
  layers[c]["inputs"][2] = -1;  // the model input: 16x16 too, but 3 channels where the add gave 8
  f.set_meta("qparity.int8.layers", layers.dump());
  f.expect({at, "does not follow from input"});
}

TEST(QdqValidation, EveryNodeBelongsToALayer) {
  QdqFile f(kQdqGraphSpec, 16);
  auto *extra = f.proto.mutable_graph()->add_node();
  extra->set_op_type("Relu");
  extra->set_name("stray");
  extra->add_input("l0_dq");
  extra->add_output("stray_out");
  f.expect({"node 'stray' (Relu) is not part of any layer"});
  // The relu fused into the Add removed from the graph (the Add feeds its QuantizeLinear directly):
  // ONNX Runtime would not clamp, the metadata says relu.
  auto *nodes = f.proto.mutable_graph()->mutable_node();
  for (int i = 0; i < nodes->size(); ++i)
    if (nodes->Get(i).op_type() == "Relu" && nodes->Get(i).input(0) == "l3_pre") {
      find_node(f.proto, "Add")->set_output(0, nodes->Get(i).output(0));
      nodes->DeleteSubrange(i, 1);
      break;
    }
  f.expect({"layer 3 (Add)", "the graph has no Add node computing 'l3_pre'"});
}
