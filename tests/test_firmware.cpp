// Firmware generation and the emulated boards: the generated C against a checked-in golden file, the
// memory planner's invariants, cross builds with -Werror for both emulated targets, the float/heap and
// budget checks, bit-exact outputs on qemu-rv32 and qemu-xtensa (every layer, via TRACE CRCs), the
// HELLO model-hash check, and the boot self-test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "common/error.h"
#include "data/synth.h"
#include "device/client.h"
#include "device/device_engine.h"
#include "device/emulator.h"
#include "device/qp_proto.h"
#include "device/runner.h"
#include "device/triage.h"
#include "firmware/build.h"
#include "firmware/codegen.h"
#include "firmware/firmware.h"
#include "model/onnx_io.h"
#include "quant/input_map.h"
#include "quant/labels.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"
#include "verify/verify.h"

using namespace qp;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A hand-built tiny INT8 model: conv 3x3 (3 -> 2, ReLU) on 4x4, max pool 2, flatten, dense 8 -> 3,
// softmax. Its integers are fixed here, so its generated C is a stable golden file.
quant::QModel tiny_model() {
  using model::Op;
  quant::QModel m;
  m.classes = {"rock", "paper", "scissors"};
  m.input = {3, 4, 4};
  quant::QLayer conv;
  conv.op = Op::Conv2D;
  conv.q.activation = "relu";
  conv.in = {3, 4, 4};
  conv.out = {2, 4, 4};
  conv.kernel = 3;
  conv.pad_top = conv.pad_left = 1;
  conv.q.input = {1.0 / 255.0, -128};
  conv.q.output = {0.05f, -128};
  for (int i = 0; i < 2 * 3 * 3 * 3; ++i) conv.q.weight.push_back(static_cast<int8_t>((i * 37) % 255 - 127));
  conv.q.weight_scale = {0.004f, 0.003f};
  conv.q.bias = {120, -340};
  quant::derive_requantization(conv);
  quant::QLayer pool;
  pool.op = Op::MaxPool;
  pool.in = conv.out;
  pool.out = {2, 2, 2};
  pool.kernel = pool.stride = 2;
  pool.q.input = pool.q.output = conv.q.output;
  quant::QLayer flat;
  flat.op = Op::Flatten;
  flat.in = pool.out;
  flat.out = {8, 1, 1};
  flat.q.input = flat.q.output = conv.q.output;
  quant::QLayer dense;
  dense.op = Op::Dense;
  dense.in = flat.out;
  dense.out = {3, 1, 1};
  dense.q.input = conv.q.output;
  dense.q.output = {0.1f, 3};
  for (int i = 0; i < 24; ++i) dense.q.weight.push_back(static_cast<int8_t>((i * 53) % 200 - 100));
  dense.q.weight_scale = {0.01f, 0.012f, 0.008f};
  dense.q.bias = {-50, 75, 10};
  quant::derive_requantization(dense);
  quant::QLayer sm;
  sm.op = Op::Softmax;
  sm.in = sm.out = dense.out;
  sm.q.input = dense.q.output;
  sm.q.output = {1.0 / 256.0, -128};
  quant::derive_requantization(sm);
  m.layers = {conv, pool, flat, dense, sm};
  return m;
}

// A hand-built tiny residual INT8 model on 4x4x3: conv 3x3 (3 -> 4, ReLU), conv 3x3 (4 -> 4, Winograd on
// the MCU), add (ReLU) of the two, conv 1x1 (4 -> 2) of the sum, concat of the sum and that conv (one
// part copied, one requantized), max pool 2, global average pool, dense 6 -> 3, softmax.
quant::QModel tiny_residual_model() {
  using model::Op;
  quant::QModel m;
  m.classes = {"rock", "paper", "scissors"};
  m.input = {3, 4, 4};
  auto conv = [](int in_c, int out_c, int kernel, const std::string &act, quant::QParams out, int seed) {
    quant::QLayer l;
    l.op = Op::Conv2D;
    l.q.activation = act;
    l.in = {in_c, 4, 4};
    l.out = {out_c, 4, 4};
    l.kernel = kernel;
    l.pad_top = l.pad_left = kernel / 2;
    l.q.output = out;
    for (int i = 0; i < out_c * kernel * kernel * in_c; ++i) l.q.weight.push_back(static_cast<int8_t>((i * seed) % 255 - 127));
    for (int c = 0; c < out_c; ++c) {
      l.q.weight_scale.push_back(0.003f + 0.001f * static_cast<float>(c));
      l.q.bias.push_back((c * seed) % 400 - 200);
    }
    return l;
  };
  quant::QLayer c0 = conv(3, 4, 3, "relu", {0.05f, -128}, 37), c1 = conv(4, 4, 3, "", {0.04f, 5}, 41);
  c1.inputs = {0};
  quant::QLayer add;
  add.op = Op::Add;
  add.q.activation = "relu";
  add.in = add.out = c0.out;
  add.inputs = {0, 1};
  add.q.output = {0.06f, -128};
  quant::QLayer c3 = conv(4, 2, 1, "", {0.03f, -10}, 29);
  c3.inputs = {2};
  quant::QLayer cat;
  cat.op = Op::Concat;
  cat.in = add.out;
  cat.out = {6, 4, 4};
  cat.inputs = {2, 3};
  cat.q.output = add.q.output;
  quant::QLayer pool;
  pool.op = Op::MaxPool;
  pool.in = cat.out;
  pool.out = {6, 2, 2};
  pool.kernel = pool.stride = 2;
  pool.q.output = cat.q.output;
  quant::QLayer gap;
  gap.op = Op::GlobalAvgPool;
  gap.in = pool.out;
  gap.out = {6, 1, 1};
  gap.q.output = cat.q.output;
  quant::QLayer dense;
  dense.op = Op::Dense;
  dense.in = gap.out;
  dense.out = {3, 1, 1};
  dense.q.output = {0.1f, 3};
  for (int i = 0; i < 18; ++i) dense.q.weight.push_back(static_cast<int8_t>((i * 53) % 200 - 100));
  dense.q.weight_scale = {0.01f, 0.012f, 0.008f};
  dense.q.bias = {-50, 75, 10};
  quant::QLayer sm;
  sm.op = Op::Softmax;
  sm.in = sm.out = dense.out;
  sm.q.output = {1.0 / 256.0, -128};
  m.layers = {c0, c1, add, c3, cat, pool, gap, dense, sm};
  quant::normalize(m);
  for (auto &l : m.layers) quant::derive_requantization(l);
  return m;
}

const std::string kSha(64, 'a');

