// INT8 models whose output is logits (no final Softmax), quantized from the PyTorch-exported resnet_small_logits.onnx
// as it is: the output is the last layer's int8 tensor (scale and zero point from calibration), both host engines agree,
// QDQ ONNX and .tflite round trips keep every integer, eval and verify state what the numbers mean (confidence = the
// softmax of the dequantized logits, margins in int8 steps of the logits), and the emulated rv32 board computes the
// host's bytes.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/rng.h"
#include "device/client.h"
#include "device/emulator.h"
#include "device/qp_proto.h"
#include "eval/evaluate.h"
#include "eval/results_io.h"
#include "firmware/build.h"
#include "firmware/codegen.h"
#include "firmware/firmware.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"
#include "test_onnx_util.h"
#include "test_util.h"
#include "tflite/tflite_read.h"
#include "tflite/tflite_write.h"
#include "verify/verify.h"

using namespace qp;

namespace {

const std::string kFixture = std::string(QP_SOURCE_DIR) + "/tests/fixtures/pytorch/resnet_small_logits.onnx";

// n random 32x32x3 images (labels only stratify the calibration choice), each with its own fake pixel hash.
data::Split random_split(int n, uint64_t seed) {
  data::Split split;
  split.classes = {"rock", "paper", "scissors"};
  split.height = split.size = split.width = 32;
  split.channels = 3;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    data::Sample s;
    s.path = split.classes[static_cast<size_t>(i % 3)] + "/random" + std::to_string(i) + ".png";
    s.label = i % 3;
    s.sha256 = std::string(63, 'a') + static_cast<char>('0' + i % 10);
    split.samples.push_back(s);
  }
  split.pixels.resize(split.samples.size() * split.image_bytes());
  for (auto &p : split.pixels) p = static_cast<uint8_t>(rng.below(256));
  return split;
}

quant::QModel logit_model(const data::Split &calib, bool dense_per_tensor = false) {
  model::ModelFile mf = model::load_onnx(kFixture);
  mf.graph.classes = calib.classes;
  quant::QuantOptions qo;
  qo.calib_count = static_cast<int>(calib.samples.size());
  qo.dense_per_tensor = dense_per_tensor;
  return quant::quantize_graph(mf.graph, calib, qo);
}

