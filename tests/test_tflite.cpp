// The TFLite reader (src/tflite/tflite_read): the MLPerf Tiny ResNet-8 (tests/fixtures/resnet8, a network
// qparity did not train) reproduces TensorFlow Lite Micro's bytes on both host engines, every output and
// every intermediate tensor; broken and unsupported files are refused with the operator or tensor named.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/sha256.h"
#include "quant/input_map.h"
#include "quant/labels.h"
#include "quant/model_file.h"
#include "quant/qmodel.h"
#include "tflite/tflite_read.h"
#include "tflite/tflite_subset_generated.h"
#include "test_util.h"

namespace qp {
namespace {

namespace fb = tflite::fb;

const std::string kDir = std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/";
constexpr size_t kInputBytes = 3072, kOutputBytes = 10, kImages = 24, kTraced = 4;

using test::read_bytes;

std::vector<quant::OptIsa> isas() {
  std::vector<quant::OptIsa> v = {quant::OptIsa::Portable};
  for (const auto isa : {quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                         quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon, quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) v.push_back(isa);
  return v;
}

TEST(Tflite, ResNet8FixtureIsTheMlperfFile) {
  const auto bytes = read_bytes(kDir + "pretrainedResnet_quant.tflite");
  EXPECT_EQ(sha256_hex(bytes.data(), bytes.size()), "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415");
  const auto in = read_bytes(kDir + "golden/inputs.bin"), out = read_bytes(kDir + "golden/outputs.bin");
  EXPECT_EQ(sha256_hex(in.data(), in.size()), "962a208f14a6e1b6d3284e48c28fdda03533cbae3a05e1f7c69f0b15cd426b75");
  EXPECT_EQ(sha256_hex(out.data(), out.size()), "2fdd061ffcf06c2cf96fceb86f5a0f708afcc39b174eaba1120046397ad7b871");
  EXPECT_TRUE(tflite::is_tflite_bytes(bytes.data(), bytes.size()));
  EXPECT_TRUE(tflite::is_tflite_file(kDir + "pretrainedResnet_quant.tflite"));
  EXPECT_FALSE(tflite::is_tflite_file(kDir + "README.md"));
}

// The command line's convention and classes for a .tflite that states neither (quant::apply_input_override).
TEST(Tflite, InputOverrideOfAForeignModel) {
  const std::string path = kDir + "pretrainedResnet_quant.tflite";
  const quant::QModelFile file = quant::load_int8_model(path);
  EXPECT_EQ(file.metadata.count("qparity.input"), 0u);
  // Nothing given: its input (scale 1, zero point -128) does not fit 0..1, refused naming 0..255.
  try {
    quant::QModelFile f = file;
    quant::apply_input_override(f, {});
    ADD_FAILURE() << "the default convention was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("--input-range 0,255"), std::string::npos) << e.what();
  }
  // An input quantized for 0..1 runs with the default (said on stderr), the file's hash unchanged.
  quant::QModelFile d = file;
  d.model.set_input_params({static_cast<float>(1.0 / 255.0), -128});
  quant::apply_input_override(d, {});
  EXPECT_EQ(d.sha256, file.sha256);
  // A convention it does not state is another model: the hash changes, and differs per convention.
  quant::QModelFile a = file, b = file, c = file;
  quant::apply_input_override(a, {quant::parse_input_range("0,255"), {}});
  quant::apply_input_override(b, {quant::parse_input_range("-1,1"), {}});
  EXPECT_EQ(a.model.convention, quant::parse_input_range("0,255"));
  EXPECT_NE(a.sha256, file.sha256);
  EXPECT_NE(a.sha256, b.sha256);
  quant::apply_input_override(c, {quant::parse_input_range("0,255"), {}});
  EXPECT_EQ(a.sha256, c.sha256);  // deterministic
  // Classes: counted against the outputs.
  quant::QModelFile k = file;
  EXPECT_THROW(quant::apply_input_override(k, {quant::parse_input_range("0,255"), {"a", "b"}}), Error);
  quant::InputConvention bad = quant::parse_input_range("0,255");
  bad.mean = {1, 2};
  bad.stdev = {1, 2};
  EXPECT_THROW(quant::apply_input_override(k, {bad, {}}), Error);  // 2 means for 3 channels
}

TEST(Tflite, ResNet8ReadsAsTheGraphTfliteHas) {
  const auto t = tflite::load_int8_tflite(kDir + "pretrainedResnet_quant.tflite");
  const quant::QModel &m = t.file.model;
  EXPECT_EQ(m.input, (model::Shape{3, 32, 32}));
  EXPECT_EQ(m.input_params().scale, 1.0);
  EXPECT_EQ(m.input_params().zero_point, -128);
  std::map<model::Op, int> ops;
  for (const auto &l : m.layers) ++ops[l.op];
  EXPECT_EQ(ops[model::Op::Conv2D], 9);
  EXPECT_EQ(ops[model::Op::Add], 3);
  EXPECT_EQ(ops[model::Op::GlobalAvgPool], 1);  // AVERAGE_POOL_2D 8x8 over the 8x8 map
  EXPECT_EQ(ops[model::Op::Flatten], 1);
  EXPECT_EQ(ops[model::Op::Dense], 1);
  EXPECT_EQ(ops[model::Op::Softmax], 1);
  ASSERT_EQ(m.layers.size(), 16u);
  EXPECT_EQ(m.layers[3].inputs, (std::vector<int>{0, 2}));  // the first residual ADD reads tensors 22 and 24
  EXPECT_EQ(m.layers[0].q.activation, "relu");
  EXPECT_EQ(m.layers[2].q.activation, "");
  EXPECT_EQ(t.layer_tensor.front(), 22);
  EXPECT_EQ(t.output_tensor, 37);
  EXPECT_EQ(t.layer_tensor.back(), 37);
  EXPECT_EQ(t.file.sha256, "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415");
  EXPECT_EQ(t.file.metadata.at("min_runtime_version").substr(0, 2), "1.");
  EXPECT_TRUE(m.classes.empty());  // not in the file: the caller's rules name them
  const std::string info = tflite::describe_int8_tflite(t);
  EXPECT_NE(info.find("CONV_2D"), std::string::npos) << info;
}

// The tensors keep the file's names (tensors.tsv, written by TFLite Micro's dump, is an independent record of them):
// every layer's output tensor and the input, with its quantization and shape, through Graph::tensor; labels show
// the short form.
TEST(Tflite, ResNet8TensorsKeepTheFilesNames) {
  const auto t = tflite::load_int8_tflite(kDir + "pretrainedResnet_quant.tflite");
  const quant::QModel &m = t.file.model;
  std::ifstream tsv(kDir + "golden/tensors/tensors.tsv");
  std::map<int, std::string> name_of;
  std::string line;
  while (std::getline(tsv, line)) {
    std::istringstream s(line);
    std::string idx, name;
    std::getline(s, idx, '\t');
    std::getline(s, name, '\t');
    name_of[std::stoi(idx)] = name;
  }
  ASSERT_EQ(name_of.at(0), "input_1_int8");
  EXPECT_EQ(m.tensor_name(model::kGraphInput), "input_1_int8");
  const auto &all = m.tensors;
  ASSERT_EQ(all.size(), m.layers.size() + 1);
  EXPECT_EQ(all[0].name, "input_1_int8");
  EXPECT_EQ(all[0].quant, m.input_params());
  int named = 0;
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const model::Tensor &x = all[static_cast<size_t>(model::tensor_id(static_cast<int>(k)))];
    EXPECT_EQ(x.dtype, model::DType::Int8);
    EXPECT_EQ(x.shape, m.layers[k].out);
    ASSERT_TRUE(x.quant.has_value());
    EXPECT_EQ(*x.quant, m.layers[k].q.output) << k;
    if (t.layer_tensor[k] < 0) {  // the Flatten qparity inserts has no tensor in the file
      EXPECT_EQ(x.name, "") << k;
      continue;
    }
    const std::string &want = name_of.at(t.layer_tensor[k]);
    EXPECT_EQ(x.name, want.size() <= model::kMaxTensorName ? want : want.substr(0, model::kMaxTensorName - 3) + "...") << k;
    EXPECT_LE(x.name.size(), model::kMaxTensorName);
    ++named;
  }
  EXPECT_EQ(named, 16);
  EXPECT_EQ(m.layers.back().q.name, "Identity_int8");
  // The first residual Add (tensor 25, "model/activation_2/Relu;model/add/add"): the label shows the name up to ';'.
  EXPECT_EQ(quant::layer_label(m, 3), "3 Add+relu <- 0,2 'model/activation_2/Relu'");
}

// All 24 outputs, bit-exact to TFLite Micro, on the reference kernels and every optimized kernel set.
TEST(Tflite, ResNet8OutputsEqualTfliteMicro) {
  const auto t = tflite::load_int8_tflite(kDir + "pretrainedResnet_quant.tflite");
  const auto in = read_bytes(kDir + "golden/inputs.bin"), want = read_bytes(kDir + "golden/outputs.bin");
  ASSERT_EQ(in.size(), kImages * kInputBytes);
  ASSERT_EQ(want.size(), kImages * kOutputBytes);
  std::vector<std::pair<std::string, std::unique_ptr<quant::Int8Engine>>> engines;
  engines.emplace_back("reference", std::make_unique<quant::Int8Engine>(t.file.model, quant::Backend::Reference));
  for (const auto isa : isas())
    engines.emplace_back(quant::opt_isa_name(isa),
                         std::make_unique<quant::Int8Engine>(t.file.model, quant::Backend::Optimized, isa));
  for (const auto &[name, e] : engines)
    for (size_t i = 0; i < kImages; ++i) {
      const auto out = e->run_int8(reinterpret_cast<const int8_t *>(in.data() + i * kInputBytes));
      ASSERT_EQ(out.size(), kOutputBytes);
      for (size_t j = 0; j < kOutputBytes; ++j)
        EXPECT_EQ(out[j], static_cast<int8_t>(want[i * kOutputBytes + j])) << name << " image " << i << " score " << j;
    }
}

// Every intermediate tensor of the first 4 inputs, matched by TFLite tensor index.
TEST(Tflite, ResNet8EveryTensorEqualsTfliteMicro) {
  const auto t = tflite::load_int8_tflite(kDir + "pretrainedResnet_quant.tflite");
  const auto in = read_bytes(kDir + "golden/inputs.bin");
  std::ifstream tsv(kDir + "golden/tensors/tensors.tsv");
  std::map<int, size_t> bytes_of;  // tensor index -> bytes per image
  std::string line;
  while (std::getline(tsv, line)) {
    std::istringstream s(line);
    std::string idx, name, type, bytes;
    std::getline(s, idx, '\t');
    std::getline(s, name, '\t');
    std::getline(s, type, '\t');
    std::getline(s, bytes, '\t');
    bytes_of[std::stoi(idx)] = std::stoul(bytes);
  }
  ASSERT_EQ(bytes_of.size(), 17u);
  for (const auto backend : {quant::Backend::Reference, quant::Backend::Optimized}) {
    const quant::Int8Engine e(t.file.model, backend);
    int matched = 0;
    for (size_t i = 0; i < kTraced; ++i) {
      std::vector<std::vector<int8_t>> trace;
      e.run_int8(reinterpret_cast<const int8_t *>(in.data() + i * kInputBytes), &trace);
      ASSERT_EQ(trace.size(), t.file.model.layers.size());
      for (size_t k = 0; k < trace.size(); ++k) {
        const int idx = t.layer_tensor[k];
        ASSERT_TRUE(bytes_of.count(idx)) << "layer " << k << " tensor " << idx;
        char file[32];
        std::snprintf(file, sizeof file, "golden/tensors/t%02d.bin", idx);
        const auto want = read_bytes(kDir + file);
        const size_t n = bytes_of[idx];
        ASSERT_EQ(want.size(), kTraced * n);
        ASSERT_EQ(trace[k].size(), n) << "layer " << k;
        size_t diff = 0;
        for (size_t j = 0; j < n; ++j) diff += trace[k][j] != static_cast<int8_t>(want[i * n + j]);
        EXPECT_EQ(diff, 0u) << (backend == quant::Backend::Reference ? "reference" : "optimized") << " image " << i << " layer "
                            << k << " (" << model::op_name(t.file.model.layers[k].op) << ", tensor " << idx << " '"
                            << t.file.model.layers[k].q.name << "'): " << diff << " of " << n << " bytes differ";
        ++matched;
      }
    }
    EXPECT_EQ(matched, static_cast<int>(kTraced * 16));
  }
}

std::string read_error(const std::vector<uint8_t> &bytes) {
  try {
    tflite::read_int8_tflite(bytes.data(), bytes.size(), "x.tflite");
  } catch (const Error &e) {
    return e.what();
  }
  return "(read without error)";
}

TEST(Tflite, BrokenFilesAreRefusedByTheVerifier) {
  const auto good = read_bytes(kDir + "pretrainedResnet_quant.tflite");
  auto cut = good;
  cut.resize(good.size() / 2);
  EXPECT_NE(read_error(cut).find("FlatBuffers verifier"), std::string::npos) << read_error(cut);
  auto flipped = good;
  for (size_t i = 0; i < 4; ++i) flipped[i] = 0xff;  // the root table offset points past the end
  EXPECT_NE(read_error(flipped).find("FlatBuffers verifier"), std::string::npos) << read_error(flipped);
  auto not_tflite = good;
  not_tflite[4] = 'X';
  EXPECT_NE(read_error(not_tflite).find("not a TensorFlow Lite model"), std::string::npos);
  EXPECT_NE(read_error({1, 2, 3}).find("not a TensorFlow Lite model"), std::string::npos);
}

// A small int8 model built here: input [1,4,4,2] -> one operator -> output.
struct Tiny {
  fb::BuiltinOperator op = fb::BuiltinOperator_CONV_2D;
  int filter_scales = 3;  // the conv filter's scale count (3 output channels: valid are 1 and 3)
  int filter_bytes = 3 * 3 * 3 * 2;
  int zero_points = 3;
  fb::ActivationFunctionType act = fb::ActivationFunctionType_RELU;
  float out_scale = 0.25f;
};

std::vector<uint8_t> tiny_model(const Tiny &p) {
  flatbuffers::FlatBufferBuilder b;
  auto q = [&](std::vector<float> s, std::vector<int64_t> z, int dim = 0) {
    return fb::CreateQuantizationParameters(b, 0, 0, b.CreateVector(s), b.CreateVector(z), fb::QuantizationDetails_NONE, 0, dim);
  };
  std::vector<flatbuffers::Offset<fb::Buffer>> bufs = {fb::CreateBuffer(b)};
  std::vector<int8_t> w(static_cast<size_t>(p.filter_bytes), 1);
  bufs.push_back(fb::CreateBuffer(b, b.CreateVector(reinterpret_cast<const uint8_t *>(w.data()), w.size())));
  std::vector<int32_t> bias(3, 0);
  bufs.push_back(fb::CreateBuffer(b, b.CreateVector(reinterpret_cast<const uint8_t *>(bias.data()), 12)));
  std::vector<flatbuffers::Offset<fb::Tensor>> ts;
  ts.push_back(fb::CreateTensor(b, b.CreateVector(std::vector<int32_t>{1, 4, 4, 2}), fb::TensorType_INT8, 0, b.CreateString("in"),
                                q({0.5f}, {-1})));
  ts.push_back(fb::CreateTensor(b, b.CreateVector(std::vector<int32_t>{3, 3, 3, 2}), fb::TensorType_INT8, 1, b.CreateString("w"),
                                q(std::vector<float>(static_cast<size_t>(p.filter_scales), 0.01f),
                                  std::vector<int64_t>(static_cast<size_t>(p.zero_points), 0))));
  ts.push_back(fb::CreateTensor(b, b.CreateVector(std::vector<int32_t>{3}), fb::TensorType_INT32, 2, b.CreateString("b")));
  ts.push_back(fb::CreateTensor(b, b.CreateVector(std::vector<int32_t>{1, 4, 4, 3}), fb::TensorType_INT8, 0,
                                b.CreateString("out"), q({p.out_scale}, {3})));
  auto opts = fb::CreateConv2DOptions(b, fb::Padding_SAME, 1, 1, p.act).Union();
  const bool conv = p.op == fb::BuiltinOperator_CONV_2D;
  auto oper = fb::CreateOperator(b, 0, b.CreateVector(conv ? std::vector<int32_t>{0, 1, 2} : std::vector<int32_t>{0, 0}),
                                 b.CreateVector(std::vector<int32_t>{3}),
                                 conv ? fb::BuiltinOptions_Conv2DOptions : fb::BuiltinOptions_NONE, conv ? opts : 0);
  auto sg =
      fb::CreateSubGraph(b, b.CreateVector(ts), b.CreateVector(std::vector<int32_t>{0}), b.CreateVector(std::vector<int32_t>{3}),
                         b.CreateVector(std::vector<flatbuffers::Offset<fb::Operator>>{oper}));
  auto code = fb::CreateOperatorCode(b, static_cast<int8_t>(p.op), 0, 1, p.op);
  auto model = fb::CreateModel(b, 3, b.CreateVector(std::vector<flatbuffers::Offset<fb::OperatorCode>>{code}),
                               b.CreateVector(std::vector<flatbuffers::Offset<fb::SubGraph>>{sg}), b.CreateString("tiny"),
                               b.CreateVector(bufs));
  fb::FinishModelBuffer(b, model);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

TEST(Tflite, TinyConvReadsAndRuns) {
  const auto bytes = tiny_model({});
  const auto t = tflite::read_int8_tflite(bytes.data(), bytes.size(), "tiny.tflite");
  const quant::QLayer &l = t.file.model.layers.at(0);
  EXPECT_EQ(l.op, model::Op::Conv2D);
  EXPECT_EQ(l.q.activation, "relu");
  EXPECT_EQ(l.q.act_min, 3);  // TFLite's clamp for RELU: max(-128, zero point)
  EXPECT_EQ(l.pad_top, 1);
  EXPECT_EQ(l.out, (model::Shape{3, 4, 4}));
  EXPECT_EQ(l.q.weight_scale.size(), 3u);
  // 0.5 * 0.01f / 0.25 = 0.64 * 2^-5 (0.01f a little below 0.01)
  EXPECT_EQ(l.q.shift[0], -5);
  EXPECT_EQ(l.q.multiplier[0], 1374389504);  // from the float32 scales, as TFLite
}

// RELU6's upper bound is TFLite's zero point + round(6.0f / scale) in float32: at scale 2.4f the float32 quotient is
// 2.5 (rounded to 3) where the double one is 2.4999999 (2).
TEST(Tflite, Relu6ClampIsTflites) {
  Tiny p;
  p.act = fb::ActivationFunctionType_RELU6;
  auto b = tiny_model(p);
  EXPECT_EQ(tflite::read_int8_tflite(b.data(), b.size(), "t").file.model.layers[0].q.act_max, 3 + 24);
  p.out_scale = 2.4f;
  b = tiny_model(p);
  EXPECT_EQ(tflite::read_int8_tflite(b.data(), b.size(), "t").file.model.layers[0].q.act_max, 3 + 3);
  p.out_scale = 1e-3f;  // the bound is above int8: 127
  b = tiny_model(p);
  EXPECT_EQ(tflite::read_int8_tflite(b.data(), b.size(), "t").file.model.layers[0].q.act_max, 127);
}

// A small int8 graph built op by op.
struct Graph {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Buffer>> bufs{fb::CreateBuffer(b)};
  std::vector<flatbuffers::Offset<fb::Tensor>> ts;
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  std::vector<flatbuffers::Offset<fb::OperatorCode>> codes;
  int tensor(std::vector<int32_t> shape, fb::TensorType type, std::vector<float> scale, std::vector<int64_t> zp, int dim,
             const std::vector<uint8_t> &data) {
    uint32_t buf = 0;
    if (!data.empty()) {
      bufs.push_back(fb::CreateBuffer(b, b.CreateVector(data)));
      buf = static_cast<uint32_t>(bufs.size() - 1);
    }
    auto q = scale.empty() ? 0
                           : fb::CreateQuantizationParameters(b, 0, 0, b.CreateVector(scale), b.CreateVector(zp),
                                                              fb::QuantizationDetails_NONE, 0, dim);
    ts.push_back(fb::CreateTensor(b, b.CreateVector(shape), type, buf, b.CreateString("t" + std::to_string(ts.size())), q));
    return static_cast<int>(ts.size() - 1);
  }
  int act(std::vector<int32_t> shape, float scale, int64_t zp) {
    return tensor(shape, fb::TensorType_INT8, {scale}, {zp}, 0, {});
  }
  template <typename T>
  int constant(std::vector<int32_t> shape, fb::TensorType type, const std::vector<T> &v, std::vector<float> scale = {},
               int dim = 0) {
    std::vector<uint8_t> bytes(v.size() * sizeof(T));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return tensor(shape, type, scale, std::vector<int64_t>(scale.size(), 0), dim, bytes);
  }
  void op(fb::BuiltinOperator code, std::vector<int32_t> in, int out, fb::BuiltinOptions type = fb::BuiltinOptions_NONE,
          flatbuffers::Offset<void> opts = 0) {
    codes.push_back(fb::CreateOperatorCode(b, static_cast<int8_t>(code), 0, 1, code));
    ops.push_back(fb::CreateOperator(b, static_cast<uint32_t>(codes.size() - 1), b.CreateVector(in),
                                     b.CreateVector(std::vector<int32_t>{out}), type, opts));
  }
  std::vector<uint8_t> finish(int in, int out) {
    auto sg = fb::CreateSubGraph(b, b.CreateVector(ts), b.CreateVector(std::vector<int32_t>{in}),
                                 b.CreateVector(std::vector<int32_t>{out}), b.CreateVector(ops));
    fb::FinishModelBuffer(
        b, fb::CreateModel(b, 3, b.CreateVector(codes), b.CreateVector(std::vector<decltype(sg)>{sg}), 0, b.CreateVector(bufs)));
    return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  }
};

// PAD, DEPTHWISE_CONV_2D with depth multiplier 2, SAME average pooling that pads, MEAN, FULLY_CONNECTED and SOFTMAX
// with beta 0.5 map to qparity's ops, and both host engines compute the same bytes.
TEST(Tflite, MobileNetClassOpsReadAndRun) {
  Graph g;
  const int x = g.act({1, 6, 6, 2}, 0.5f, -1);
  const int pads = g.constant<int32_t>({4, 2}, fb::TensorType_INT32, {0, 0, 1, 1, 1, 1, 0, 0});
  const int padded = g.act({1, 8, 8, 2}, 0.5f, -1);
  g.op(fb::BuiltinOperator_PAD, {x, pads}, padded);
  std::vector<int8_t> dw(36);
  for (size_t i = 0; i < dw.size(); ++i) dw[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 51) - 25);
  const int w = g.constant<int8_t>({1, 3, 3, 4}, fb::TensorType_INT8, dw, {0.01f, 0.02f, 0.015f, 0.03f}, 3);
  const int bias = g.constant<int32_t>({4}, fb::TensorType_INT32, {100, -50, 0, 7});
  const int d = g.act({1, 6, 6, 4}, 0.05f, -128);
  g.op(fb::BuiltinOperator_DEPTHWISE_CONV_2D, {padded, w, bias}, d, fb::BuiltinOptions_DepthwiseConv2DOptions,
       fb::CreateDepthwiseConv2DOptions(g.b, fb::Padding_VALID, 1, 1, 2, fb::ActivationFunctionType_RELU6).Union());
  const int pool = g.act({1, 3, 3, 4}, 0.05f, -128);
  g.op(fb::BuiltinOperator_AVERAGE_POOL_2D, {d}, pool, fb::BuiltinOptions_Pool2DOptions,
       fb::CreatePool2DOptions(g.b, fb::Padding_SAME, 2, 2, 3, 3).Union());
  const int axes = g.constant<int32_t>({2}, fb::TensorType_INT32, {1, 2});
  const int mean = g.act({1, 4}, 0.04f, -100);
  g.op(fb::BuiltinOperator_MEAN, {pool, axes}, mean, fb::BuiltinOptions_ReducerOptions,
       fb::CreateReducerOptions(g.b, false).Union());
  std::vector<int8_t> fw(12);
  for (size_t i = 0; i < fw.size(); ++i) fw[i] = static_cast<int8_t>(static_cast<int>(i * 29 % 41) - 20);
  const int fcw = g.constant<int8_t>({3, 4}, fb::TensorType_INT8, fw, {0.02f});
  const int logits = g.act({1, 3}, 0.1f, 5);
  g.op(fb::BuiltinOperator_FULLY_CONNECTED, {mean, fcw, -1}, logits, fb::BuiltinOptions_FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(g.b).Union());
  const int probs = g.act({1, 3}, 1.0f / 256, -128);
  g.op(fb::BuiltinOperator_SOFTMAX, {logits}, probs, fb::BuiltinOptions_SoftmaxOptions,
       fb::CreateSoftmaxOptions(g.b, 0.5f).Union());
  const auto bytes = g.finish(x, probs);
  const auto t = tflite::read_int8_tflite(bytes.data(), bytes.size(), "mobile.tflite");
  const auto &L = t.file.model.layers;
  ASSERT_EQ(L.size(), 6u);
  EXPECT_EQ(L[0].op, model::Op::Pad);
  EXPECT_EQ(L[0].pad_top, 1);
  EXPECT_EQ(L[1].op, model::Op::DepthwiseConv2D);
  EXPECT_EQ(L[1].out.c, 4);  // 2 inputs x depth multiplier 2
  EXPECT_EQ(L[1].q.activation, "relu6");
  EXPECT_EQ(L[2].op, model::Op::AvgPool);  // SAME: the odd pixel of padding goes bottom/right
  EXPECT_EQ(L[2].pad_top, 0);
  EXPECT_EQ(L[2].out, (model::Shape{4, 3, 3}));
  EXPECT_EQ(L[3].op, model::Op::Mean);
  EXPECT_EQ(L[4].op, model::Op::Dense);
  EXPECT_EQ(L[4].q.bias, (std::vector<int32_t>{0, 0, 0}));  // no bias tensor (-1)
  EXPECT_EQ(L[5].op, model::Op::Softmax);
  EXPECT_EQ(L[5].softmax_beta, 0.5);
  const quant::Int8Engine ref(t.file.model, quant::Backend::Reference), opt(t.file.model, quant::Backend::Optimized);
  for (int seed = 0; seed < 8; ++seed) {
    std::vector<int8_t> in(72);
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int8_t>((i * 131 + static_cast<size_t>(seed) * 17) % 256 - 128);
    std::vector<std::vector<int8_t>> tr, to;
    EXPECT_EQ(ref.run_int8(in.data(), &tr), opt.run_int8(in.data(), &to)) << seed;
    EXPECT_EQ(tr, to) << seed;
  }
}

TEST(Tflite, UnsupportedAndInconsistentFilesNameTheProblem) {
  Tiny mul;
  mul.op = fb::BuiltinOperator_MUL;
  auto b = tiny_model(mul);
  EXPECT_NE(read_error(b).find("operator 0 is MUL, which qparity does not support"), std::string::npos) << read_error(b);
  EXPECT_NE(read_error(b).find("qparity reads full-integer int8 models of CONV_2D"), std::string::npos);
  Tiny scales;
  scales.filter_scales = 2;
  scales.zero_points = 2;
  b = tiny_model(scales);
  EXPECT_NE(read_error(b).find("operator 0 (CONV_2D): tensor 1 'w' has 2 scales for 3 output channels"), std::string::npos)
      << read_error(b);
  Tiny zps;
  zps.zero_points = 2;
  b = tiny_model(zps);
  EXPECT_NE(read_error(b).find("has 2 zero points for 3 scales"), std::string::npos) << read_error(b);
  Tiny short_buffer;
  short_buffer.filter_bytes = 40;
  b = tiny_model(short_buffer);
  EXPECT_NE(read_error(b).find("tensor 1 'w' holds 40 bytes, its shape needs 54"), std::string::npos) << read_error(b);
}

}  // namespace
}  // namespace qp