bool have(const char *exe) { return std::system((std::string("command -v ") + exe + " >/dev/null 2>&1").c_str()) == 0; }

// A quantized rps-cnn (random weights, calibrated on a small synthetic set), saved as QDQ ONNX.
struct Int8Fixture {
  test::TempDir dir;
  std::string model_path, other_model_path;
  data::Split test_split;
  quant::QModelFile mf;
  Int8Fixture() {
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 30;
    so.test = 8;
    data::synth_dataset(so);
    data::LoadOptions lo;
    const auto train = data::load_split((dir / "d/train").string(), lo);
    test_split = data::load_split((dir / "d/test").string(), lo);
    auto g = model::graph_from_spec("rps-cnn", data::synth_class_names(), {3, 32, 32});
    model::init_random(g, 11);
    model::fold_for_inference(g);
    quant::QuantOptions qo;
    qo.calib_count = 30;
    model_path = (dir / "int8.onnx").string();
    quant::save_qdq_onnx(quant::quantize_graph(g, train, qo), model_path);
    model::init_random(g, 12);
    other_model_path = (dir / "other.onnx").string();
    quant::save_qdq_onnx(quant::quantize_graph(g, train, qo), other_model_path);
    mf = quant::load_qdq_onnx(model_path);
  }
};

// Boots a firmware, checks HELLO, and compares every image's scores and every layer's CRC with the host.
void expect_bit_exact_on(const std::string &target) {
  if (!have(target == "qemu-rv32" ? "qemu-system-riscv32" : "qemu-system-xtensa"))
    GTEST_SKIP() << "QEMU for " << target << " is not installed (scripts/install-deps.sh build installs it)";
  Int8Fixture fx;
  firmware::FirmwareOptions fo;
  fo.model = fx.model_path;
  fo.target = target;
  fo.out = (fx.dir / "fw").string();
  const auto fw = firmware::make_firmware(fo);
  ASSERT_FALSE(fw.elf.empty());
  EXPECT_TRUE(fw.footprint.float_symbols.empty());
  EXPECT_GT(fw.footprint.weights_bytes, 89000u);  // rps-cnn's int8 weights + int32 biases/multipliers are in flash

  device::EmulatorOptions eo;
  eo.target = target;
  eo.elf = fw.elf;
  eo.workdir = (fx.dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  const auto hello = client.wait_ready(60000);
  EXPECT_EQ(hello.model_hash, fx.mf.sha256);
  EXPECT_EQ(hello.target, target);
  EXPECT_EQ(hello.layers, static_cast<int>(fx.mf.model.layers.size()));
  EXPECT_EQ(hello.arena_bytes, fw.plan.arena_bytes);

  quant::Int8Engine engine(fx.mf.model, quant::Backend::Reference);
  const size_t bytes = 32 * 32 * 3;
  int images = 0;
  for (size_t i = 0; i < fx.test_split.samples.size(); ++i) {
    std::vector<uint8_t> rgb(fx.test_split.image(i), fx.test_split.image(i) + bytes);
    std::vector<std::vector<int8_t>> trace;
    const auto host = engine.run(rgb.data(), &trace);
    const auto dev = client.infer(rgb);
    ASSERT_EQ(dev.scores, host) << "image " << i;
    EXPECT_EQ(dev.pred, static_cast<int>(std::max_element(host.begin(), host.end()) - host.begin()));
    const auto t = client.trace(rgb);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k) {
      EXPECT_EQ(t.size[k], trace[k].size()) << "layer " << k;
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()), static_cast<uint32_t>(trace[k].size())))
          << "image " << i << " layer " << k;
    }
    ++images;
  }
  // Random pixels as well: the whole input range.
  for (uint64_t s = 0; s < 12; ++s) {
    const auto img = test::random_image(32, 32, 100 + s);
    const auto host = engine.run(img.pixels.data());
    EXPECT_EQ(client.infer(img.pixels).scores, host);
    ++images;
  }
  EXPECT_GE(images, 20);
  // One layer's full output, fetched in chunks.
  std::vector<uint8_t> rgb(fx.test_split.image(0), fx.test_split.image(0) + bytes);
  std::vector<std::vector<int8_t>> trace;
  engine.run(rgb.data(), &trace);
  EXPECT_EQ(client.layer_output(rgb, 0, static_cast<uint32_t>(trace[0].size())), trace[0]);
}

// A small untrained residual + concat model (identity and strided projection shortcuts, a concat of three
// branches with different scales, one the identity), calibrated on a few synthetic images.
const char *const kResidualSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu add{ conv3x3s2(12) relu conv3x3(12) | conv1x1s2(12) } relu "
    "concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 gap dense(K) softmax";

// MobileNet-style: depthwise 3x3 (stride 1 and 2, 'same' and 'valid', 12, 16 and 13 channels: a block of
// fewer than 4), pointwise 1x1, a depthwise residual Add, global average pooling.
const char *const kDepthwiseSpec =
    "conv3x3s2(12) relu6 dwconv3x3 relu6 conv1x1(16) relu6 add{ dwconv3x3 relu6 conv1x1(16) | } dwconv3x3s2 relu6 "
    "conv1x1(13) relu dwconv3x3 relu6 dwconv3x3valid gap dense(K) softmax";

quant::QModel residual_qmodel(const test::TempDir &dir, int size, const char *spec = kResidualSpec) {
  return test::quantized_random_model(dir, spec, size, 21);
}

