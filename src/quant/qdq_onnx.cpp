#include "quant/qdq_onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sha256.h"
#include "data/image_io.h"
#include "model/onnx_proto.h"

namespace qp::quant {

using model::Op;

namespace {

using model::onnxp::add_initializer;

onnx::NodeProto *node(onnx::GraphProto *g, const std::string &op, const std::vector<std::string> &in, const std::string &out) {
  return model::onnxp::add_node(g, op, in, out, out + "_" + op);
}
const auto &ints = model::onnxp::attr_ints;
const auto &one_int = model::onnxp::attr_int;

// Quantize + dequantize `x` with (scale, zp): returns the dequantized tensor's name.
std::string qdq(onnx::GraphProto *g, const std::string &x, const QParams &p, const std::string &id,
                const std::string &out_name = "") {
  add_initializer<float>(g, id + ".y_scale", onnx::TensorProto::FLOAT, {}, {static_cast<float>(p.scale)});
  add_initializer<int8_t>(g, id + ".y_zp", onnx::TensorProto::INT8, {}, {static_cast<int8_t>(p.zero_point)});
  node(g, "QuantizeLinear", {x, id + ".y_scale", id + ".y_zp"}, id + "_q");
  const std::string dq = out_name.empty() ? id + "_dq" : out_name;
  node(g, "DequantizeLinear", {id + "_q", id + ".y_scale", id + ".y_zp"}, dq);
  return dq;
}

nlohmann::ordered_json layer_json(const QLayer &l) {
  return {{"op", model::op_name(l.op)},
          {"activation", l.activation},
          {"kernel", l.kernel},
          {"stride", l.stride},
          {"pad_top", l.pad_top},
          {"pad_left", l.pad_left},
          {"in", {l.in.c, l.in.h, l.in.w}},
          {"out", {l.out.c, l.out.h, l.out.w}},
          {"fp32_index", l.fp32_index}};
}

Op op_from_name(const std::string &s, const std::string &path) {
  for (Op op :
       {Op::Conv2D, Op::DepthwiseConv2D, Op::Dense, Op::MaxPool, Op::AvgPool, Op::GlobalAvgPool, Op::Flatten, Op::Softmax})
    if (s == model::op_name(op)) return op;
  fail("'" + path + "': unknown layer '" + s + "' in qparity.int8.layers", "re-quantize the model with this qparity");
}

}  // namespace

void save_qdq_onnx(const QModel &m, const std::string &path, const std::map<std::string, std::string> &extra) {
  onnx::ModelProto model;
  nlohmann::ordered_json layers = nlohmann::json::array();
  for (const auto &l : m.layers) layers.push_back(layer_json(l));
  std::map<std::string, std::string> meta = {
      {"qparity.precision", "int8"},
      {"qparity.classes", nlohmann::json(m.classes).dump()},
      {"qparity.input", "float32 NCHW [N," + std::to_string(m.input.c) + "," + std::to_string(m.input.h) + "," +
                            std::to_string(m.input.w) +
                            "], RGB pixel values scaled to [0,1] as p/255; on the device q = p - 128"},
      {"qparity.int8.layers", layers.dump()},
      {"qparity.quant.weights", m.options.weights == WeightMode::PerChannel ? "per-channel" : "per-tensor"},
      {"qparity.quant.calibration", m.options.calibration == CalibMode::MinMax       ? "minmax"
                                    : m.options.calibration == CalibMode::Percentile ? "percentile"
                                                                                     : "mse"},
      {"qparity.quant.calib_count", std::to_string(m.options.calib_count)},
      {"qparity.quant.seed", std::to_string(m.options.seed)}};
  for (const auto &[k, v] : extra) meta[k] = v;
  model::onnxp::init_model(&model, "qparity INT8 classifier (QDQ); input float32 NCHW, pixels p/255", meta);
  auto *g = model.mutable_graph();
  g->set_name("qparity_int8");
  model::onnxp::set_float_value_info(g->add_input(), "input", {m.input.c, m.input.h, m.input.w});
  std::string cur = qdq(g, "input", m.input_params, "in");
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const QLayer &l = m.layers[k];
    const std::string id = "l" + std::to_string(k);
    std::string out = id + "_f";
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D:
      case Op::Dense: {
        const int64_t oc = l.out.c;
        std::vector<int8_t> w(l.weight.size());
        std::vector<int64_t> dims;
        if (l.op == Op::Conv2D) {  // OHWI -> OIHW
          const int ic = l.in.c, kk = l.kernel;
          for (int o = 0; o < oc; ++o)
            for (int y = 0; y < kk; ++y)
              for (int x = 0; x < kk; ++x)
                for (int i = 0; i < ic; ++i)
                  w[((static_cast<size_t>(o) * ic + i) * kk + y) * kk + x] =
                      l.weight[((static_cast<size_t>(o) * kk + y) * kk + x) * ic + i];
          dims = {oc, ic, kk, kk};
        } else if (l.op == Op::DepthwiseConv2D) {  // [1][K][K][C] -> [C][1][K][K]
          const int kk = l.kernel;
          for (int c = 0; c < oc; ++c)
            for (int y = 0; y < kk; ++y)
              for (int x = 0; x < kk; ++x)
                w[(static_cast<size_t>(c) * kk + y) * kk + x] = l.weight[(static_cast<size_t>(y) * kk + x) * oc + c];
          dims = {oc, 1, kk, kk};
        } else {  // Dense: columns back to CHW order when the input was a flattened map
          model::Shape map;
          const bool permute = flattens_map(k ? &m.layers[k - 1] : nullptr, &map);
          const size_t in = static_cast<size_t>(l.in.c);
          for (size_t o = 0; o < static_cast<size_t>(oc); ++o)
            for (size_t i = 0; i < in; ++i) w[o * in + i] = l.weight[o * in + (permute ? chw_to_hwc(i, map) : i)];
          dims = {oc, static_cast<int64_t>(in)};
        }
        std::vector<float> ws(l.weight_scale.begin(), l.weight_scale.end()), bs(static_cast<size_t>(oc));
        for (size_t c = 0; c < bs.size(); ++c) bs[c] = static_cast<float>(l.input.scale * l.weight_scale[c]);
        add_initializer<int8_t>(g, id + ".w_q", onnx::TensorProto::INT8, dims, w);
        add_initializer<float>(g, id + ".w_scale", onnx::TensorProto::FLOAT, {oc}, ws);
        add_initializer<int8_t>(g, id + ".w_zp", onnx::TensorProto::INT8, {oc}, std::vector<int8_t>(static_cast<size_t>(oc), 0));
        add_initializer<int32_t>(g, id + ".b_q", onnx::TensorProto::INT32, {oc}, l.bias);
        add_initializer<float>(g, id + ".b_scale", onnx::TensorProto::FLOAT, {oc}, bs);
        add_initializer<int32_t>(g, id + ".b_zp", onnx::TensorProto::INT32, {oc},
                                 std::vector<int32_t>(static_cast<size_t>(oc), 0));
        one_int(node(g, "DequantizeLinear", {id + ".w_q", id + ".w_scale", id + ".w_zp"}, id + ".w"), "axis", 0);
        one_int(node(g, "DequantizeLinear", {id + ".b_q", id + ".b_scale", id + ".b_zp"}, id + ".b"), "axis", 0);
        const std::string pre = l.activation.empty() ? out : id + "_pre";
        if (l.op == Op::Dense) {
          one_int(node(g, "Gemm", {cur, id + ".w", id + ".b"}, pre), "transB", 1);
        } else {
          auto *n = node(g, "Conv", {cur, id + ".w", id + ".b"}, pre);
          const int pb = (l.out.h - 1) * l.stride + l.kernel - l.in.h - l.pad_top;
          const int pr = (l.out.w - 1) * l.stride + l.kernel - l.in.w - l.pad_left;
          ints(n, "kernel_shape", {l.kernel, l.kernel});
          ints(n, "strides", {l.stride, l.stride});
          ints(n, "pads", {l.pad_top, l.pad_left, std::max(pb, 0), std::max(pr, 0)});
          one_int(n, "group", l.op == Op::Conv2D ? 1 : l.in.c);
        }
        if (l.activation == "relu") node(g, "Relu", {pre}, out);
        if (l.activation == "relu6") {
          add_initializer<float>(g, id + ".min", onnx::TensorProto::FLOAT, {}, {0.f});
          add_initializer<float>(g, id + ".max", onnx::TensorProto::FLOAT, {}, {6.f});
          node(g, "Clip", {pre, id + ".min", id + ".max"}, out);
        }
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: {
        auto *n = node(g, l.op == Op::MaxPool ? "MaxPool" : "AveragePool", {cur}, out);
        ints(n, "kernel_shape", {l.kernel, l.kernel});
        ints(n, "strides", {l.stride, l.stride});
        break;
      }
      case Op::GlobalAvgPool:
        node(g, "GlobalAveragePool", {cur}, id + "_pooled");
        one_int(node(g, "Flatten", {id + "_pooled"}, out), "axis", 1);
        break;
      case Op::Flatten: one_int(node(g, "Flatten", {cur}, out), "axis", 1); break;
      case Op::Softmax: one_int(node(g, "Softmax", {cur}, out), "axis", 1); break;
      default: fail("internal: unexpected layer in a QModel");
    }
    cur = qdq(g, out, l.output, id, k + 1 == m.layers.size() ? "probs" : "");
  }
  model::onnxp::set_float_value_info(g->add_output(), cur, {m.layers.back().out.c});
  model::onnxp::check_and_write(model, path, "INT8 model");
}

