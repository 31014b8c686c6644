// ONNX graphs that no qparity code wrote: the PyTorch-exported fixtures of tests/fixtures/pytorch
// (make_fixtures.py, torch.onnx.export at opsets 11, 13 and 17) import, run in FP32 as PyTorch ran
// them, quantize, and give the same bytes on both INT8 engines; graphs qparity cannot run are refused
// with the node, its op type and the fix.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/rng.h"
#include "data/image_folder.h"
#include "device/client.h"
#include "device/emulator.h"
#include "device/qp_proto.h"
#include "firmware/build.h"
#include "firmware/codegen.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "model/onnx_proto.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_onnx_util.h"
#include "test_util.h"

using namespace qp;
using namespace qp::model;

namespace {

std::string fixture(const std::string &name) { return std::string(QP_SOURCE_DIR) + "/tests/fixtures/pytorch/" + name; }

// make_fixtures.py's det_input: values in [0, 1) from an integer hash of (seed, flat index), exact in float32.
std::vector<float> det_input(uint64_t seed, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = (static_cast<uint64_t>(i) * 2654435761ull + (seed + 1) * 2654404609ull) & 0xFFFFFFFFull;
    v = ((v ^ (v >> 15)) * 2246822519ull) & 0xFFFFFFFFull;
    x[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(v >> 8) / 16777216.0);
  }
  return x;
}