// Generates and builds the firmware for the residual model (one kernel set), boots it, and compares
// every node's output (TRACE CRCs), the scores and two fetched layer outputs (an Add, a Concat) with the host.
void expect_residual_bit_exact_on(const std::string &target, firmware::Kernels kernels, const char *spec = kResidualSpec,
                                  int size = 16) {
  if (!have(target == "qemu-rv32" ? "qemu-system-riscv32" : "qemu-system-xtensa"))
    GTEST_SKIP() << "QEMU for " << target << " is not installed (scripts/install-deps.sh build installs it)";
  test::TempDir dir;
  const auto m = residual_qmodel(dir, size, spec);
  ASSERT_LE(m.layers.size(), 32u);
  const quant::Int8Engine engine(m, quant::Backend::Reference);
  {
    const std::string name = kernels == firmware::Kernels::Mcu ? "mcu" : "reference";
    firmware::MemoryPlan plan;
    const auto files = firmware::generate_project(firmware::find_target(target), m, kSha, {}, &plan, kernels);
    if (kernels == firmware::Kernels::Mcu) {  // the MCU variants are what the descriptors name
      std::string pkg;
      for (const auto &[rel, content] : files)
        if (rel.ends_with("qp_model.c")) pkg = content;
      for (const auto &l : m.layers) {
        if (l.op == model::Op::DepthwiseConv2D) {
          EXPECT_NE(pkg.find("{QP_NODE_DWCONV_MCU,"), std::string::npos);
        }
        if (l.op == model::Op::Add) {
          EXPECT_NE(pkg.find("{QP_NODE_ADD_MCU,"), std::string::npos);
        }
      }
    }
    firmware::write_project(files, (dir / ("fw-" + name)).string(), false);
    const std::string elf = firmware::build_firmware((dir / ("fw-" + name)).string());
    device::EmulatorOptions eo;
    eo.target = target;
    eo.elf = elf;
    eo.workdir = (dir / ("logs-" + name)).string();
    eo.icount = false;
    device::Emulator emu(eo);
    device::Client client(emu.stream());
    const auto hello = client.wait_ready(60000);
    EXPECT_EQ(hello.layers, static_cast<int>(m.layers.size()));
    EXPECT_EQ(hello.arena_bytes, plan.arena_bytes);
    EXPECT_LT(plan.arena_bytes, plan.naive_bytes);
    for (uint64_t s = 0; s < 4; ++s) {
      const auto img = test::random_image(size, size, 300 + s);
      std::vector<std::vector<int8_t>> trace;
      const auto host = engine.run(img.pixels.data(), &trace);
      EXPECT_EQ(client.infer(img.pixels).scores, host) << name << " image " << s;
      const auto t = client.trace(img.pixels);
      ASSERT_EQ(t.crc.size(), trace.size());
      for (size_t k = 0; k < trace.size(); ++k) {
        EXPECT_EQ(t.size[k], trace[k].size()) << name << " layer " << k;
        const auto *bytes = reinterpret_cast<const uint8_t *>(trace[k].data());
        EXPECT_EQ(t.crc[k], qp_proto_crc32(0, bytes, static_cast<uint32_t>(trace[k].size())))
            << name << " image " << s << " layer " << k << " (" << model::op_name(m.layers[k].op) << ")";
      }
      if (s == 0) {
        for (size_t k = 0; k < m.layers.size(); ++k) {
          if (m.layers[k].op != model::Op::Add && m.layers[k].op != model::Op::Concat) continue;
          EXPECT_EQ(client.layer_output(img.pixels, static_cast<int>(k), static_cast<uint32_t>(trace[k].size())), trace[k])
              << name << " layer " << k;
        }
      }
    }
  }
}

}  // namespace

TEST(Firmware, GeneratedModelMatchesGoldenFile) {
  const fs::path golden = fs::path(QP_SOURCE_DIR) / "tests/golden";
  // tiny_*: the chain model; tiny_residual_*: the residual model (Add, Concat, a shortcut kept alive).
  for (const std::string name : {"qp_model.h", "qp_model.c", "reference/qp_model.c", "residual/qp_model.c"}) {
    const auto kernels = name.starts_with("reference/") ? firmware::Kernels::Reference : firmware::Kernels::Mcu;
    const auto model = name.starts_with("residual/") ? tiny_residual_model() : tiny_model();
    const auto files = firmware::generate_model_package(model, kSha, {}, nullptr, kernels);
    const std::string got = files.at(name.substr(name.find('/') + 1));
    // Version-independent: the provenance line names the generator version.
    const std::string norm = std::regex_replace(got, std::regex("qparity [0-9.]+ "), "qparity X ");
    std::string file = name;
    std::replace(file.begin(), file.end(), '/', '_');
    if (std::getenv("QP_UPDATE_GOLDEN")) {
      std::ofstream(golden / ("tiny_" + file), std::ios::binary) << norm;
      continue;
    }
    EXPECT_EQ(norm, read_text(golden / ("tiny_" + file)))
        << name << " differs from tests/golden/tiny_" << file << " (if the change is intended: QP_UPDATE_GOLDEN=1 core_tests)";
  }
}

// Triage in a graph: nodes that read more than the layer before them name their producers, and a node
// perturbed on a branch is named even though the Add/Concat after it (and everything downstream) differs too.
TEST(Firmware, TriageNamesTheDivergingNodeOfAResidualGraph) {
  const auto m = tiny_residual_model();
  const auto names = verify::trace_layer_names(m);
  ASSERT_EQ(names.size(), 9u);
  EXPECT_EQ(names[1], "1 Conv2D");
  EXPECT_EQ(names[2], "2 Add+relu <- 0,1");
  EXPECT_EQ(names[3], "3 Conv2D");
  EXPECT_EQ(names[4], "4 Concat <- 2,3");
  const auto img = test::random_image(4, 4, 7);
  std::vector<std::vector<int8_t>> host;
  quant::Int8Engine(m, quant::Backend::Reference).run(img.pixels.data(), &host);
  for (const size_t k : {size_t{1}, size_t{3}}) {
    auto dev = host;
    dev[k][2] = static_cast<int8_t>(dev[k][2] ^ 0x20);
    for (size_t later = k + 1; later < dev.size(); ++later) dev[later][0] = static_cast<int8_t>(dev[later][0] ^ 0x01);
    std::vector<uint32_t> sizes, crcs;
    for (const auto &t : dev) {
      sizes.push_back(static_cast<uint32_t>(t.size()));
      crcs.push_back(qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(t.data()), static_cast<uint32_t>(t.size())));
    }
    std::vector<int> fetched;
    const auto r = verify::compare_trace_crcs(host, sizes, crcs, names, [&](int l) {
      fetched.push_back(l);
      return dev[static_cast<size_t>(l)];
    });
    EXPECT_EQ(r.layer, static_cast<int>(k));
    EXPECT_EQ(r.layer_name, names[k]);
    EXPECT_EQ(r.max_abs_diff, 32);
    EXPECT_EQ(r.first_index, 2u);
    EXPECT_EQ(fetched, std::vector<int>{static_cast<int>(k)});
    EXPECT_EQ(verify::compare_traces(host, dev, names).layer, static_cast<int>(k));
  }
}

