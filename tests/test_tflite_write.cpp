// TensorFlow Lite writer (src/tflite/tflite_write.cpp): int8 QModels written as .tflite, checked in the
// FlatBuffers structure TFLite Micro reads, read back with the reader (identical layers and integers,
// identical engine outputs), QDQ ONNX -> .tflite -> QDQ ONNX, the refusals where TFLite Micro would
// compute other bytes, and write_int8_model (format by extension, --force, labels.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "common/error.h"
#include "data/synth.h"
#include "quant/input_map.h"
#include "quant/multiplier.h"
#include "quant/qdq_onnx.h"
#include "test_quant_util.h"
#include "test_util.h"
#include "tflite/tflite_read.h"
#include "tflite/tflite_subset_generated.h"
#include "tflite/tflite_write.h"

namespace qp {
namespace {

using model::Op;
using quant::QLayer;
using quant::QModel;
using test::TempDir;

// A random model of `spec` quantized on the built-in set as `qparity quantize --out x.tflite` does: Dense
// layers per-tensor (TFLite Micro's FULLY_CONNECTED), conv weights per `mode`.
QModel tflite_ready_model(const TempDir &dir, const std::string &spec, uint64_t seed,
                          quant::WeightMode mode = quant::WeightMode::PerChannel) {
  data::SynthOptions so;
  so.out_dir = (dir / "d").string();
  so.train = 12;
  so.test = 3;
  data::synth_dataset(so);
  data::LoadOptions lo;
  lo.size = 32;
  const auto split = data::load_split((dir / "d/train").string(), lo);
  auto g = model::graph_from_spec(spec, data::synth_class_names(), {3, 32, 32});
  model::init_random(g, seed);
  quant::QuantOptions qo;
  qo.calib_count = 12;
  qo.weights = mode;
  qo.dense_per_tensor = true;
  return quant::quantize_graph(g, split, qo);
}

// Every field of a layer that decides its bytes.
void expect_same_layer(const QLayer &a, const QLayer &b, size_t k) {
  SCOPED_TRACE("layer " + std::to_string(k) + " " + model::op_name(a.op));
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.q.activation, b.q.activation);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.in, b.in);
  EXPECT_EQ(a.out, b.out);
  if (a.op != Op::GlobalAvgPool && a.op != Op::Flatten && a.op != Op::Dense && a.op != Op::Softmax && a.op != Op::Add &&
      a.op != Op::Concat) {
    EXPECT_EQ(a.kernel, b.kernel);
    EXPECT_EQ(a.stride, b.stride);
    EXPECT_EQ(a.pad_top, b.pad_top);
    EXPECT_EQ(a.pad_left, b.pad_left);
  }
  EXPECT_EQ(a.q.input.scale, b.q.input.scale);
  EXPECT_EQ(a.q.input.zero_point, b.q.input.zero_point);
  EXPECT_EQ(a.q.output.scale, b.q.output.scale);
  EXPECT_EQ(a.q.output.zero_point, b.q.output.zero_point);
  ASSERT_EQ(a.q.input_q.size(), b.q.input_q.size());
  for (size_t j = 0; j < a.q.input_q.size(); ++j) {
    EXPECT_EQ(a.q.input_q[j].scale, b.q.input_q[j].scale);
    EXPECT_EQ(a.q.input_q[j].zero_point, b.q.input_q[j].zero_point);
  }
  EXPECT_EQ(0, std::memcmp(&a.q.add, &b.q.add, sizeof a.q.add));
  EXPECT_EQ(a.q.weight, b.q.weight);
  EXPECT_EQ(a.q.weight_scale, b.q.weight_scale);
  EXPECT_EQ(a.q.bias, b.q.bias);
  EXPECT_EQ(a.q.multiplier, b.q.multiplier);
  EXPECT_EQ(a.q.shift, b.q.shift);
  EXPECT_EQ(a.q.act_min, b.q.act_min);
  EXPECT_EQ(a.q.act_max, b.q.act_max);
  EXPECT_EQ(a.q.softmax.input_multiplier, b.q.softmax.input_multiplier);
  EXPECT_EQ(a.q.softmax.input_left_shift, b.q.softmax.input_left_shift);
  EXPECT_EQ(a.q.softmax.diff_min, b.q.softmax.diff_min);
  EXPECT_EQ(a.softmax_beta, b.softmax_beta);
}