nlohmann::json read_json(const std::string &path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

int count_ops(const Graph &g, Op op) {
  int n = 0;
  for (const auto &l : g.layers) n += l.op == op;
  return n;
}

struct Fixture {
  std::string name;
  Shape input;
  int opset;
};

const Fixture kFixtures[] = {
    {"resnet_small", {3, 32, 32}, 13},
    {"mobilenetv2_025", {3, 64, 64}, 17},
    {"squeezenet_fire", {3, 48, 48}, 11},
    {"clip_gap_gray", {1, 96, 96}, 13},
    {"resnet_small_logits", {3, 32, 32}, 13},
};

void expect_load_error(const std::string &path, const std::vector<std::string> &needles) {
  try {
    load_onnx(path);
    FAIL() << "expected an error loading " << path;
  } catch (const Error &e) {
    for (const auto &needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// clip_gap_gray's final x.view(N, -1): points its Reshape's shape input at `shape` and drops the
// Gather/Unsqueeze/Concat chain that computed it (and the Shape node unless keep_shape).
void redirect_reshape(onnx::ModelProto &m, const std::string &shape, bool keep_shape) {
  auto *g = m.mutable_graph();
  for (auto &n : *g->mutable_node())
    if (n.op_type() == "Reshape" && n.input(0) == "/gap/GlobalAveragePool_output_0") n.set_input(1, shape);
  const std::set<std::string> chain = {"/Gather_output_0",   "/Unsqueeze_output_0", "/Concat_output_0",
                                       "/Constant_8_output_0", "onnx::Unsqueeze_78",  "/Constant_9_output_0"};
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (const auto &n : g->node())
    if (!chain.count(n.output(0)) && (keep_shape || n.output(0) != "/Shape_output_0")) *kept.Add() = n;
  ASSERT_EQ(kept.size() + 6 + (keep_shape ? 0 : 1), g->node_size());
  g->mutable_node()->Swap(&kept);
}

}  // namespace

class OnnxImport : public ::testing::TestWithParam<Fixture> {};

TEST_P(OnnxImport, ImportsAndMatchesPyTorchWithin1e4) {
  const Fixture &fx = GetParam();
  const ModelFile mf = load_onnx(fixture(fx.name + ".onnx"));
  const auto expected = read_json(fixture(fx.name + ".expected.json"));
  EXPECT_EQ(mf.opset, fx.opset);
  EXPECT_EQ(mf.producer, "pytorch");
  EXPECT_EQ(mf.graph.input, fx.input);
  EXPECT_EQ(mf.graph.output(), (Shape{3, 1, 1}));
  const Fp32Executor exec(mf.graph);
  ASSERT_GE(expected["cases"].size(), 3u);
  for (const auto &c : expected["cases"]) {
    const auto x = det_input(c["seed"].get<uint64_t>(), fx.input.size());
    const auto y = exec.run(x.data());
    const auto want = c["output"].get<std::vector<double>>();
    ASSERT_EQ(y.size(), want.size());
    for (size_t k = 0; k < y.size(); ++k)
      EXPECT_NEAR(y[k], want[k], 1e-4 * std::max(1.0, std::fabs(want[k]))) << fx.name << " seed " << c["seed"] << " output " << k;
  }
}

// A fixture as exported, quantized on 6 random images at its size (labels only stratify the choice).
struct QuantizedFixture {
  ModelFile mf;
  data::Split split;
  quant::QModel q;
};

QuantizedFixture quantize_fixture(const Fixture &fx) {
  QuantizedFixture r;
  r.mf = load_onnx(fixture(fx.name + ".onnx"));
  data::Split &split = r.split;
  split.classes = {"rock", "paper", "scissors"};
  split.height = split.size = fx.input.h;
  split.width = fx.input.w;
  split.channels = fx.input.c;
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
  r.q = quant::quantize_graph(r.mf.graph, split, qo);
  return r;
}

TEST_P(OnnxImport, QuantizesAndBothInt8EnginesAgreeBitExactly) {
  const Fixture &fx = GetParam();
  // Quantized as exported: a graph that ends in logits (Gemm, ReduceMean) gives an INT8 model whose output is its
  // last layer's int8 tensor, one that ends in Softmax a softmax's probabilities.
  const QuantizedFixture qf = quantize_fixture(fx);
  const ModelFile &mf = qf.mf;
  const data::Split &split = qf.split;
  const quant::QModel &q = qf.q;
  EXPECT_EQ(q.outputs_logits(), mf.graph.layers.back().op != Op::Softmax) << fx.name;
  EXPECT_EQ(q.layers.back().out.size(), 3) << fx.name;
  const quant::Int8Engine ref(q, quant::Backend::Reference), opt(q, quant::Backend::Optimized);
  for (size_t i = 0; i < split.samples.size(); ++i) {
    std::vector<std::vector<int8_t>> tr, to;
    const auto a = ref.run(split.image(i), &tr), b = opt.run(split.image(i), &to);
    EXPECT_EQ(a, b) << fx.name << " image " << i;
    ASSERT_EQ(tr.size(), to.size());
    for (size_t l = 0; l < tr.size(); ++l) EXPECT_EQ(tr[l], to[l]) << fx.name << " image " << i << " layer " << l;
  }
}

// The graph's tensors keep the file's value names (read back from the file itself here): the input, the output, and
// each layer's output as the node that computes it names it, or the last node that passes it on unchanged (a layer
// qparity inserts, a Pad split off a conv, has none). Quantizing carries them onto the INT8 model, and its QDQ file keeps them.
TEST_P(OnnxImport, TensorsKeepTheFilesValueNames) {
  const Fixture &fx = GetParam();
  const onnx::ModelProto proto = test::read_proto(fixture(fx.name + ".onnx"));
  std::map<std::string, std::string> op_of;  // value name -> the op type of the node that writes it
  for (const auto &n : proto.graph().node())
    for (const auto &o : n.output()) op_of[o] = n.op_type();
  const std::string in_name = proto.graph().input(0).name(), out_name = proto.graph().output(0).name();
  const QuantizedFixture qf = quantize_fixture(fx);
  const Graph &g = qf.mf.graph;
  ASSERT_EQ(g.tensors.size(), g.layers.size() + 1);
  EXPECT_EQ(g.tensor_name(kGraphInput), in_name);
  EXPECT_EQ(g.tensor_name(static_cast<int>(g.layers.size()) - 1), out_name);
  size_t named = 0;
  for (size_t k = 0; k < g.layers.size(); ++k) {
    const std::string &n = g.tensor_name(static_cast<int>(k));
    if (n.empty()) continue;
    ++named;
    ASSERT_TRUE(op_of.count(n)) << fx.name << " layer " << k << ": '" << n << "' is no node's output";
    // The node's own output, or a later node that only aliases it (the last name wins: an all-zero Pad, an Identity).
    const std::string &op = op_of[n];
    const bool alias = op == "Pad" || op == "Identity" || op == "Dropout" || op == "Flatten" || op == "Reshape";
    if (g.layers[k].op == Op::Add) EXPECT_TRUE(op == "Add" || alias) << fx.name << " layer " << k << " " << op;
    if (g.layers[k].op == Op::Concat) EXPECT_TRUE(op == "Concat" || alias) << fx.name << " layer " << k << " " << op;
  }
  EXPECT_GE(named + static_cast<size_t>(count_ops(g, Op::Pad)), g.layers.size()) << fx.name;

  const quant::QModel &q = qf.q;
  EXPECT_EQ(q.tensor_name(model::kGraphInput), in_name);
  EXPECT_EQ(q.layers.back().q.name, out_name);
  for (const auto &l : q.layers)
    if (!l.q.name.empty()) EXPECT_TRUE(op_of.count(l.q.name)) << fx.name << " '" << l.q.name << "'";
  test::TempDir dir;
  const std::string path = (dir / "q.onnx").string();
  quant::save_qdq_onnx(q, path);
  const quant::QModelFile back = quant::load_qdq_onnx(path);
  EXPECT_EQ(back.model.tensor_name(model::kGraphInput), q.tensor_name(model::kGraphInput));
  ASSERT_EQ(back.model.layers.size(), q.layers.size());
  for (size_t k = 0; k < q.layers.size(); ++k) EXPECT_EQ(back.model.layers[k].q.name, q.layers[k].q.name) << fx.name << " " << k;
}

INSTANTIATE_TEST_SUITE_P(PyTorchFixtures, OnnxImport, ::testing::ValuesIn(kFixtures),
                         [](const auto &info) { return info.param.name; });

// Each quantized fixture on both emulated boards: the firmware's int8 outputs and every node's output (TRACE CRCs)
// equal the host reference engine's. The 64x64x3, 48x48x3 and 96x96x1 inputs are larger than one protocol frame
// (uploaded in IMAGE chunks); MobileNetV2 has more than 32 nodes.
struct OnBoard {
  Fixture fx;
  std::string target, qemu;
};

class FixtureOnBoard : public ::testing::TestWithParam<OnBoard> {};

bool have_exe(const std::string &exe) { return std::system(("command -v " + exe + " >/dev/null 2>&1").c_str()) == 0; }

TEST_P(FixtureOnBoard, OutputsAndEveryNodeEqualTheHost) {
  const OnBoard &b = GetParam();
  if (!have_exe(b.qemu)) GTEST_SKIP() << b.qemu << " not installed";
  const QuantizedFixture qf = quantize_fixture(b.fx);
  const quant::QModel &q = qf.q;
  const quant::Int8Engine engine(q, quant::Backend::Reference);
  test::TempDir dir;
  const auto files = firmware::generate_project(firmware::find_target(b.target), q, std::string(64, 'f'), {}, nullptr,
                                                firmware::Kernels::Mcu);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = b.target;
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  EXPECT_EQ(client.wait_ready(60000).layers, static_cast<int>(q.layers.size()));
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<uint8_t> img(qf.split.image(i), qf.split.image(i) + qf.split.image_bytes());
    std::vector<std::vector<int8_t>> trace;
    const auto want = engine.run(img.data(), &trace);
    EXPECT_EQ(client.infer(img).scores, want) << b.fx.name << " image " << i;
    const auto t = client.trace(img);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k)
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()),
                                         static_cast<uint32_t>(trace[k].size())))
          << b.fx.name << " image " << i << " node " << k;
  }
}