bool have(const char *exe) { return std::system((std::string("command -v ") + exe + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

// The output is the Dense layer's int8 tensor, calibrated like any other: dequantized, it tracks the FP32 logits
// within a few steps (a softmax's output would be probabilities in [0, 1) on a 1/256 grid). Both engines agree.
TEST(LogitModels, QuantizeAsExportedOutputsTheCalibratedLogits) {
  const auto split = random_split(6, 3);
  const quant::QModel q = logit_model(split);
  ASSERT_TRUE(q.outputs_logits());
  const quant::QLayer &last = q.layers.back();
  EXPECT_EQ(last.op, model::Op::Dense);
  EXPECT_FALSE(last.q.output.scale == 1.0 / 256.0 && last.q.output.zero_point == -128);
  const model::ModelFile mf = model::load_onnx(kFixture);
  const model::Fp32Executor exec(mf.graph);
  const quant::Int8Engine ref(q, quant::Backend::Reference), opt(q, quant::Backend::Optimized);
  for (size_t i = 0; i < split.samples.size(); ++i) {
    const auto a = ref.run(split.image(i)), b = opt.run(split.image(i));
    EXPECT_EQ(a, b) << "image " << i;
    const auto logits = exec.run_rgb(split.image(i));
    ASSERT_EQ(logits.size(), a.size());
    for (size_t k = 0; k < a.size(); ++k)
      EXPECT_NEAR((a[k] - last.q.output.zero_point) * last.q.output.scale, logits[k], 4 * last.q.output.scale) << i << " " << k;
  }
  // A model whose output is not a class vector is refused by name.
  model::Graph g = mf.graph;
  g.layers.resize(3);  // ends in a feature map
  model::infer_shapes(g);
  try {
    quant::quantize_graph(g, split, {});
    FAIL() << "a feature-map output quantized";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("is not a class vector"), std::string::npos) << e.what();
  }
}

// QDQ ONNX: the graph's output is the last DequantizeLinear, named 'logits'; reading it back gives the same integers.
// A file whose output is named otherwise is refused, naming the expected output.
TEST(LogitModels, QdqRoundTripKeepsEveryIntegerAndNamesTheOutputLogits) {
  test::TempDir t;
  const auto split = random_split(6, 4);
  const quant::QModel q = logit_model(split);
  const std::string path = (t / "logits.onnx").string();
  quant::save_qdq_onnx(q, path);
  auto proto = test::read_proto(path);
  ASSERT_EQ(proto.graph().output_size(), 1);
  EXPECT_EQ(proto.graph().output(0).name(), "logits");
  const quant::QModelFile back = quant::load_qdq_onnx(path);
  EXPECT_EQ(tflite::int8_model_difference(q, back.model), "");
  EXPECT_TRUE(back.model.outputs_logits());
  const quant::Int8Engine a(q, quant::Backend::Reference), b(back.model, quant::Backend::Reference);
  for (size_t i = 0; i < split.samples.size(); ++i) EXPECT_EQ(a.run(split.image(i)), b.run(split.image(i))) << i;

  proto.mutable_graph()->mutable_output(0)->set_name("probs");  // the graph output a softmax model would have
  test::write_proto(proto, (t / "renamed.onnx").string());
  try {
    quant::load_qdq_onnx((t / "renamed.onnx").string());
    FAIL() << "a logit model with its output named 'probs' was read";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("the one output 'logits'"), std::string::npos) << e.what();
  }
}

// .tflite: the graph ends in FULLY_CONNECTED (no SOFTMAX) and reads back to the same integers; QDQ -> .tflite ->
// QDQ (what `qparity convert` does both ways) keeps them too.
TEST(LogitModels, TfliteRoundTripEndsInFullyConnectedAndConvertsBothWaysExactly) {
  test::TempDir t;
  const auto split = random_split(6, 5);
  const quant::QModel q = logit_model(split, true);  // TFLite Micro's FULLY_CONNECTED: one weight scale
  const auto bytes = tflite::int8_tflite_bytes(q);
  const auto tf = tflite::read_int8_tflite(bytes.data(), bytes.size(), "logits.tflite");
  EXPECT_EQ(tflite::int8_model_difference(q, tf.file.model), "");
  ASSERT_FALSE(tf.operators.empty());
  EXPECT_EQ(tf.operators.back(), "FULLY_CONNECTED");
  for (const auto &op : tf.operators) EXPECT_NE(op, "SOFTMAX");
  EXPECT_TRUE(tf.file.model.outputs_logits());

  const std::string onnx = (t / "m.onnx").string(), tfl = (t / "m.tflite").string(), onnx2 = (t / "m2.onnx").string();
  tflite::write_int8_model(q, onnx, {}, false);
  const quant::QModel from_onnx = quant::load_int8_model(onnx).model;
  tflite::write_int8_model(from_onnx, tfl, {}, false);
  const quant::QModel from_tflite = quant::load_int8_model(tfl).model;
  EXPECT_EQ(tflite::int8_model_difference(q, from_tflite), "");
  tflite::write_int8_model(from_tflite, onnx2, {}, false);
  EXPECT_EQ(tflite::int8_model_difference(q, quant::load_int8_model(onnx2).model), "");
  const quant::Int8Engine a(q), b(from_tflite);
  for (size_t i = 0; i < split.samples.size(); ++i) EXPECT_EQ(a.run(split.image(i)), b.run(split.image(i))) << i;
}

// eval: the results say "logits" with the output's scale and zero point; the confidence is the softmax of the
// dequantized logits (recomputed here from the definition), kept through the results file. verify: equivalent,
// and the summary and verdict.json state the unit of the margins; a device file that claims probabilities is refused.
TEST(LogitModels, EvalAndVerifyStateWhatTheNumbersMean) {
  const auto split = random_split(9, 6);
  const quant::QModel q = logit_model(split);
  const eval::Results r = eval::evaluate_int8(q, "logits.onnx", std::string(64, 'b'), split, 2);
  ASSERT_TRUE(r.output.logits);
  EXPECT_EQ(r.output.scale, q.layers.back().q.output.scale);
  EXPECT_EQ(r.output.zero_point, q.layers.back().q.output.zero_point);
  for (const auto &im : r.images) {
    EXPECT_EQ(im.pred, eval::first_argmax(im.qscores));
    double top = -1e300, sum = 0;
    std::vector<double> x;
    for (const int v : im.qscores) x.push_back(r.output.scale * (v - r.output.zero_point));
    for (const double v : x) top = std::max(top, v);
    for (const double v : x) sum += std::exp(v - top);
    EXPECT_NEAR(im.conf(), 1.0 / sum, 1e-12) << im.file;
    EXPECT_GT(im.conf(), 1.0 / 3 - 1e-12);
  }
  eval::ResultsFile f;
  f.results = r;
  const nlohmann::json host = nlohmann::json::parse(eval::results_json(f).dump());
  EXPECT_EQ(host["output"]["kind"], "logits");
  const eval::ResultsFile back = eval::read_results(host, {"host", "fix", 2});
  EXPECT_TRUE(back.results.output == r.output);
  EXPECT_EQ(back.results.images[0].conf(), r.images[0].conf());

  nlohmann::json device = host;
  device["platform"] = "device";
  const verify::VerifyReport v = verify::verify(host, device, {});
  EXPECT_TRUE(v.equivalent);
  EXPECT_TRUE(v.bitexact);
  EXPECT_TRUE(v.output.logits);
  const std::string summary = verify::format_summary(v);
  EXPECT_NE(summary.find("outputs       logits (scale"), std::string::npos) << summary;
  EXPECT_NE(summary.find("logit units each"), std::string::npos) << summary;
  const auto vj = verify::verdict_json(v, "host.json", "device.json");
  EXPECT_EQ(vj["output"]["kind"], "logits");
  EXPECT_NE(vj["output"]["margin_unit"].get<std::string>().find("logit units each"), std::string::npos);

  nlohmann::json probs = device;
  probs["output"] = {{"kind", "probabilities"}, {"scale", 1.0 / 256}, {"zero_point", -128}};
  try {
    verify::verify(host, probs, {});
    FAIL() << "verify compared logits with probabilities";
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("but the device's are softmax probabilities"), std::string::npos) << e.what();
  }
  probs["output"]["scale"] = 0.5;  // probabilities on another grid than the softmax kernel's: not a results file we write
  EXPECT_THROW(eval::read_results(probs, {"device", "fix", 2}), Error);
}