namespace {

bool parse_model(const std::string &path, onnx::ModelProto &model, std::vector<uint8_t> &bytes) {
  if (!std::filesystem::is_regular_file(path)) return false;
  bytes = data::read_file_bytes(path);
  return !bytes.empty() && model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) && model.has_graph();
}

std::string meta(const onnx::ModelProto &m, const std::string &key) {
  for (const auto &p : m.metadata_props())
    if (p.key() == key) return p.value();
  return "";
}

const char *kRequantize = "re-quantize the model with 'qparity quantize'";

// An initializer of type `type` and exactly the dims `dims`, stored as raw data (as save_qdq_onnx
// writes it). qp::Error naming the file and tensor otherwise.
template <typename T>
std::vector<T> read_init(const std::map<std::string, const onnx::TensorProto *> &inits, const std::string &name, int type,
                         const std::vector<int64_t> &dims, const std::string &path) {
  const auto it = inits.find(name);
  if (it == inits.end()) fail("'" + path + "': tensor '" + name + "' is missing", kRequantize);
  const auto &t = *it->second;
  const size_t count = static_cast<size_t>(model::checked_element_count(dims, "'" + path + "': tensor '" + name + "'"));
  if (t.data_type() != type || !std::equal(t.dims().begin(), t.dims().end(), dims.begin(), dims.end()) ||
      t.raw_data().size() != count * sizeof(T))
    fail("'" + path + "': tensor '" + name + "' has the wrong type, dims or size (truncated or edited file?)", kRequantize);
  std::vector<T> v(count);
  if (count) std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  return v;
}