const OnBoard kOnBoard[] = {
    {kFixtures[0], "qemu-rv32", "qemu-system-riscv32"}, {kFixtures[1], "qemu-rv32", "qemu-system-riscv32"},
    {kFixtures[2], "qemu-rv32", "qemu-system-riscv32"}, {kFixtures[3], "qemu-rv32", "qemu-system-riscv32"},
    {kFixtures[0], "qemu-xtensa", "qemu-system-xtensa"}, {kFixtures[1], "qemu-xtensa", "qemu-system-xtensa"},
    {kFixtures[2], "qemu-xtensa", "qemu-system-xtensa"}, {kFixtures[3], "qemu-xtensa", "qemu-system-xtensa"},
};

INSTANTIATE_TEST_SUITE_P(PyTorchFixtures, FixtureOnBoard, ::testing::ValuesIn(kOnBoard), [](const auto &info) {
  std::string t = info.param.target.substr(5);  // rv32, xtensa
  return info.param.fx.name + "_" + t;
});

// What each exported graph becomes: the layers the importer maps PyTorch's patterns to.
TEST(OnnxImport, MapsExportedPatternsToLayers) {
  const Graph res = load_onnx(fixture("resnet_small.onnx")).graph;
  EXPECT_EQ(count_ops(res, Op::Add), 3);      // residual Adds
  EXPECT_EQ(count_ops(res, Op::BatchNorm), 0);  // PyTorch folded BatchNorm into the convs while exporting
  EXPECT_EQ(count_ops(res, Op::Softmax), 1);
  EXPECT_EQ(count_ops(res, Op::Flatten), 0);  // Flatten of GlobalAveragePool absorbed
  EXPECT_EQ(count_ops(res, Op::Pad), 2);      // stride-2 3x3 convs with PyTorch's symmetric pads: Pad + valid Conv

  const Graph mb = load_onnx(fixture("mobilenetv2_025.onnx")).graph;
  EXPECT_GT(count_ops(mb, Op::DepthwiseConv2D), 10);
  EXPECT_EQ(count_ops(mb, Op::ReLU6), 35);  // Clip(0, 6) with bounds as inputs (opset 17)
  EXPECT_EQ(count_ops(mb, Op::Add), 11);

  const Graph sq = load_onnx(fixture("squeezenet_fire.onnx")).graph;
  EXPECT_EQ(count_ops(sq, Op::Concat), 3);
  EXPECT_EQ(count_ops(sq, Op::GlobalAvgPool), 1);  // ReduceMean over H, W (keepdims 0)
  EXPECT_EQ(count_ops(sq, Op::Pad), 0);            // an all-zero Pad (AvgPool2d at opset 11) is dropped
  EXPECT_EQ(sq.layers.back().op, Op::GlobalAvgPool);

  const Graph gr = load_onnx(fixture("clip_gap_gray.onnx")).graph;
  EXPECT_EQ(gr.input.c, 1);
  EXPECT_EQ(count_ops(gr, Op::ReLU), 0);  // Relu + Clip(0, 6) (PyTorch's relu6) is one ReLU6
  EXPECT_EQ(count_ops(gr, Op::ReLU6), 4);
  EXPECT_EQ(count_ops(gr, Op::Pad), 2);  // ZeroPad2d (pads computed by a folded Slice/Transpose/Reshape chain), conv3's pads
  EXPECT_EQ(count_ops(gr, Op::Flatten), 0);   // x.view(N, -1): Shape->Gather->Unsqueeze->Concat->Reshape folded
  EXPECT_EQ(gr.layers.back().op, Op::Dense);

  const Graph lg = load_onnx(fixture("resnet_small_logits.onnx")).graph;  // resnet_small without its softmax
  EXPECT_EQ(count_ops(lg, Op::Softmax), 0);
  EXPECT_EQ(lg.layers.back().op, Op::Dense);
  EXPECT_EQ(lg.layers.size() + 1, res.layers.size());
}