TEST(Firmware, GenerationIsDeterministicAndMarksProvenance) {
  Int8Fixture fx;
  const auto t = firmware::find_target("esp32s3");
  const auto a = firmware::generate_project(t, fx.mf.model, fx.mf.sha256, {});
  const auto b = firmware::generate_project(t, fx.mf.model, fx.mf.sha256, {});
  EXPECT_EQ(a, b);
  for (const char *f : {"CMakeLists.txt", "main/CMakeLists.txt", "sdkconfig.defaults", "README.md", "main/qp_model.c",
                        "main/qp_conv_s8.c", "main/qp_app.c", "main/qp_graph.c", "main/qp_bsp_esp_idf.c", "arduino/qparity/qparity.ino"}) {
    ASSERT_TRUE(a.count(f)) << f;
    EXPECT_NE(a.at(f).find(fx.mf.sha256), std::string::npos) << f << " lacks the provenance line";
  }
  EXPECT_NE(a.at("sdkconfig.defaults").find("CONFIG_IDF_TARGET=\"esp32s3\""), std::string::npos);
  EXPECT_THROW(firmware::find_target("esp8266"), Error);
  // No float anywhere in the generated model.
  const std::regex fl("\\b(float|double)\\b");
  EXPECT_FALSE(std::regex_search(a.at("main/qp_model.c"), fl));
  // Only data: no kernel call and no function in the generated model (the layer loop is qp_graph.c).
  EXPECT_FALSE(std::regex_search(a.at("main/qp_model.c"), std::regex("_s8\\(|\\)\\s*\\{")));
  EXPECT_NE(a.at("main/qp_model.c").find("const qp_node_t qp_model_nodes[QP_MODEL_LAYERS]"), std::string::npos);
}

TEST(Firmware, MemoryPlanNeverOverlapsLiveTensors) {
  for (const char *arch : {"rps-cnn", "rps-mobile"}) {
    auto g = model::graph_from_spec(arch, {"a", "b", "c"}, {3, 32, 32});
    model::init_random(g, 3);
    model::fold_for_inference(g);
    test::TempDir dir;
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 6;
    so.test = 3;
    data::synth_dataset(so);
    data::LoadOptions lo;
    const auto split = data::load_split((dir / "d/train").string(), lo);
    quant::QuantOptions qo;
    qo.calib_count = 6;
    const auto m = quant::quantize_graph(g, split, qo);
    const auto p = firmware::plan_memory(m);
    // Layer k reads tensor in(k) and writes tensor out(k): the two never overlap, and every tensor fits.
    int cur = 0;
    size_t max_pair = 0;
    for (size_t k = 0; k < m.layers.size(); ++k) {
      const int out = p.layer_tensor[k];
      if (out != cur) {
        const auto a0 = p.tensor_offset[static_cast<size_t>(cur)], a1 = a0 + p.tensor_bytes[static_cast<size_t>(cur)];
        const auto b0 = p.tensor_offset[static_cast<size_t>(out)], b1 = b0 + p.tensor_bytes[static_cast<size_t>(out)];
        EXPECT_TRUE(a1 <= b0 || b1 <= a0) << arch << " layer " << k;
        max_pair = std::max<size_t>(max_pair, p.tensor_bytes[static_cast<size_t>(cur)] + p.tensor_bytes[static_cast<size_t>(out)]);
      }
      EXPECT_LE(p.tensor_offset[static_cast<size_t>(out)] + p.tensor_bytes[static_cast<size_t>(out)], p.arena_bytes);
      // The MCU kernels' scratch overlaps neither the layer's input nor its output.
      if (const int sc = p.layer_scratch[k]; sc >= 0) {
        const auto s0 = p.tensor_offset[static_cast<size_t>(sc)], s1 = s0 + p.tensor_bytes[static_cast<size_t>(sc)];
        for (int t : {cur, out}) {
          const auto t0 = p.tensor_offset[static_cast<size_t>(t)], t1 = t0 + p.tensor_bytes[static_cast<size_t>(t)];
          EXPECT_TRUE(s1 <= t0 || t1 <= s0) << arch << " layer " << k << " scratch";
        }
        EXPECT_LE(s1, p.arena_bytes);
      }
      cur = out;
    }
    EXPECT_GE(p.arena_bytes, max_pair);
    EXPECT_LT(p.arena_bytes, p.naive_bytes);
    if (std::string(arch) == "rps-cnn") {
      EXPECT_LE(p.arena_bytes, 20u * 1024u);  // the issue's arena target
    }
  }
}

TEST(Firmware, RefusesToOverwriteAUsersFolder) {
  test::TempDir dir;
  fs::create_directories(dir / "mine");
  std::ofstream(dir / "mine/notes.txt") << "keep";
  const auto files = firmware::generate_model_package(tiny_model(), kSha, {});
  EXPECT_THROW(firmware::write_project(files, (dir / "mine").string(), true), Error);
  EXPECT_EQ(read_text(dir / "mine/notes.txt"), "keep");
  firmware::write_project(files, (dir / "fw").string(), false);
  EXPECT_THROW(firmware::write_project(files, (dir / "fw").string(), false), Error);  // exists: needs force
  firmware::write_project(files, (dir / "fw").string(), true);
  EXPECT_TRUE(fs::exists(dir / "fw/qp_model.c"));
}

TEST(FirmwareBuild, QemuRv32IsBitExactToTheHost) { expect_bit_exact_on("qemu-rv32"); }

TEST(FirmwareBuild, QemuXtensaIsBitExactToTheHost) { expect_bit_exact_on("qemu-xtensa"); }

TEST(FirmwareBuild, QemuRv32RunsAResidualModelBitExact) { expect_residual_bit_exact_on("qemu-rv32", firmware::Kernels::Mcu); }

TEST(FirmwareBuild, QemuXtensaRunsAResidualModelBitExact) { expect_residual_bit_exact_on("qemu-xtensa", firmware::Kernels::Mcu); }

// The MCU depthwise, pointwise and ADD kernels (QP_NODE_DWCONV_MCU, QP_NODE_ADD_MCU) on both boards.
TEST(FirmwareBuild, QemuRv32RunsADepthwiseModelBitExact) {
  expect_residual_bit_exact_on("qemu-rv32", firmware::Kernels::Mcu, kDepthwiseSpec, 24);
}

TEST(FirmwareBuild, QemuXtensaRunsADepthwiseModelBitExact) {
  expect_residual_bit_exact_on("qemu-xtensa", firmware::Kernels::Mcu, kDepthwiseSpec, 24);
}

TEST(FirmwareBuild, QemuRv32RunsAResidualModelBitExactOnReferenceKernels) {
  expect_residual_bit_exact_on("qemu-rv32", firmware::Kernels::Reference);
}