// A JSON integer within [lo, hi] (hi <= INT_MAX): read exactly, never truncated. `what` names it.
int int_in_range(const nlohmann::json &v, int64_t lo, int64_t hi, const std::string &what) {
  if (!v.is_number_integer()) fail(what + " is not an integer", kRequantize);
  const bool fits =
      v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!fits) fail(what + " = " + v.dump() + " is not in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", kRequantize);
  return static_cast<int>(v.get<int64_t>());
}

// An integer field of a layer entry in the metadata.
int layer_int(const nlohmann::json &j, const char *key, int64_t lo, int64_t hi, const std::string &where) {
  const auto it = j.find(key);
  if (it == j.end()) fail(where + ": '" + key + "' is missing", kRequantize);
  return int_in_range(*it, lo, hi, where + ": '" + key + "'");
}

// A [c, h, w] shape of the metadata: three positive ints, within the activation limit.
model::Shape layer_shape(const nlohmann::json &j, const char *key, const std::string &where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 3)
    fail(where + ": '" + key + "' is missing or not a [c, h, w] list", kRequantize);
  const std::string what = where + ": '" + key + "'";
  const int c = int_in_range(it->at(0), 1, model::kMaxActivationElements, what + " channels");
  const int h = int_in_range(it->at(1), 1, model::kMaxActivationElements, what + " height");
  const int w = int_in_range(it->at(2), 1, model::kMaxActivationElements, what + " width");
  const int64_t dims[] = {c, h, w};
  model::checked_element_count(dims, what, model::kMaxActivationElements);
  return {c, h, w};
}