void expect_same_model(const QModel &want_in, const QModel &got_in) {
  QModel want = want_in, got = got_in;
  quant::normalize(want);
  quant::normalize(got);
  EXPECT_EQ(want.classes, got.classes);
  EXPECT_EQ(want.input, got.input);
  EXPECT_EQ(want.input_params().scale, got.input_params().scale);
  EXPECT_EQ(want.input_params().zero_point, got.input_params().zero_point);
  ASSERT_EQ(want.layers.size(), got.layers.size());
  for (size_t k = 0; k < want.layers.size(); ++k) expect_same_layer(want.layers[k], got.layers[k], k);
}

// Both engines give the same scores on both models for a few images.
void expect_same_outputs(const QModel &a, const QModel &b) {
  for (const auto backend : {quant::Backend::Reference, quant::Backend::Optimized}) {
    const quant::Int8Engine ea(a, backend), eb(b, backend);
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const auto img = test::random_image(a.input.w, a.input.h, seed);
      EXPECT_EQ(ea.run(img.pixels.data()), eb.run(img.pixels.data())) << "image " << seed;
    }
  }
}

QModel round_trip(const QModel &q) {
  const auto bytes = tflite::int8_tflite_bytes(q);
  return tflite::read_int8_tflite(bytes.data(), bytes.size(), "written.tflite").file.model;
}

class TfliteWriteRoundTrip : public ::testing::TestWithParam<const char *> {};

TEST_P(TfliteWriteRoundTrip, ReadBackIdenticalIntegersAndOutputs) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, GetParam(), 5);
  const QModel back = round_trip(q);
  expect_same_model(q, back);
  expect_same_outputs(q, back);
}

INSTANTIATE_TEST_SUITE_P(Presets, TfliteWriteRoundTrip, ::testing::Values("rps-cnn", "rps-resnet", "rps-mobile"),
                         [](const auto &info) {
                           std::string n = info.param;
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(TfliteWrite, PerTensorConvWeightsRoundTrip) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "rps-cnn", 9, quant::WeightMode::PerTensor);
  const QModel back = round_trip(q);
  expect_same_model(q, back);
  expect_same_outputs(q, back);
}

// A concat whose inputs already carry its output's scale and zero point is a byte copy in TFLite Micro too.
const char *const kConcatSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) "
    "softmax";

TEST(TfliteWrite, ConcatWithSharedParametersRoundTrips) {
  TempDir dir;
  QModel q = tflite_ready_model(dir, kConcatSpec, 3);
  quant::normalize(q);
  for (const auto &l : q.layers)
    if (l.op == Op::Concat)
      for (const int p : l.inputs) {
        ASSERT_GE(p, 0);
        q.layers[static_cast<size_t>(p)].q.output = l.q.output;
      }
  quant::normalize(q);
  for (auto &l : q.layers) quant::derive_requantization(l);
  const QModel back = round_trip(q);
  expect_same_model(q, back);
  expect_same_outputs(q, back);
}

TEST(TfliteWrite, RefusesConcatThatRequantizes) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, kConcatSpec, 3);
  try {
    tflite::int8_tflite_bytes(q);
    FAIL() << "a requantizing concat was written";
  } catch (const Error &e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Concat"), std::string::npos) << m;
    EXPECT_NE(m.find("CONCATENATION copies bytes without requantizing"), std::string::npos) << m;
    EXPECT_NE(m.find(".onnx"), std::string::npos) << m;
  }
}

TEST(TfliteWrite, RefusesPerChannelDense) {
  TempDir dir;
  const QModel q = test::quantized_random_model(dir, "rps-cnn", 32, 5);  // Dense per-channel
  try {
    tflite::int8_tflite_bytes(q);
    FAIL() << "a per-channel FULLY_CONNECTED was written";
  } catch (const Error &e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("layer 7 Dense+relu"), std::string::npos) << m;
    EXPECT_NE(m.find("--weights per-tensor"), std::string::npos) << m;
  }
}