TEST(FirmwareBuild, FloatHeapAndBudgetChecksFailTheBuild) {
  if (!have("riscv64-unknown-elf-gcc") || !have("xtensa-lx106-elf-gcc")) GTEST_SKIP() << "cross compilers not installed";
  Int8Fixture fx;
  for (const std::string target : {"qemu-rv32", "qemu-xtensa"}) {
    firmware::FirmwareOptions fo;
    fo.model = fx.model_path;
    fo.target = target;
    fo.out = (fx.dir / ("fw-" + target)).string();
    fo.build = false;
    firmware::make_firmware(fo);
    // Each bad build must fail with its reason in the message; a bad source is removed afterwards.
    auto expect_build_fails = [&](const std::string &bad_file, const std::string &source, const std::string &make_args,
                                  const std::string &reason) {
      if (!bad_file.empty()) std::ofstream(fs::path(fo.out) / bad_file) << source;
      try {
        firmware::build_firmware(fo.out, make_args);
        ADD_FAILURE() << target << ": a build that must fail (" << reason << ") linked";
      } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
      }
      if (!bad_file.empty()) fs::remove(fs::path(fo.out) / bad_file);
    };
    // Float (kept by the linker) fails with the integer-only message, a heap allocator with the heap
    // message, a RAM budget below the arena with the budget message.
    expect_build_fails("bad_float.c",
                       "float qp_bad_float(float a, float b);\nfloat qp_bad_float(float a, float b) { return a / b + 1.5f; }\n",
                       "EXTRA_LDFLAGS=-Wl,--undefined=qp_bad_float", "integer-only");
    expect_build_fails("bad_heap.c", "#include <stdlib.h>\nvoid *qp_bad_heap(void);\nvoid *qp_bad_heap(void) { return malloc(16); }\n",
                       "EXTRA_LDFLAGS=-Wl,--undefined=qp_bad_heap", "heap");
    expect_build_fails("", "", "RAM_SIZE=16K", "budget");
    // And the clean build passes.
    EXPECT_NO_THROW(firmware::build_firmware(fo.out, "RAM_SIZE=320K"));
  }
}

TEST(FirmwareBuild, DeviceRunRejectsFirmwareOfAnotherModel) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  Int8Fixture fx;
  firmware::FirmwareOptions fo;
  fo.model = fx.other_model_path;
  fo.target = "qemu-rv32";
  fo.out = (fx.dir / "fw-other").string();
  const auto fw = firmware::make_firmware(fo);
  device::RunOptions ro;
  ro.model = fx.model_path;
  ro.data = (fx.dir / "d/test").string();
  ro.port = "qemu-rv32";
  ro.subset = "3";
  ro.out = (fx.dir / "device.json").string();
  ro.firmware_elf = fw.elf;
  ro.icount = false;
  ro.quiet = true;
  try {
    device::run_device(ro);
    ADD_FAILURE() << "a device running another model was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("runs a different model"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(ro.out));
}

TEST(FirmwareBuild, SelfTestPrintsTheSeedsLogLines) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  Int8Fixture fx;
  firmware::FirmwareOptions fo;
  fo.model = fx.model_path;
  fo.target = "qemu-rv32";
  fo.out = (fx.dir / "fw").string();
  fo.subset_from = (fx.dir / "d/test").string();
  fo.subset = "6";
  const auto fw = firmware::make_firmware(fo);
  EXPECT_EQ(fw.subset_images, 6u);
  device::EmulatorOptions eo;
  eo.target = "qemu-rv32";
  eo.elf = fw.elf;
  eo.workdir = (fx.dir / "logs").string();
  eo.icount = true;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  client.wait_ready(60000);  // READY comes after the self-test
  // Under -icount the cycle counter counts instructions: exact and repeatable.
  std::vector<uint8_t> rgb(fx.test_split.image(0), fx.test_split.image(0) + 32 * 32 * 3);
  const auto first = client.infer(rgb), second = client.infer(rgb);
  EXPECT_GT(first.cycles, 1000000u);
  EXPECT_EQ(first.cycles, second.cycles);
  EXPECT_EQ(first.micros, static_cast<uint32_t>(first.cycles / 160));
  const std::string log = read_text(emu.console_log());
  const std::regex line(R"(Image ([1-6])/6 \| True: (rock|paper|scissors) \| Pred: (rock|paper|scissors) \| Conf: 0\.[0-9]{4} \| Time: [0-9]+\.[0-9]{2}ms (✓|✗))");
  int lines = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
    ++lines;
    EXPECT_EQ((*it)[2] == (*it)[3], (*it)[4] == "✓") << it->str();
  }
  EXPECT_EQ(lines, 6) << log;
  EXPECT_NE(log.find("Accuracy: "), std::string::npos) << log;
  // The stack high-water: painted at boot, measured after the self-test; within the 2 KB reservation.
  std::smatch stack;
  ASSERT_TRUE(std::regex_search(log, stack, std::regex(R"(Stack: ([0-9]+) bytes used at most)"))) << log;
  EXPECT_GT(std::stoi(stack[1]), 200);
  EXPECT_LT(std::stoi(stack[1]), 2048);
  // Per-layer cycle counts for every layer.
  for (size_t k = 0; k < fx.mf.model.layers.size(); ++k)
    EXPECT_NE(log.find("Profile: layer " + quant::layer_label(fx.mf.model, k).substr(0, 40) + " "), std::string::npos) << k;
}

TEST(FirmwareBuild, TriageNamesTheLayerPerturbedInATestBuild) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  Int8Fixture fx;
  const auto &m = fx.mf.model;
  const std::vector<uint8_t> rgb(fx.test_split.image(1), fx.test_split.image(1) + 32 * 32 * 3);
  // Builds a firmware (make_args for a test build) and triages one image on it.
  auto triage_on = [&](const std::string &name, const std::string &make_args, firmware::Kernels kernels) {
    firmware::FirmwareOptions fo;
    fo.model = fx.model_path;
    fo.target = "qemu-rv32";
    fo.out = (fx.dir / name).string();
    fo.make_args = make_args;
    fo.kernels = kernels;
    device::TriageOptions to;
    to.model = fx.model_path;
    to.port = "qemu-rv32";
    to.firmware = firmware::make_firmware(fo).elf;
    to.workdir = (fx.dir / "logs").string();
    return device::DeviceTriage(to).triage_pixels(rgb);
  };
  for (int fault : {0, 4}) {
    const auto r = triage_on("fw-fault" + std::to_string(fault), "EXTRA_CFLAGS=-DQP_FAULT_LAYER=" + std::to_string(fault),
                             firmware::Kernels::Mcu);
    EXPECT_EQ(r.layer, fault);
    EXPECT_EQ(r.max_abs_diff, 16);  // the test build flips bit 4 of element 0
    EXPECT_EQ(r.first_index, 0u);
    EXPECT_EQ(r.differing, 1u);
    EXPECT_EQ(r.size, static_cast<size_t>(m.layers[static_cast<size_t>(fault)].out.size()));
    EXPECT_NE(r.layer_name.find(model::op_name(m.layers[static_cast<size_t>(fault)].op)), std::string::npos) << r.layer_name;
  }
  // The normal build with the reference kernels (the MCU ones are checked above): no layer diverges.
  EXPECT_EQ(triage_on("fw-ok", "", firmware::Kernels::Reference).layer, -1);
}