// One spatial side of a conv output: 'valid' (no padding) or 'same' (TF's split), the only two the
// quantizer writes. True when (out, pad_before) is one of them for (in, k, stride).
bool window_side_ok(int in, int k, int stride, int out, int pad_before) {
  if (k < 1 || stride < 1) return false;  // found by fuzz_qdq: a stride of 0 divided by zero here
  if (in >= k && out == (in - k) / stride + 1 && pad_before == 0) return true;
  const int same = (in + stride - 1) / stride;
  const int total = std::max((same - 1) * stride + k - in, 0);
  return out == same && pad_before == total / 2;
}

// Checks a layer's shapes, window and activation against its op, and that it takes what the layer
// before it gives (`prev_out`): the kernels index with these numbers, so a file that does not chain
// would read out of bounds. qp::Error naming the layer.
void check_layer_shape(const QLayer &l, const model::Shape &prev_out, const std::string &where) {
  if (!(l.in == prev_out))
    fail(where + ": declared input " + model::shape_str(l.in) + " is not the previous layer's output " +
             model::shape_str(prev_out),
         kRequantize);
  const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
  if (!l.activation.empty() && (!weighted || (l.activation != "relu" && l.activation != "relu6")))
    fail(where + ": activation '" + l.activation + "' is not supported here", kRequantize);
  const bool flat_in = l.in.h == 1 && l.in.w == 1;
  bool ok = true;
  switch (l.op) {
    case Op::Conv2D:
    case Op::DepthwiseConv2D:
      ok = (l.op == Op::Conv2D || l.out.c == l.in.c) && window_side_ok(l.in.h, l.kernel, l.stride, l.out.h, l.pad_top) &&
           window_side_ok(l.in.w, l.kernel, l.stride, l.out.w, l.pad_left);
      break;
    case Op::MaxPool:
    case Op::AvgPool:
      // No padding ('valid'), as the pooling kernels assume.
      ok = l.out.c == l.in.c && l.pad_top == 0 && l.pad_left == 0 && l.in.h >= l.kernel && l.in.w >= l.kernel &&
           l.out.h == (l.in.h - l.kernel) / l.stride + 1 && l.out.w == (l.in.w - l.kernel) / l.stride + 1;
      break;
    case Op::GlobalAvgPool: ok = l.out == model::Shape{l.in.c, 1, 1}; break;
    case Op::Flatten: ok = l.out == model::Shape{static_cast<int>(l.in.size()), 1, 1}; break;
    case Op::Dense: ok = flat_in && l.out.h == 1 && l.out.w == 1; break;
    case Op::Softmax: ok = flat_in && l.out == l.in; break;
    default: ok = false; break;
  }
  if (!ok)
    fail(where + ": output " + model::shape_str(l.out) + " does not follow from input " + model::shape_str(l.in) + ", kernel " +
             std::to_string(l.kernel) + ", stride " + std::to_string(l.stride) + " and padding (" + std::to_string(l.pad_top) +
             ", " + std::to_string(l.pad_left) + ")",
         kRequantize);
}