// Graphs qparity cannot run: the node, its op type and the fix.
TEST(OnnxImport, RefusesUnsupportedOpsAndDynamicReshapesByName) {
  test::TempDir t;
  const std::string base = fixture("clip_gap_gray.onnx");
  {  // an unsupported op: Relu -> Sigmoid
    auto m = test::read_proto(base);
    for (auto &n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == "Relu") {
        n.set_op_type("Sigmoid");
        break;
      }
    test::write_proto(m, (t / "sigmoid.onnx").string());
    expect_load_error((t / "sigmoid.onnx").string(), {"node '/Relu'", "(Sigmoid)", "not supported", "ReLU6"});
  }
  {  // a Reshape to a 4-D shape: Reshape(x, Shape(x)) folds to [N,16,1,1], which is not a flatten
    auto m = test::read_proto(base);
    redirect_reshape(m, "/Shape_output_0", true);
    test::write_proto(m, (t / "reshape4.onnx").string());
    expect_load_error((t / "reshape4.onnx").string(), {"node '/Reshape' (Reshape)", "Reshape to [N,16,1,1]", "torch.flatten(x, 1)"});
  }
  {  // a dynamic reshape that cannot be folded: its shape is computed from the image
    auto m = test::read_proto(base);
    redirect_reshape(m, "/Clip_3_output_0", false);
    test::write_proto(m, (t / "dynamic.onnx").string());
    expect_load_error((t / "dynamic.onnx").string(),
                      {"node '/Reshape' (Reshape)", "computed from the image", "do_constant_folding=True"});
  }
  {  // opset 9: re-export
    auto m = test::read_proto(base);
    m.mutable_opset_import(0)->set_version(9);
    test::write_proto(m, (t / "opset9.onnx").string());
    expect_load_error((t / "opset9.onnx").string(), {"opset 9", "opset_version=13"});
  }
  {  // a general Clip(-1, 1): not ReLU6
    auto m = test::read_proto(fixture("mobilenetv2_025.onnx"));
    auto *g = m.mutable_graph();
    std::string lo;
    for (const auto &n : g->node())
      if (n.op_type() == "Clip") {
        lo = n.input(1);
        break;
      }
    for (auto &n : *g->mutable_node())
      if (n.op_type() == "Constant" && n.output(0) == lo) {
        auto *tp = n.mutable_attribute(0)->mutable_t();
        const float v = -1.f;
        tp->clear_float_data();
        tp->set_raw_data(std::string(reinterpret_cast<const char *>(&v), 4));
      }
    test::write_proto(m, (t / "clip.onnx").string());
    expect_load_error((t / "clip.onnx").string(), {"(Clip)", "Clip(-1.0", "nn.ReLU6"});
  }
}

// A fixture quantized through qparity's QDQ writer reads back to the same integers (explicit Pad layers included).
TEST(OnnxImport, ReWrittenByQparityReadsBackTheSameGraph) {
  test::TempDir t;
  Graph g = load_onnx(fixture("resnet_small.onnx")).graph;
  g.classes = {"rock", "paper", "scissors"};
  const std::string path = (t / "again.onnx").string();
  save_onnx(g, path);
  const Graph h = load_onnx(path).graph;
  ASSERT_EQ(h.layers.size(), g.layers.size());
  const Fp32Executor a(g), b(h);
  const auto x = det_input(5, g.input.size());
  EXPECT_EQ(a.run(x.data()), b.run(x.data()));
}