TEST(FirmwareBuild, InterruptedDeviceRunResumesFromItsJournal) {
  if (!have("qemu-system-xtensa")) GTEST_SKIP() << "qemu-system-xtensa not installed";
  Int8Fixture fx;
  // A test build that dies on its 4th inference, then the normal build of the same model.
  firmware::FirmwareOptions fo;
  fo.model = fx.model_path;
  fo.target = "qemu-xtensa";
  fo.out = (fx.dir / "fw-dies").string();
  fo.make_args = "EXTRA_CFLAGS=-DQP_FAULT_EXIT_AFTER=3";
  const auto dying = firmware::make_firmware(fo);
  fo.out = (fx.dir / "fw-ok").string();
  fo.make_args.clear();
  const auto healthy = firmware::make_firmware(fo);
  device::RunOptions ro;
  ro.model = fx.model_path;
  ro.data = (fx.dir / "d/test").string();
  ro.port = "qemu-xtensa";
  ro.subset = "all";
  ro.jobs = 1;
  ro.out = (fx.dir / "device.json").string();
  ro.icount = false;
  ro.quiet = true;
  ro.timeout_ms = 2000;
  ro.firmware_elf = dying.elf;
  try {
    device::run_device(ro);
    ADD_FAILURE() << "a device that died mid-run gave a complete result";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("rerun the same command to resume"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(ro.out));  // never a partial result file
  ASSERT_TRUE(fs::exists(ro.out + ".journal"));
  // The journal holds the 3 answered images: header + 3 lines.
  std::ifstream j(ro.out + ".journal");
  int lines = 0;
  for (std::string l; std::getline(j, l);) lines += !l.empty();
  EXPECT_EQ(lines, 4);
  // Rerun on a healthy device: it resumes, and the result equals a run from scratch.
  ro.firmware_elf = healthy.elf;
  const auto resumed = device::run_device(ro);
  EXPECT_FALSE(fs::exists(ro.out + ".journal"));
  EXPECT_EQ(resumed["device"]["model_hash"], fx.mf.sha256);  // the resumed run read the device's HELLO too
  EXPECT_EQ(resumed["device"]["target"], "qemu-xtensa");
  ro.out = (fx.dir / "device-fresh.json").string();
  const auto fresh = device::run_device(ro);
  ASSERT_EQ(resumed["images"].size(), fx.test_split.samples.size());
  for (size_t i = 0; i < resumed["images"].size(); ++i) {
    EXPECT_EQ(resumed["images"][i]["file"], fresh["images"][i]["file"]);
    EXPECT_EQ(resumed["images"][i]["scores"], fresh["images"][i]["scores"]) << i;
  }
}

// The ops of TFLite/PyTorch models on qemu-rv32, one model covering them all: Pad, depthwise with multiplier 2
// and 3, 'same'-padded max and average pooling (odd sizes: a padded last window), Mean kept as a 1x1 map and
// flat, a softmax beta. Every node's output (TRACE CRCs) and the scores equal the host reference engine's.
TEST(FirmwareBuild, QemuRv32RunsTheTfliteOpsBitExact) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  test::TempDir dir;
  const int size = 19;
  auto m = test::quantized_random_model(
      dir,
      "pad1 conv3x3valid(6) relu dwconv3x3m2 relu6 maxpool3s2same conv1x1(8) relu avgpool3s1same dwconv3x3s2m3 relu "
      "meankeep conv1x1(8) relu pad1 mean dense(K) softmax",
      size, 31);
  m.layers.back().softmax_beta = 0.75;
  quant::derive_requantization(m.layers.back());
  const quant::Int8Engine engine(m, quant::Backend::Reference);
  // The MCU kernel set: pooling and Mean run their MCU kernels (qp_pool_mcu_s8.c), Pad and depthwise with a multiplier
  // the reference ones, beside the MCU conv/dense.
  for (const auto kernels : {firmware::Kernels::Mcu}) {
    const std::string name = "mcu";
    firmware::MemoryPlan plan;
    const auto files = firmware::generate_project(firmware::find_target("qemu-rv32"), m, kSha, {}, &plan, kernels);
    firmware::write_project(files, (dir / ("fw-" + name)).string(), false);
    device::EmulatorOptions eo;
    eo.target = "qemu-rv32";
    eo.elf = firmware::build_firmware((dir / ("fw-" + name)).string());
    eo.workdir = (dir / ("logs-" + name)).string();
    eo.icount = false;
    device::Emulator emu(eo);
    device::Client client(emu.stream());
    EXPECT_EQ(client.wait_ready(60000).layers, static_cast<int>(m.layers.size()));
    for (uint64_t s = 0; s < 3; ++s) {
      const auto img = test::random_image(size, size, 500 + s);
      std::vector<std::vector<int8_t>> trace;
      EXPECT_EQ(client.infer(img.pixels).scores, engine.run(img.pixels.data(), &trace)) << name << " image " << s;
      const auto t = client.trace(img.pixels);
      ASSERT_EQ(t.crc.size(), trace.size());
      for (size_t k = 0; k < trace.size(); ++k) {
        const auto *bytes = reinterpret_cast<const uint8_t *>(trace[k].data());
        EXPECT_EQ(t.crc[k], qp_proto_crc32(0, bytes, static_cast<uint32_t>(trace[k].size())))
            << name << " image " << s << " layer " << k << " (" << model::op_name(m.layers[k].op) << ")";
      }
    }
  }
}