// The ONNX node that computes a layer must say what the metadata says (ONNX Runtime runs the graph,
// qparity the metadata): op, and for conv/pool the window, stride and padding.
void check_layer_node(const QLayer &l, const std::string &id, const std::map<std::string, const onnx::NodeProto *> &by_output,
                      const std::string &where) {
  const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
  const std::string out = l.op == Op::GlobalAvgPool           ? id + "_pooled"
                          : weighted && !l.activation.empty() ? id + "_pre"
                                                              : id + "_f";
  const std::string want = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D ? "Conv"
                           : l.op == Op::Dense                               ? "Gemm"
                           : l.op == Op::MaxPool                             ? "MaxPool"
                           : l.op == Op::AvgPool                             ? "AveragePool"
                           : l.op == Op::GlobalAvgPool                       ? "GlobalAveragePool"
                           : l.op == Op::Flatten                             ? "Flatten"
                                                                             : "Softmax";
  const auto it = by_output.find(out);
  if (it == by_output.end() || it->second->op_type() != want)
    fail(where + ": the graph has no " + want + " node computing '" + out + "'", kRequantize);
  const auto &n = *it->second;
  auto attr = [&](const char *name) -> const onnx::AttributeProto * {
    for (const auto &a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  };
  auto ints = [&](const char *name) {
    const auto *a = attr(name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  };
  if (want == "Conv" || want == "MaxPool" || want == "AveragePool") {
    const std::vector<int64_t> k = {l.kernel, l.kernel}, st = {l.stride, l.stride};
    // The padding save_qdq_onnx writes: before as stored, after what makes the output size.
    const int64_t pb = std::max((l.out.h - 1) * l.stride + l.kernel - l.in.h - l.pad_top, 0);
    const int64_t pr = std::max((l.out.w - 1) * l.stride + l.kernel - l.in.w - l.pad_left, 0);
    const auto pads = ints("pads");
    const bool pads_ok = want != "Conv" ? std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })
                                        : pads == std::vector<int64_t>{l.pad_top, l.pad_left, pb, pr};
    const int64_t groups = attr("group") ? attr("group")->i() : 1;
    const bool group_ok = want != "Conv" || groups == (l.op == Op::Conv2D ? 1 : l.in.c);
    if (ints("kernel_shape") != k || ints("strides") != st || !pads_ok || !group_ok)
      fail(where + ": node '" + n.name() + "' (" + want +
               ") has a kernel_shape, strides, pads or group other than the layer's (" + std::to_string(l.kernel) + ", " +
               std::to_string(l.stride) + ", " + std::to_string(l.pad_top) + ")",
           kRequantize);
  }
}

}  // namespace

bool is_int8_onnx(const std::string &path) {
  onnx::ModelProto model;
  std::vector<uint8_t> bytes;
  return parse_model(path, model, bytes) && meta(model, "qparity.precision") == "int8";
}