// The emulated rv32 board runs the logit model (32x32x3: one protocol frame) and computes the host reference
// engine's bytes: the int8 logits and every node's output (TRACE CRCs).
TEST(LogitModels, QemuRv32RunsTheLogitModelBitExact) {
  if (!have("qemu-system-riscv32")) GTEST_SKIP() << "qemu-system-riscv32 not installed";
  test::TempDir dir;
  const auto split = random_split(6, 7);
  const quant::QModel q = logit_model(split);
  const quant::Int8Engine engine(q, quant::Backend::Reference);
  const auto files = firmware::generate_project(firmware::find_target("qemu-rv32"), q, std::string(64, 'c'), {}, nullptr,
                                                firmware::Kernels::Mcu);
  firmware::write_project(files, (dir / "fw").string(), false);
  device::EmulatorOptions eo;
  eo.target = "qemu-rv32";
  eo.elf = firmware::build_firmware((dir / "fw").string());
  eo.workdir = (dir / "logs").string();
  eo.icount = false;
  device::Emulator emu(eo);
  device::Client client(emu.stream());
  EXPECT_EQ(client.wait_ready(60000).layers, static_cast<int>(q.layers.size()));
  for (size_t i = 0; i < 3; ++i) {
    const std::vector<uint8_t> img(split.image(i), split.image(i) + split.image_bytes());
    std::vector<std::vector<int8_t>> trace;
    const auto want = engine.run(img.data(), &trace);
    const auto got = client.infer(img);
    EXPECT_EQ(got.scores, want) << "image " << i;
    EXPECT_EQ(got.pred, eval::first_argmax(std::vector<int>(want.begin(), want.end()))) << "image " << i;
    const auto t = client.trace(img);
    ASSERT_EQ(t.crc.size(), trace.size());
    for (size_t k = 0; k < trace.size(); ++k)
      EXPECT_EQ(t.crc[k], qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(trace[k].data()),
                                         static_cast<uint32_t>(trace[k].size())))
          << "image " << i << " layer " << k;
  }
}