// A model that is not 32x32x3 and not q = p - 128: a small CNN at 48x40x1 (W x H, luma) with the input range -1,1
// (strided convolutions, a flattened non-square map into Dense).
// The generated package carries the input dims and the pixel table; HELLO reports the dims; the device maps the raw
// pixel bytes of INFER/TRACE itself, and every node's output (TRACE CRCs) and the scores equal the host's.
TEST(FirmwareBuild, QemuRv32RunsALumaModelOfAnotherSizeAndConventionBitExact) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  test::TempDir dir;
  const model::Shape in{1, 40, 48};
  const char *spec = "conv3x3s2(8) relu conv3x3s2(12) relu conv3x3s2(16) relu flatten dense(K) softmax";
  const auto m = test::quantized_random_model(dir, spec, in, 41, quant::parse_input_range("-1,1"));
  ASSERT_EQ(m.input, in);
  const auto table = quant::input_table(m.convention, m.input_params(), 1);
  ASSERT_FALSE(quant::table_is_minus_128(table));
  const quant::Int8Engine engine(m, quant::Backend::Reference);
  const auto files = firmware::generate_project(firmware::find_target("qemu-rv32"), m, kSha, {}, nullptr, firmware::Kernels::Mcu);
  std::string pkg, hdr;
  for (const auto &[rel, content] : files) {
    if (rel.ends_with("qp_model.c")) pkg = content;
    if (rel.ends_with("qp_model.h")) hdr = content;
  }
  EXPECT_NE(hdr.find("#define QP_MODEL_INPUT_H 40\n#define QP_MODEL_INPUT_W 48\n#define QP_MODEL_INPUT_C 1\n"),
            std::string::npos);
  EXPECT_NE(pkg.find("const int8_t qp_model_input_table[QP_MODEL_INPUT_C][256] = {\n  {" + std::to_string(table[0]) + ", " +
                     std::to_string(table[1]) + ", "),
            std::string::npos);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = "qemu-rv32";
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  const auto hello = client.wait_ready(60000);
  EXPECT_EQ(hello.in_h, 40);
  EXPECT_EQ(hello.in_w, 48);
  EXPECT_EQ(hello.in_c, 1);
  Rng rng(77);
  for (int s = 0; s < 3; ++s) {
    std::vector<uint8_t> px(static_cast<size_t>(in.size()));
    for (auto &p : px) p = static_cast<uint8_t>(s == 0 ? (&p - px.data()) % 256 : rng.below(256));  // image 0: every value
    std::vector<std::vector<int8_t>> trace;
    EXPECT_EQ(client.infer(px).scores, engine.run(px.data(), &trace)) << "image " << s;
    const auto t = client.trace(px);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k)
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()),
                                         static_cast<uint32_t>(trace[k].size())))
          << "image " << s << " layer " << k;
  }
  // A wrong-size image is refused by the device (BAD_SIZE), not computed.
  EXPECT_THROW(client.infer(std::vector<uint8_t>(40 * 48 + 1, 0)), Error);
}

// Protocol v2 on the boards: a 64x64x3 input (12,288 bytes, staged in IMAGE chunks: more than one frame) and more
// than 32 nodes (10 depthwise residual blocks: 36 INT8 nodes), untrained, calibrated on a few synthetic images.
std::string deep_spec() {
  std::string s = "conv3x3s2(8) relu maxpool2 ";
  for (int b = 0; b < 10; ++b) s += "add{ dwconv3x3 relu6 conv1x1(8) | } ";
  return s + "conv1x1(12) relu gap dense(K) softmax";
}

// Builds the firmware for target, boots it, and checks the scores and every layer's CRC (TRACE) against the host, and
// one fetched layer output beyond the 32nd node.
void expect_big_input_bit_exact_on(const std::string &target) {
  if (!have(target == "qemu-rv32" ? "qemu-system-riscv32" : "qemu-system-xtensa"))
    GTEST_SKIP() << "QEMU for " << target << " is not installed (scripts/install-deps.sh build installs it)";
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, deep_spec(), 64, 51);
  ASSERT_GT(m.layers.size(), 32u);
  ASSERT_GT(m.input.size(), static_cast<int64_t>(QP_PROTO_MAX_PAYLOAD));
  const quant::Int8Engine engine(m, quant::Backend::Reference);
  const auto files = firmware::generate_project(firmware::find_target(target), m, kSha, {}, nullptr, firmware::Kernels::Mcu);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = target;
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  const auto hello = client.wait_ready(60000);
  EXPECT_EQ(hello.proto_version, static_cast<int>(QP_PROTO_VERSION));
  EXPECT_EQ(hello.layers, static_cast<int>(m.layers.size()));
  EXPECT_EQ(hello.in_h * hello.in_w * hello.in_c, 64 * 64 * 3);
  for (uint64_t s = 0; s < 2; ++s) {
    const auto img = test::random_image(64, 64, 500 + s);
    std::vector<std::vector<int8_t>> trace;
    const auto host = engine.run(img.pixels.data(), &trace);
    EXPECT_EQ(client.infer(img.pixels).scores, host) << "image " << s;
    const auto t = client.trace(img.pixels);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k) {
      EXPECT_EQ(t.size[k], trace[k].size()) << "layer " << k;
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()),
                                         static_cast<uint32_t>(trace[k].size())))
          << "image " << s << " layer " << k;
    }
    if (s == 0) {
      const size_t k = 32;  // the 33rd node: the 1x1 conv after the residual blocks
      ASSERT_EQ(m.layers[k].op, model::Op::Conv2D);
      EXPECT_EQ(client.layer_output(img.pixels, static_cast<int>(k), static_cast<uint32_t>(trace[k].size())), trace[k]);
    }
  }
  EXPECT_GE(client.stats().image_chunks, 4u * 4u);  // 4 chunks per request
  EXPECT_EQ(client.stats().image_restarts, 0u);
  // Upload rate, roughly: one LAYER request for one byte of node 0 stages the whole image and runs one small conv.
  const auto img = test::random_image(64, 64, 600);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) client.layer_output(img.pixels, 0, 1);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 4;
  std::printf("%s: 64x64x3 image staged + node 0 in %.1f ms (%.0f KB/s)\n", target.c_str(), sec * 1e3, 12288 / sec / 1e3);
  // A run without a fully staged image is refused by the device, never computed on a stale arena: a one-chunk image
  // does not reach INFER (the client stages all of it), so a wrong-size image stands in for the device's refusal.
  EXPECT_THROW(client.infer(std::vector<uint8_t>(64 * 64 * 3 + 1, 0)), Error);
}

TEST(FirmwareBuild, QemuRv32RunsA64x64x3ModelOfMoreThan32NodesBitExact) { expect_big_input_bit_exact_on("qemu-rv32"); }

TEST(FirmwareBuild, QemuXtensaRunsA64x64x3ModelOfMoreThan32NodesBitExact) { expect_big_input_bit_exact_on("qemu-xtensa"); }