// A clamp or multiplier TFLite Micro would not derive from the file is refused, naming the layer.
TEST(TfliteWrite, RefusesIntegersTfliteWouldNotDerive) {
  TempDir dir;
  const QModel good = tflite_ready_model(dir, "rps-mobile", 2);
  QModel q = good;
  size_t k = 0;
  while (q.layers[k].q.activation != "relu6") ++k;
  q.layers[k].q.act_max -= 1;
  EXPECT_THROW(
      {
        try {
          tflite::int8_tflite_bytes(q);
        } catch (const Error &e) {
          EXPECT_NE(std::string(e.what()).find("layer " + std::to_string(k) + " "), std::string::npos) << e.what();
          EXPECT_NE(std::string(e.what()).find("fused relu6"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  q = good;
  q.layers[0].q.multiplier[1] += 1;
  EXPECT_THROW(tflite::int8_tflite_bytes(q), Error);
}

// TFLite's per-tensor FULLY_CONNECTED multiplier comes from the float32 product of the scales.
TEST(TfliteWrite, PerTensorDenseMultiplierIsTflites) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "rps-cnn", 5);
  int dense = 0;
  for (const auto &l : q.layers) {
    if (l.op != Op::Dense) continue;
    ++dense;
    const float product = static_cast<float>(l.q.input.scale) * static_cast<float>(l.q.weight_scale[0]);
    const auto m = quant::quantize_multiplier(static_cast<double>(product) / l.q.output.scale);
    for (size_t c = 0; c < l.q.multiplier.size(); ++c) {
      EXPECT_EQ(l.q.weight_scale[c], l.q.weight_scale[0]);
      EXPECT_EQ(l.q.multiplier[c], m.multiplier);
      EXPECT_EQ(l.q.shift[c], m.shift);
    }
  }
  EXPECT_EQ(dense, 2);
}

// What TFLite Micro reads: schema version, the empty buffer 0, operator codes, per-channel quantization on
// the right axes, int32 biases at input_scale * weight_scale, aligned constant data, the edges' parameters,
// metadata.
TEST(TfliteWrite, FileStructureIsWhatTfliteMicroReads) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "rps-mobile", 4);
  const auto bytes = tflite::int8_tflite_bytes(q, {{"qparity.arch", "rps-mobile"}});
  flatbuffers::Verifier v(bytes.data(), bytes.size());
  ASSERT_TRUE(tflite::fb::VerifyModelBuffer(v));
  ASSERT_TRUE(tflite::is_tflite_bytes(bytes.data(), bytes.size()));
  const auto *m = tflite::fb::GetModel(bytes.data());
  EXPECT_EQ(m->version(), 3u);
  ASSERT_EQ(m->subgraphs()->size(), 1u);
  const auto *buffers = m->buffers();
  EXPECT_TRUE(buffers->Get(0)->data() == nullptr || buffers->Get(0)->data()->size() == 0);
  for (const auto *b : *buffers) {
    if (b->data() && b->data()->size() > 0) {
      EXPECT_EQ((b->data()->data() - bytes.data()) % 16, 0) << "constant data 16-byte aligned in the file";
    }
  }
  for (const auto *c : *m->operator_codes()) EXPECT_EQ(c->deprecated_builtin_code(), static_cast<int8_t>(c->builtin_code()));
  const auto *sg = m->subgraphs()->Get(0);
  const auto *tensors = sg->tensors();
  ASSERT_EQ(sg->inputs()->size(), 1u);
  ASSERT_EQ(sg->outputs()->size(), 1u);
  const auto *in = tensors->Get(static_cast<uint32_t>(sg->inputs()->Get(0)));
  EXPECT_EQ(in->type(), tflite::fb::TensorType_INT8);
  EXPECT_EQ(std::vector<int>(in->shape()->begin(), in->shape()->end()), (std::vector<int>{1, 32, 32, 3}));
  EXPECT_EQ(in->quantization()->scale()->Get(0), static_cast<float>(q.input_params().scale));
  EXPECT_EQ(in->quantization()->zero_point()->Get(0), q.input_params().zero_point);
  const auto *out = tensors->Get(static_cast<uint32_t>(sg->outputs()->Get(0)));
  EXPECT_EQ(out->quantization()->scale()->Get(0), 1.f / 256.f);
  EXPECT_EQ(out->quantization()->zero_point()->Get(0), -128);
  ASSERT_EQ(sg->operators()->size(), q.layers.size());
  for (size_t k = 0; k < q.layers.size(); ++k) {
    const QLayer &l = q.layers[k];
    const auto *op = sg->operators()->Get(static_cast<uint32_t>(k));
    const auto code = m->operator_codes()->Get(op->opcode_index())->builtin_code();
    if (l.op == Op::GlobalAvgPool) {
      EXPECT_EQ(code, tflite::fb::BuiltinOperator_AVERAGE_POOL_2D);
      EXPECT_EQ(op->builtin_options_as_Pool2DOptions()->filter_height(), l.in.h);
      EXPECT_EQ(op->builtin_options_as_Pool2DOptions()->filter_width(), l.in.w);
    }
    if (l.op != Op::Conv2D && l.op != Op::DepthwiseConv2D) continue;
    const bool dw = l.op == Op::DepthwiseConv2D;
    EXPECT_EQ(code, dw ? tflite::fb::BuiltinOperator_DEPTHWISE_CONV_2D : tflite::fb::BuiltinOperator_CONV_2D);
    const auto *w = tensors->Get(static_cast<uint32_t>(op->inputs()->Get(1)));
    const auto *b = tensors->Get(static_cast<uint32_t>(op->inputs()->Get(2)));
    EXPECT_EQ(w->quantization()->quantized_dimension(), dw ? 3 : 0);
    ASSERT_EQ(w->quantization()->scale()->size(), static_cast<uint32_t>(l.out.c));
    EXPECT_EQ(b->type(), tflite::fb::TensorType_INT32);
    for (int c = 0; c < l.out.c; ++c) {
      const float ws = static_cast<float>(l.q.weight_scale[static_cast<size_t>(c)]);
      EXPECT_EQ(w->quantization()->scale()->Get(static_cast<uint32_t>(c)), ws);
      EXPECT_EQ(w->quantization()->zero_point()->Get(static_cast<uint32_t>(c)), 0);
      EXPECT_EQ(b->quantization()->scale()->Get(static_cast<uint32_t>(c)), static_cast<float>(l.q.input.scale) * ws);
    }
    const auto *wdata = buffers->Get(w->buffer())->data();
    ASSERT_EQ(wdata->size(), l.q.weight.size());
    EXPECT_EQ(0, std::memcmp(wdata->data(), l.q.weight.data(), l.q.weight.size()));
  }
  std::map<std::string, std::string> meta;
  for (const auto *e : *m->metadata()) {
    const auto *d = buffers->Get(e->buffer())->data();
    meta[e->name()->str()] = std::string(reinterpret_cast<const char *>(d->data()), d->size());
  }
  EXPECT_EQ(meta["qparity.classes"], "rock\npaper\nscissors\n");
  EXPECT_EQ(meta["qparity.arch"], "rps-mobile");
  EXPECT_EQ(quant::parse_convention(meta["qparity.input"], "qparity.input"), q.convention);
  EXPECT_NE(meta["qparity.input.description"].find("int8 = pixel - 128"), std::string::npos) << meta["qparity.input.description"];
}

// Mean over H and W is TFLite's MEAN (axes [1, 2] as an int32 constant, keep_dims from the layer), not a pooling.
TEST(TfliteWrite, MeanIsTflitesMean) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "conv3x3(8) relu mean dense(K) softmax", 3);
  ASSERT_EQ(q.layers[1].op, Op::Mean);
  const auto bytes = tflite::int8_tflite_bytes(q);
  const auto *m = tflite::fb::GetModel(bytes.data());
  const auto *sg = m->subgraphs()->Get(0);
  const auto *op = sg->operators()->Get(1);
  EXPECT_EQ(m->operator_codes()->Get(op->opcode_index())->builtin_code(), tflite::fb::BuiltinOperator_MEAN);
  ASSERT_EQ(op->inputs()->size(), 2u);
  const auto *axes = sg->tensors()->Get(static_cast<uint32_t>(op->inputs()->Get(1)));
  EXPECT_EQ(axes->type(), tflite::fb::TensorType_INT32);
  const auto *data = m->buffers()->Get(axes->buffer())->data();
  ASSERT_EQ(data->size(), 8u);
  int32_t v[2];
  std::memcpy(v, data->data(), 8);
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v[1], 2);
  EXPECT_FALSE(op->builtin_options_as_ReducerOptions()->keep_dims());
  const auto *out = sg->tensors()->Get(static_cast<uint32_t>(op->outputs()->Get(0)));
  EXPECT_EQ(std::vector<int>(out->shape()->begin(), out->shape()->end()), (std::vector<int>{1, 8}));
  EXPECT_EQ(out->quantization()->scale()->Get(0), static_cast<float>(q.layers[1].q.output.scale));
  const QModel back = round_trip(q);
  expect_same_model(q, back);
  expect_same_outputs(q, back);
}