QModelFile load_qdq_onnx(const std::string &path) {
  onnx::ModelProto model;
  std::vector<uint8_t> bytes;
  if (!std::filesystem::is_regular_file(path))
    fail("model file '" + path + "' does not exist", "pass the .onnx written by 'qparity quantize'");
  if (!parse_model(path, model, bytes))
    fail("'" + path + "' is not an ONNX model (it does not parse as one, or it is truncated)",
         "pass the .onnx written by 'qparity quantize'");
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail("'" + path + "' is not a valid ONNX model: " + std::string(e.what()).substr(0, 300), "re-quantize the model");
  }
  const std::string precision = meta(model, "qparity.precision");
  if (precision == "fp32")
    fail("'" + path + "' is an FP32 model; this needs the INT8 model",
         "quantize it first: qparity quantize --model " + path + " --calib DATA/train --out int8.onnx");
  if (precision != "int8" || meta(model, "qparity.int8.layers").empty())
    fail("'" + path + "' is not a qparity INT8 model (no qparity.int8.layers metadata)",
         "quantize the FP32 model with 'qparity quantize'");
  QModelFile f;
  f.path = path;
  f.file_bytes = static_cast<int64_t>(bytes.size());
  f.sha256 = sha256_hex(bytes.data(), bytes.size());
  for (const auto &p : model.metadata_props()) f.metadata[p.key()] = p.value();
  std::map<std::string, const onnx::TensorProto *> inits;
  for (const auto &t : model.graph().initializer()) inits[t.name()] = &t;
  std::map<std::string, const onnx::NodeProto *> by_output;
  for (const auto &n : model.graph().node())
    for (const auto &o : n.output()) by_output[o] = &n;
  QModel &m = f.model;
  const std::string file = "'" + path + "'";
  try {
    m.classes = nlohmann::json::parse(f.metadata["qparity.classes"]).get<std::vector<std::string>>();
    const auto layers = nlohmann::json::parse(f.metadata["qparity.int8.layers"]);
    if (!layers.is_array() || layers.empty() || layers.size() > 10000)
      fail(file + ": the qparity.int8.layers metadata is not a list of layers", kRequantize);
    // Activation parameters: scale finite and > 0 (a zero point of type int8 is in range by type).
    auto qparams = [&](const std::string &id) {
      QParams p;
      p.scale = read_init<float>(inits, id + ".y_scale", onnx::TensorProto::FLOAT, {}, path)[0];
      p.zero_point = read_init<int8_t>(inits, id + ".y_zp", onnx::TensorProto::INT8, {}, path)[0];
      if (!(std::isfinite(p.scale) && p.scale > 0))
        fail(file + ": activation scale '" + id + ".y_scale' = " + std::to_string(p.scale) + " is not a finite number > 0",
             kRequantize);
      return p;
    };
    m.input_params = qparams("in");
    // The engines and the firmware compute q = p - 128 from the pixels: the file must say so.
    if (m.input_params.scale != QModel{}.input_params.scale || m.input_params.zero_point != -128)
      fail(file + ": the input quantization (scale " + std::to_string(m.input_params.scale) + ", zero point " +
               std::to_string(m.input_params.zero_point) + ") is not qparity's q = p - 128 (scale 1/255, zero point -128)",
           kRequantize);
    QParams cur = m.input_params;
    for (size_t k = 0; k < layers.size(); ++k) {
      const auto &j = layers[k];
      const std::string id = "l" + std::to_string(k);
      std::string where = file + " layer " + std::to_string(k);
      if (!j.is_object() || !j.contains("op") || !j.at("op").is_string())
        fail(where + ": the layer entry has no op name", kRequantize);
      QLayer l;
      l.op = op_from_name(j.at("op").get<std::string>(), path);
      where += " (" + std::string(model::op_name(l.op)) + ")";
      l.activation = j.at("activation").get<std::string>();
      const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
      const bool windowed = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::MaxPool || l.op == Op::AvgPool;
      l.kernel = layer_int(j, "kernel", windowed ? 1 : 0, model::kMaxWindow, where);
      l.stride = layer_int(j, "stride", 1, model::kMaxWindow, where);
      l.pad_top = layer_int(j, "pad_top", 0, std::max(l.kernel - 1, 0), where);
      l.pad_left = layer_int(j, "pad_left", 0, std::max(l.kernel - 1, 0), where);
      l.in = layer_shape(j, "in", where);
      l.out = layer_shape(j, "out", where);
      l.fp32_index = layer_int(j, "fp32_index", -1, 1 << 20, where);
      if (k == 0) {
        m.input = l.in;
        if (m.input.c != 3 || m.input.h > model::kMaxInputSide || m.input.w > model::kMaxInputSide)
          fail(file + ": the model takes " + model::shape_str(m.input) +
                   " inputs; qparity feeds RGB images (3 channels) of at most " + std::to_string(model::kMaxInputSide) +
                   " pixels a side",
               "quantize a model with a 3-channel [N,3,H,W] input (grayscale models are not supported yet)");
      }
      check_layer_shape(l, k ? m.layers[k - 1].out : m.input, where);
      check_layer_node(l, id, by_output, where);
      l.input = cur;
      l.output = qparams(id);
      if (weighted) {
        const int64_t oc = l.out.c, ic = l.in.c, kk = l.kernel;
        const std::vector<int64_t> wdims = l.op == Op::Dense    ? std::vector<int64_t>{oc, ic}
                                           : l.op == Op::Conv2D ? std::vector<int64_t>{oc, ic, kk, kk}
                                                                : std::vector<int64_t>{oc, 1, kk, kk};
        const size_t n = static_cast<size_t>(model::checked_element_count(wdims, where + " weights"));
        const auto w = read_init<int8_t>(inits, id + ".w_q", onnx::TensorProto::INT8, wdims, path);
        const auto ws = read_init<float>(inits, id + ".w_scale", onnx::TensorProto::FLOAT, {oc}, path);
        const auto wzp = read_init<int8_t>(inits, id + ".w_zp", onnx::TensorProto::INT8, {oc}, path);
        l.bias = read_init<int32_t>(inits, id + ".b_q", onnx::TensorProto::INT32, {oc}, path);
        const auto bs = read_init<float>(inits, id + ".b_scale", onnx::TensorProto::FLOAT, {oc}, path);
        const auto bzp = read_init<int32_t>(inits, id + ".b_zp", onnx::TensorProto::INT32, {oc}, path);
        for (size_t c = 0; c < static_cast<size_t>(oc); ++c) {
          const std::string ch = where + " channel " + std::to_string(c);
          if (!(std::isfinite(ws[c]) && ws[c] >= 0))
            fail(ch + ": weight scale " + std::to_string(ws[c]) + " is not a finite number >= 0", kRequantize);
          // The integer kernels take symmetric weights and the bias at input_scale * weight_scale.
          if (wzp[c] != 0 || bzp[c] != 0) fail(ch + ": weight and bias zero points must be 0 (symmetric int8)", kRequantize);
          if (bs[c] != static_cast<float>(cur.scale * ws[c]))
            fail(ch + ": bias scale " + std::to_string(bs[c]) + " is not input scale x weight scale", kRequantize);
        }
        l.weight_scale.assign(ws.begin(), ws.end());
        l.weight.resize(n);
        const int ick = l.in.c, kki = l.kernel;
        const size_t ocs = static_cast<size_t>(oc);
        if (l.op == Op::Conv2D) {
          for (size_t o = 0; o < ocs; ++o)
            for (int i = 0; i < ick; ++i)
              for (int y = 0; y < kki; ++y)
                for (int x = 0; x < kki; ++x)
                  l.weight[((o * kki + y) * kki + x) * ick + i] = w[((o * ick + i) * kki + y) * kki + x];
        } else if (l.op == Op::DepthwiseConv2D) {
          for (size_t c = 0; c < ocs; ++c)
            for (int y = 0; y < kki; ++y)
              for (int x = 0; x < kki; ++x) l.weight[(static_cast<size_t>(y) * kki + x) * ocs + c] = w[(c * kki + y) * kki + x];
        } else {
          model::Shape map;
          const bool permute = flattens_map(k ? &m.layers[k - 1] : nullptr, &map);
          const size_t in = static_cast<size_t>(ick);
          for (size_t o = 0; o < ocs; ++o)
            for (size_t i = 0; i < in; ++i) l.weight[o * in + (permute ? chw_to_hwc(i, map) : i)] = w[o * in + i];
        }
      } else if (l.op == Op::Softmax) {
        if (l.output.scale != 1.0 / 256.0 || l.output.zero_point != -128)
          fail(where + ": the softmax output must be scale 1/256, zero point -128 (what the kernel writes)", kRequantize);
      } else if (l.output.scale != cur.scale || l.output.zero_point != cur.zero_point) {
        // Pooling and flatten pass their input's quantization through unchanged.
        fail(where + ": output scale/zero point differ from its input's, but this layer does not requantize", kRequantize);
      }
      try {
        derive_requantization(l);
      } catch (const Error &e) {
        fail(where + ": " + e.what(), kRequantize);
      }
      // The int32 accumulator must not overflow for any input (what the quantizer proves).
      if (weighted)
        for (int c = 0; c < l.out.c; ++c)
          if (worst_case_accumulator(l, c) > std::numeric_limits<int32_t>::max())
            fail(where + " channel " + std::to_string(c) + ": the int32 accumulator could overflow (worst case " +
                     std::to_string(worst_case_accumulator(l, c)) + ")",
                 kRequantize);
      cur = l.output;
      m.layers.push_back(std::move(l));
    }
  } catch (const nlohmann::json::exception &e) {
    fail("'" + path + "': the qparity.int8.layers metadata is malformed (" + std::string(e.what()) + ")",
         "re-quantize the model");
  }
  if (m.layers.empty() || m.layers.back().op != Op::Softmax) fail("'" + path + "': the INT8 model does not end in Softmax");
  if (m.classes.empty() || m.classes.size() != static_cast<size_t>(m.layers.back().out.c))
    fail(file + ": metadata names " + std::to_string(m.classes.size()) + " classes but the model outputs " +
             std::to_string(m.layers.back().out.c),
         kRequantize);
  const auto get = [&](const char *k) { return f.metadata.count(k) ? f.metadata[k] : std::string(); };
  m.options.weights = get("qparity.quant.weights") == "per-tensor" ? WeightMode::PerTensor : WeightMode::PerChannel;
  return f;
}