// Triage on a 64x64x3 model of more than 32 nodes: a test build perturbs node 32 (the 33rd); TRACE finds it and LAYER (each chunk
// on a freshly staged image) fetches its output.
TEST(FirmwareBuild, TriageNamesAPerturbedNodeBeyond32OfA64x64Model) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, deep_spec(), 64, 52);
  const std::string path = (dir / "big.onnx").string();
  quant::save_qdq_onnx(m, path);
  firmware::FirmwareOptions fo;
  fo.model = path;
  fo.target = "qemu-rv32";
  fo.out = (dir / "fw").string();
  fo.make_args = "EXTRA_CFLAGS=-DQP_FAULT_LAYER=32";
  device::TriageOptions to;
  to.model = path;
  to.port = "qemu-rv32";
  to.firmware = firmware::make_firmware(fo).elf;
  to.workdir = (dir / "logs").string();
  const auto r = device::DeviceTriage(to).triage_pixels(test::random_image(64, 64, 7).pixels);
  EXPECT_EQ(r.layer, 32);
  EXPECT_EQ(r.max_abs_diff, 16);  // the test build flips bit 4 of element 0
  EXPECT_EQ(r.first_index, 0u);
  EXPECT_EQ(r.differing, 1u);
  EXPECT_EQ(r.size, static_cast<size_t>(m.layers[32].out.size()));
}

// The MLPerf Tiny ResNet-8 .tflite (tests/fixtures/resnet8, trained and quantized elsewhere) on each emulated
// board: every one of the 24 golden inputs, sent as the pixels they stand for (int8 + 128, with the model's
// convention --input-range 0,255, so the device's lookup gives back the same int8 tensor), gives exactly
// the output vector TensorFlow Lite Micro's reference kernels computed (golden/outputs.bin).
class Resnet8OnBoard : public ::testing::TestWithParam<std::string> {};

TEST_P(Resnet8OnBoard, EveryGoldenOutputEqualsTfliteMicro) {
  const std::string target = GetParam();
  if (!have(target == "qemu-rv32" ? "qemu-system-riscv32" : "qemu-system-xtensa")) GTEST_SKIP() << target << " not installed";
  const std::string fix = std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/";
  const auto inputs = test::read_bytes(fix + "golden/inputs.bin"), outputs = test::read_bytes(fix + "golden/outputs.bin");
  ASSERT_EQ(inputs.size(), 24u * 3072u);
  ASSERT_EQ(outputs.size(), 24u * 10u);
  quant::QModel m = quant::load_int8_model(fix + "pretrainedResnet_quant.tflite").model;
  m.convention = quant::parse_input_range("0,255");
  EXPECT_THROW(firmware::generate_model_package(m, kSha, {}), Error);  // no class names: refused, named
  m.classes = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  ASSERT_TRUE(quant::table_is_minus_128(quant::input_table(m.convention, m.input_params(), 3)));
  test::TempDir dir;
  const auto files = firmware::generate_project(firmware::find_target(target), m, kSha, {}, nullptr, firmware::Kernels::Mcu);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = target;
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  const auto hello = client.wait_ready(60000);
  EXPECT_EQ(hello.in_h, 32);
  EXPECT_EQ(hello.in_c, 3);
  for (size_t i = 0; i < 24; ++i) {
    std::vector<uint8_t> px(3072);
    for (size_t j = 0; j < px.size(); ++j) px[j] = static_cast<uint8_t>(static_cast<int8_t>(inputs[i * 3072 + j]) + 128);
    const std::vector<int8_t> want(outputs.begin() + static_cast<long>(i * 10), outputs.begin() + static_cast<long>(i * 10 + 10));
    EXPECT_EQ(client.infer(px).scores, want) << target << ", golden input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Boards, Resnet8OnBoard, ::testing::Values("qemu-rv32", "qemu-xtensa"),
                         [](const auto &info) { return info.param == "qemu-rv32" ? std::string("rv32") : std::string("xtensa"); });

// The firmware model package as a quant::Engine (device::DeviceEngine): the residual model on qemu-rv32 reports the
// same per-node sizes and CRCs and the same output as the host reference and optimized engines, through the one
// interface; one node's full output (LAYER) equals the host's, and the generic triage finds no diverging node.
TEST(FirmwareBuild, DeviceEngineOnQemuRv32MatchesTheHostEnginesThroughTheInterface) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  test::TempDir dir;
  const std::string path = (dir / "residual.onnx").string();
  quant::save_qdq_onnx(residual_qmodel(dir, 16), path);
  firmware::FirmwareOptions fo;
  fo.model = path;
  fo.target = "qemu-rv32";
  fo.out = (dir / "fw").string();
  const auto mf = quant::load_int8_model(path);
  const auto &m = mf.model;
  device::ConnectOptions co;
  co.port = "qemu-rv32";
  co.firmware = firmware::make_firmware(fo).elf;
  co.workdir = (dir / "logs").string();
  co.icount = false;
  device::DeviceEngine dev(co, mf);
  quant::Int8Engine ref(m, quant::Backend::Reference), opt(m);
  std::vector<quant::Engine *> engines = {&ref, &opt, &dev};
  EXPECT_EQ(dev.name(), "qemu-rv32 firmware");
  EXPECT_EQ(dev.output_size(), ref.output_size());
  const auto names = verify::trace_layer_names(m);
  size_t add = 0;
  while (m.layers[add].op != model::Op::Add) ++add;
  for (uint64_t s = 0; s < 2; ++s) {
    const auto in = quant::EngineInput::from_pixels(test::random_image(16, 16, 900 + s).pixels);
    const quant::NodeTrace host = ref.trace(in);
    ASSERT_EQ(host.size.size(), m.layers.size());
    for (quant::Engine *e : engines) {
      const quant::NodeTrace t = e->trace(in);
      EXPECT_EQ(t.size, host.size) << e->name();
      EXPECT_EQ(t.crc, host.crc) << e->name();
      EXPECT_EQ(e->infer(in), host.tensors.back()) << e->name();
    }
    EXPECT_FALSE(dev.trace(in).has_tensors());  // the device reports CRCs; node_output fetches bytes
    EXPECT_EQ(dev.node_output(in, static_cast<int>(add)), host.tensors[add]) << names[add];
    EXPECT_EQ(verify::triage_engines(ref, dev, in, names).layer, -1);
    EXPECT_EQ(verify::triage_engines(dev, opt, in, names).layer, -1);
  }
  // The device maps pixels itself: an int8 input tensor is refused, naming the engine.
  try {
    dev.infer(quant::EngineInput::from_tensor(std::vector<int8_t>(16 * 16 * 3, 0)));
    ADD_FAILURE() << "an int8 tensor was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("qemu-rv32 firmware takes image pixels"), std::string::npos) << e.what();
  }
}