TEST(TfliteWrite, QdqToTfliteToQdqKeepsTheIntegers) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "rps-resnet", 6);
  const std::string a = (dir / "a.onnx").string(), t = (dir / "a.tflite").string(), b = (dir / "b.onnx").string();
  quant::save_qdq_onnx(q, a);
  const QModel from_qdq = quant::load_qdq_onnx(a).model;
  tflite::save_int8_tflite(from_qdq, t);
  const QModel from_tflite = tflite::load_int8_tflite(t).file.model;
  quant::save_qdq_onnx(from_tflite, b);
  const QModel again = quant::load_qdq_onnx(b).model;
  expect_same_model(q, from_tflite);
  expect_same_model(q, again);
  expect_same_outputs(q, again);
}

std::string slurp(const std::filesystem::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(TfliteWrite, WriteInt8ModelByExtensionWithLabels) {
  TempDir dir;
  const QModel q = tflite_ready_model(dir, "rps-cnn", 7);
  const std::string t = (dir / "m.tflite").string();
  EXPECT_EQ(tflite::write_int8_model(q, t, {}, false), (dir / "labels.txt").string());
  EXPECT_TRUE(tflite::is_tflite_file(t));
  EXPECT_EQ(slurp(dir / "labels.txt"), "rock\npaper\nscissors\n");
  auto expect_error = [&](const std::string &path, bool force, const std::string &text) {
    try {
      tflite::write_int8_model(q, path, {}, force);
      FAIL() << path << " was written";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect_error(t, false, "already exists");
  expect_error((dir / "m.bin").string(), false, "unknown model format '.bin'");
  expect_error((dir / "m").string(), true, "no file extension");
  EXPECT_FALSE(std::filesystem::exists(dir / "m.bin"));
  // The same labels.txt is kept; another one is refused without force, replaced with it.
  EXPECT_NO_THROW(tflite::write_int8_model(q, (dir / "n.tflite").string(), {}, false));
  { std::ofstream(dir / "labels.txt") << "cat\ndog\n"; }
  expect_error((dir / "o.tflite").string(), false, "labels.txt' already exists with other class names");
  EXPECT_FALSE(std::filesystem::exists(dir / "o.tflite"));
  EXPECT_NO_THROW(tflite::write_int8_model(q, (dir / "o.tflite").string(), {}, true));
  EXPECT_EQ(slurp(dir / "labels.txt"), "rock\npaper\nscissors\n");
  // .onnx stays QDQ ONNX, without labels.txt.
  EXPECT_EQ(tflite::write_int8_model(q, (dir / "m.onnx").string(), {}, false), "");
  EXPECT_TRUE(quant::is_int8_onnx((dir / "m.onnx").string()));
}

}  // namespace
}  // namespace qp

namespace qp {
namespace {

// A foreign .tflite written back keeps its tensors' names (the input's and every layer output's), and the bytes it
// computes: names are data of the tensors, not of qparity's own numbering.
TEST(TfliteWrite, ForeignModelKeepsItsTensorNames) {
  const auto t = tflite::load_int8_tflite(std::string(QP_SOURCE_DIR) + "/tests/fixtures/resnet8/pretrainedResnet_quant.tflite");
  const QModel &q = t.file.model;
  ASSERT_EQ(q.tensor_name(model::kGraphInput), "input_1_int8");
  const QModel back = round_trip(q);
  EXPECT_EQ(back.tensor_name(model::kGraphInput), q.tensor_name(model::kGraphInput));
  ASSERT_EQ(back.layers.size(), q.layers.size());
  for (size_t k = 0; k < q.layers.size(); ++k) {
    EXPECT_FALSE(q.layers[k].q.name.empty()) << k;
    EXPECT_EQ(back.layers[k].q.name, q.layers[k].q.name) << k;
  }
  expect_same_model(q, back);
  // A model without names (qparity's own) is written with qparity's ("input", "l<k>.<op>"), read back as no names.
  QModel anon = q;
  anon.set_tensor_name(model::kGraphInput, "");
  for (auto &l : anon.layers) l.q.name.clear();
  const auto bytes = tflite::int8_tflite_bytes(anon);
  const auto *file = tflite::fb::GetModel(bytes.data());
  const auto *tensors = file->subgraphs()->Get(0)->tensors();
  std::set<std::string> written;
  for (const auto *x : *tensors)
    if (x->name() != nullptr) written.insert(x->name()->str());
  EXPECT_TRUE(written.count("input") && written.count("l3.Add")) << "qparity's own tensor names";
  const QModel unnamed = tflite::read_int8_tflite(bytes.data(), bytes.size(), "written.tflite").file.model;
  EXPECT_EQ(unnamed.tensor_name(model::kGraphInput), "");
  for (const auto &l : unnamed.layers) EXPECT_EQ(l.q.name, "");
}

}  // namespace
}  // namespace qp