std::string describe_int8_model(const QModelFile &f) {
  const QModel &m = f.model;
  std::string out;
  char line[256];
  std::string classes;
  for (const auto &c : m.classes) classes += (classes.empty() ? "" : ", ") + c;
  const auto get = [&](const char *k) { return f.metadata.count(k) ? f.metadata.at(k) : std::string("?"); };
  std::snprintf(line, sizeof line,
                "model     %s (INT8, QDQ)\narch      %s\nquant     %s weights, %s calibration on %s images\nclasses   %s\n",
                f.path.c_str(), get("qparity.arch").c_str(), get("qparity.quant.weights").c_str(),
                get("qparity.quant.calibration").c_str(), get("qparity.quant.calib_count").c_str(), classes.c_str());
  out += line;
  std::snprintf(line, sizeof line, "input     q = p - 128 (scale %.6g, zero point %d)\n\n", m.input_params.scale,
                m.input_params.zero_point);
  out += line;
  std::snprintf(line, sizeof line, "  #  %-16s %-6s %-14s %12s %5s %12s %5s %23s\n", "layer", "act", "output", "in scale",
                "in zp", "out scale", "out zp", "weight scales (min..max)");
  out += line;
  int64_t fp32_bytes = 0;
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const QLayer &l = m.layers[k];
    std::string ws = "-";
    if (!l.weight_scale.empty()) {
      const auto [lo, hi] = std::minmax_element(l.weight_scale.begin(), l.weight_scale.end());
      char b[64];
      std::snprintf(b, sizeof b, "%.3g..%.3g", *lo, *hi);
      ws = b;
      fp32_bytes += static_cast<int64_t>(4 * (l.weight.size() + l.bias.size()));
    }
    std::snprintf(line, sizeof line, "%3zu  %-16s %-6s %-14s %12.6g %5d %12.6g %5d %23s\n", k, model::op_name(l.op),
                  l.activation.empty() ? "-" : l.activation.c_str(), model::shape_str(l.out).c_str(), l.input.scale,
                  l.input.zero_point, l.output.scale, l.output.zero_point, ws.c_str());
    out += line;
  }
  const int64_t int8_bytes = m.int8_parameter_bytes();
  std::snprintf(line, sizeof line,
                "\nparameters  FP32 %lld bytes -> INT8 %lld bytes (int8 weights + int32 biases): %.2fx smaller, %.1f%% saved\n"
                "file        %lld bytes, sha256 %s\n",
                static_cast<long long>(fp32_bytes), static_cast<long long>(int8_bytes),
                static_cast<double>(fp32_bytes) / static_cast<double>(int8_bytes),
                100.0 * (1.0 - static_cast<double>(int8_bytes) / static_cast<double>(fp32_bytes)),
                static_cast<long long>(f.file_bytes), f.sha256.c_str());
  out += line;
  const auto it = f.metadata.find("qparity.quant.fp32_file_bytes");
  if (it != f.metadata.end()) {
    const long long fp32_file = std::atoll(it->second.c_str());
    if (fp32_file > 0 && f.file_bytes > 0) {
      std::snprintf(line, sizeof line, "file size   FP32 %lld bytes -> INT8 %lld bytes: %.2fx smaller, %.1f%% saved\n", fp32_file,
                    static_cast<long long>(f.file_bytes), static_cast<double>(fp32_file) / static_cast<double>(f.file_bytes),
                    100.0 * (1.0 - static_cast<double>(f.file_bytes) / static_cast<double>(fp32_file)));
      out += line;
    }
  }
  return out;
}

}  // namespace qp::quant
