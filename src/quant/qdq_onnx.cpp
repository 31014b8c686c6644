#include "quant/qdq_onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sha256.h"
#include "data/image_io.h"
#include "model/layout.h"
#include "model/onnx_proto.h"
#include "quant/multiplier.h"

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
  nlohmann::ordered_json j = {{"op", model::op_name(l.op)},
                              {"activation", l.q.activation},
                              {"kernel", l.kernel},
                              {"stride", l.stride},
                              {"pad_top", l.pad_top},
                              {"pad_left", l.pad_left},
                              {"in", {l.in.c, l.in.h, l.in.w}},
                              {"out", {l.out.c, l.out.h, l.out.w}},
                              {"inputs", l.inputs},
                              {"fp32_index", l.q.fp32_index}};
  // Only where they say something (files of models without them stay byte-identical).
  if (l.op == Op::Mean) j["keep_dims"] = l.keep_dims;
  if (l.op == Op::Softmax && l.softmax_beta != 1.0) j["softmax_beta"] = static_cast<float>(l.softmax_beta);
  if (!l.q.name.empty()) j["name"] = l.q.name;  // the output tensor's name in the model it was quantized from
  return j;
}

// The [top, left, bottom, right] padding of a conv/pool window layer as written in ONNX's pads: before as stored,
// after what makes the output size.
std::vector<int64_t> window_pads(const QLayer &l) {
  const int pb = (l.out.h - 1) * l.stride + l.kernel - l.in.h - l.pad_top;
  const int pr = (l.out.w - 1) * l.stride + l.kernel - l.in.w - l.pad_left;
  return {l.pad_top, l.pad_left, std::max(pb, 0), std::max(pr, 0)};
}

// ONNX Pad's pads input for a Pad layer (NCHW: begins of N, C, H, W, then ends): H and W only.
std::vector<int64_t> pad_pads(const QLayer &l) {
  return {0, 0, l.pad_top, l.pad_left, 0, 0, l.out.h - l.in.h - l.pad_top, l.out.w - l.in.w - l.pad_left};
}

Op op_from_name(const std::string &s, const std::string &path) {
  for (Op op :
       {Op::Conv2D, Op::DepthwiseConv2D, Op::Dense, Op::MaxPool, Op::AvgPool, Op::GlobalAvgPool, Op::Flatten, Op::Softmax,
        Op::Add, Op::Concat, Op::Pad, Op::Mean})
    if (s == model::op_name(op)) return op;
  fail("'" + path + "': unknown layer '" + s + "' in qparity.int8.layers", "re-quantize the model with this qparity");
}

// The fused activation of a conv/dense/add layer: Relu or Clip(0, 6) from `pre` to `out`.
void activation_node(onnx::GraphProto *g, const QLayer &l, const std::string &id, const std::string &pre,
                     const std::string &out) {
  if (l.q.activation == "relu") node(g, "Relu", {pre}, out);
  if (l.q.activation == "relu6") {
    add_initializer<float>(g, id + ".min", onnx::TensorProto::FLOAT, {}, {0.f});
    add_initializer<float>(g, id + ".max", onnx::TensorProto::FLOAT, {}, {6.f});
    node(g, "Clip", {pre, id + ".min", id + ".max"}, out);
  }
}

// The layer producing l's first input; nullptr for the model input.
const QLayer *producer_layer(const QModel &m, const QLayer &l) {
  return l.inputs.empty() || l.inputs[0] < 0 ? nullptr : &m.layers[static_cast<size_t>(l.inputs[0])];
}

// The graph output's name: the softmax's probabilities, or the logits of a model that ends without a Softmax.
std::string output_name(const QModel &m) { return m.outputs_logits() ? "logits" : "probs"; }

// Whether layer k's float tensor in the QDQ graph is [N, C] (Gemm, Flatten, GlobalAveragePool + Flatten, Softmax,
// ReduceMean without keepdims; Add and Concat keep their inputs' rank), else [N, C, H, W].
bool flat_tensor(const QModel &m, size_t k) {
  const QLayer &l = m.layers[k];
  switch (l.op) {
    case Op::Dense:
    case Op::GlobalAvgPool:
    case Op::Flatten:
    case Op::Softmax: return true;
    case Op::Mean: return !l.keep_dims;
    case Op::Add:
    case Op::Concat: return l.inputs[0] >= 0 && flat_tensor(m, static_cast<size_t>(l.inputs[0]));
    default: return false;
  }
}

}  // namespace

void save_qdq_onnx(const QModel &model_in, const std::string &path, const std::map<std::string, std::string> &extra) {
  QModel m = model_in;
  quant::normalize(m);  // every layer's inputs explicit (a chain's too) and checked
  onnx::ModelProto model;
  nlohmann::ordered_json layers = nlohmann::json::array();
  for (const auto &l : m.layers) layers.push_back(layer_json(l));
  std::map<std::string, std::string> meta = {
      {"qparity.precision", "int8"},
      {"qparity.classes", nlohmann::json(m.classes).dump()},
      {"qparity.input", "float32 NCHW [N," + std::to_string(m.input.c) + "," + std::to_string(m.input.h) + "," +
                            std::to_string(m.input.w) + "], " +
                            (m.input.c == 3 && m.convention.is_default() && m.input_params().zero_point == -128
                                 ? std::string("RGB pixel values scaled to [0,1] as p/255; on the device q = p - 128")
                                 : (m.input.c == 1 ? "luma " : "RGB ") + describe_convention(m.convention) + "; on the device " +
                                       describe_input_map(m.convention, m.input_params(), m.input.c))},
      {"qparity.int8.layers", layers.dump()},
      {"qparity.quant.weights", m.quant_options.weights == WeightMode::PerChannel ? "per-channel" : "per-tensor"},
      {"qparity.quant.calibration", m.quant_options.calibration == CalibMode::MinMax       ? "minmax"
                                    : m.quant_options.calibration == CalibMode::Percentile ? "percentile"
                                                                                           : "mse"},
      {"qparity.quant.calib_count", std::to_string(m.quant_options.calib_count)},
      {"qparity.quant.seed", std::to_string(m.quant_options.seed)}};
  // The convention as data (quant/input_map.h); a file without the key means range 0,1 (files of qparity's own models).
  if (!m.convention.is_default()) meta["qparity.input.convention"] = convention_to_string(m.convention);
  if (!m.tensor_name(model::kGraphInput).empty()) meta["qparity.input.name"] = m.tensor_name(model::kGraphInput);
  for (const auto &[k, v] : extra) meta[k] = v;
  model::onnxp::init_model(&model, "qparity INT8 classifier (QDQ); input float32 NCHW, pixels p/255", meta);
  auto *g = model.mutable_graph();
  g->set_name("qparity_int8");
  model::onnxp::set_float_value_info(g->add_input(), "input", {m.input.c, m.input.h, m.input.w});
  const std::string input_dq = qdq(g, "input", m.input_params(), "in");
  std::vector<std::string> tensor(m.layers.size());  // each layer's dequantized output
  auto name_of = [&](int p) { return p < 0 ? input_dq : tensor[static_cast<size_t>(p)]; };
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const QLayer &l = m.layers[k];
    const std::string id = "l" + std::to_string(k);
    const std::string cur = name_of(l.inputs[0]);
    std::string out = id + "_f";
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D:
      case Op::Dense: {
        const int64_t oc = l.out.c;
        std::vector<int8_t> w;
        std::vector<int64_t> dims;
        if (l.op == Op::Conv2D) {
          w = model::conv_ohwi_to_oihw(l.q.weight, l.out.c, l.in.c, l.kernel);
          dims = {oc, l.in.c, l.kernel, l.kernel};
        } else if (l.op == Op::DepthwiseConv2D) {
          w = model::depthwise_kkc_to_ckk(l.q.weight, l.out.c, l.kernel);
          dims = {oc, 1, l.kernel, l.kernel};
        } else {  // Dense: columns back to CHW order when the input was a flattened map
          model::Shape map;
          w = flattens_map(producer_layer(m, l), &map) ? model::dense_columns_hwc_to_chw(l.q.weight, l.out.c, map) : l.q.weight;
          dims = {oc, l.in.c};
        }
        std::vector<float> ws(l.q.weight_scale.begin(), l.q.weight_scale.end()), bs(static_cast<size_t>(oc));
        for (size_t c = 0; c < bs.size(); ++c) bs[c] = static_cast<float>(l.q.input.scale * l.q.weight_scale[c]);
        add_initializer<int8_t>(g, id + ".w_q", onnx::TensorProto::INT8, dims, w);
        add_initializer<float>(g, id + ".w_scale", onnx::TensorProto::FLOAT, {oc}, ws);
        add_initializer<int8_t>(g, id + ".w_zp", onnx::TensorProto::INT8, {oc}, std::vector<int8_t>(static_cast<size_t>(oc), 0));
        add_initializer<int32_t>(g, id + ".b_q", onnx::TensorProto::INT32, {oc}, l.q.bias);
        add_initializer<float>(g, id + ".b_scale", onnx::TensorProto::FLOAT, {oc}, bs);
        add_initializer<int32_t>(g, id + ".b_zp", onnx::TensorProto::INT32, {oc},
                                 std::vector<int32_t>(static_cast<size_t>(oc), 0));
        one_int(node(g, "DequantizeLinear", {id + ".w_q", id + ".w_scale", id + ".w_zp"}, id + ".w"), "axis", 0);
        one_int(node(g, "DequantizeLinear", {id + ".b_q", id + ".b_scale", id + ".b_zp"}, id + ".b"), "axis", 0);
        const std::string pre = l.q.activation.empty() ? out : id + "_pre";
        if (l.op == Op::Dense) {
          one_int(node(g, "Gemm", {cur, id + ".w", id + ".b"}, pre), "transB", 1);
        } else {
          auto *n = node(g, "Conv", {cur, id + ".w", id + ".b"}, pre);
          ints(n, "kernel_shape", {l.kernel, l.kernel});
          ints(n, "strides", {l.stride, l.stride});
          ints(n, "pads", window_pads(l));
          one_int(n, "group", l.op == Op::Conv2D ? 1 : l.in.c);  // depthwise: C groups of M outputs
        }
        activation_node(g, l, id, pre, out);
        break;
      }
      case Op::Add: {  // float Add of the two dequantized inputs; the QuantizeLinear after it requantizes
        const std::string pre = l.q.activation.empty() ? out : id + "_pre";
        node(g, "Add", {cur, name_of(l.inputs[1])}, pre);
        activation_node(g, l, id, pre, out);
        break;
      }
      case Op::Concat: {
        std::vector<std::string> ins;
        for (const int p : l.inputs) ins.push_back(name_of(p));
        one_int(node(g, "Concat", ins, out), "axis", 1);
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: {
        auto *n = node(g, l.op == Op::MaxPool ? "MaxPool" : "AveragePool", {cur}, out);
        ints(n, "kernel_shape", {l.kernel, l.kernel});
        ints(n, "strides", {l.stride, l.stride});
        // 'same': padded positions are ignored by MaxPool and not counted by AveragePool (count_include_pad 0).
        const auto pads = window_pads(l);
        if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) ints(n, "pads", pads);
        break;
      }
      case Op::Pad: {  // zeros around the dequantized input: the QuantizeLinear after it makes them the zero point
        add_initializer<int64_t>(g, id + ".pads", onnx::TensorProto::INT64, {8}, pad_pads(l));
        node(g, "Pad", {cur, id + ".pads"}, out);
        break;
      }
      case Op::Mean: {
        auto *n = node(g, "ReduceMean", {cur}, out);
        ints(n, "axes", {2, 3});
        one_int(n, "keepdims", l.keep_dims ? 1 : 0);
        break;
      }
      case Op::GlobalAvgPool:
        node(g, "GlobalAveragePool", {cur}, id + "_pooled");
        one_int(node(g, "Flatten", {id + "_pooled"}, out), "axis", 1);
        break;
      case Op::Flatten: one_int(node(g, "Flatten", {cur}, out), "axis", 1); break;
      case Op::Softmax: {
        std::string x = cur;
        if (l.softmax_beta != 1.0) {  // ONNX's Softmax has no beta: multiply the logits by it first
          add_initializer<float>(g, id + ".beta", onnx::TensorProto::FLOAT, {}, {static_cast<float>(l.softmax_beta)});
          x = id + "_scaled";
          node(g, "Mul", {cur, id + ".beta"}, x);
        }
        one_int(node(g, "Softmax", {x}, out), "axis", 1);
        break;
      }
      default: fail("internal: unexpected layer in a QModel");
    }
    tensor[k] = qdq(g, out, l.q.output, id, k + 1 == m.layers.size() ? output_name(m) : "");
  }
  const model::Shape o = m.layers.back().out;
  const bool flat = flat_tensor(m, m.layers.size() - 1);
  model::onnxp::set_float_value_info(g->add_output(), tensor.back(),
                                     flat ? std::vector<int64_t>{o.c} : std::vector<int64_t>{o.c, o.h, o.w});
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
  // nlohmann stores every non-negative integer as unsigned: compare it as one against both bounds.
  const bool fits = v.is_number_unsigned() ? hi >= 0 && v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                 (lo <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(lo))
                                           : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
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

// The producers a layer entry of the metadata names ("inputs"; a file without it is a chain): each the
// model input (-1) or an earlier layer, as many as the op takes. qp::Error naming the layer otherwise.
std::vector<int> layer_inputs(const nlohmann::json &j, Op op, size_t k, const std::string &where) {
  const auto it = j.find("inputs");
  if (it == j.end()) return {static_cast<int>(k) - 1};
  if (!it->is_array()) fail(where + ": 'inputs' is not a list of layer indices", kRequantize);
  std::vector<int> v;
  for (const auto &p : *it) v.push_back(int_in_range(p, model::kGraphInput, static_cast<int64_t>(k) - 1, where + ": input"));
  const bool count_ok = op == Op::Add ? v.size() == 2 : op == Op::Concat ? v.size() >= 2 && v.size() <= 64 : v.size() == 1;
  if (!count_ok)
    fail(where + ": " + std::to_string(v.size()) + " input(s), but " + model::op_name(op) + " takes " +
             (op == Op::Add ? "2" : op == Op::Concat ? "2 to 64" : "1"),
         kRequantize);
  return v;
}

// "the previous layer's output", "the model input" or "layer j's output".
std::string tensor_name(int p, size_t k) {
  if (p < 0) return "the model input";
  return p + 1 == static_cast<int>(k) ? "the previous layer's output" : "layer " + std::to_string(p) + "'s output";
}

// Checks a layer's shapes, window and activation against its op, and that it takes what its producers
// give (layers before it in `m`): the kernels index with these numbers, so a file whose layers do not
// fit together would read out of bounds. qp::Error naming the layer.
void check_layer_shape(const QLayer &l, const QModel &m, size_t k, const std::string &where) {
  for (size_t j = 0; j < l.inputs.size(); ++j) {
    const model::Shape s = m.tensor_shape(l.inputs[j]);
    // Add's inputs are both `in`; a Concat's share `out`'s height and width (checked below).
    if ((j == 0 || l.op == Op::Add) && !(l.in == s))
      fail(where + ": declared input " + model::shape_str(l.in) + " is not " + tensor_name(l.inputs[j], k) + " " +
               model::shape_str(s) + (l.op == Op::Add ? " (Add takes two tensors of the same shape)" : ""),
           kRequantize);
  }
  const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
  if (!l.q.activation.empty() && (!(weighted || l.op == Op::Add) || (l.q.activation != "relu" && l.q.activation != "relu6")))
    fail(where + ": activation '" + l.q.activation + "' is not supported here", kRequantize);
  const bool flat_in = l.in.h == 1 && l.in.w == 1;
  bool ok = true;
  switch (l.op) {
    case Op::Conv2D:
    case Op::DepthwiseConv2D:
      // depthwise: C*M outputs (depth multiplier M)
      ok = (l.op == Op::Conv2D || l.out.c % l.in.c == 0) && window_side_ok(l.in.h, l.kernel, l.stride, l.out.h, l.pad_top) &&
           window_side_ok(l.in.w, l.kernel, l.stride, l.out.w, l.pad_left);
      break;
    case Op::MaxPool:
    case Op::AvgPool:  // 'valid' or 'same' (TFLite's split), as the pooling kernels take them
      ok = l.out.c == l.in.c && window_side_ok(l.in.h, l.kernel, l.stride, l.out.h, l.pad_top) &&
           window_side_ok(l.in.w, l.kernel, l.stride, l.out.w, l.pad_left);
      break;
    case Op::Pad:
      ok = l.out.c == l.in.c && l.out.h >= l.in.h + l.pad_top && l.out.w >= l.in.w + l.pad_left;
      break;
    case Op::Mean: ok = l.out == model::Shape{l.in.c, 1, 1}; break;
    case Op::GlobalAvgPool: ok = l.out == model::Shape{l.in.c, 1, 1}; break;
    case Op::Flatten: ok = l.out == model::Shape{static_cast<int>(l.in.size()), 1, 1}; break;
    case Op::Dense: ok = flat_in && l.out.h == 1 && l.out.w == 1; break;
    case Op::Softmax: ok = flat_in && l.out == l.in; break;
    case Op::Add: ok = l.out == l.in; break;
    case Op::Concat: {
      int64_t c = 0;
      for (const int p : l.inputs) {
        const model::Shape s = m.tensor_shape(p);
        if (s.h != l.out.h || s.w != l.out.w)
          fail(where + ": concatenates " + tensor_name(p, k) + " " + model::shape_str(s) + " into an output " +
                   model::shape_str(l.out) + " of another height or width (Concat joins channels of equal H and W)",
               kRequantize);
        c += s.c;
      }
      ok = c == l.out.c;
      break;
    }
    default: ok = false; break;
  }
  if (!ok)
    fail(where + ": output " + model::shape_str(l.out) + " does not follow from input " + model::shape_str(l.in) + ", kernel " +
             std::to_string(l.kernel) + ", stride " + std::to_string(l.stride) + " and padding (" + std::to_string(l.pad_top) +
             ", " + std::to_string(l.pad_left) + ")",
         kRequantize);
}

// The graph's nodes, looked up by output; `used` collects those a layer accounts for, so that a node
// no layer explains (ONNX Runtime would run it, qparity would not) is refused at the end.
struct GraphIndex {
  std::map<std::string, const onnx::NodeProto *> by_output;
  std::set<const onnx::NodeProto *> used;

  // The node computing `out`: of type `op`, reading exactly `inputs`. qp::Error naming the layer otherwise.
  const onnx::NodeProto &expect(const std::string &out, const std::string &op, const std::vector<std::string> &inputs,
                                const std::string &where) {
    const auto it = by_output.find(out);
    if (it == by_output.end() || it->second->op_type() != op)
      fail(where + ": the graph has no " + op + " node computing '" + out + "'", kRequantize);
    const auto &n = *it->second;
    if (n.output_size() != 1 || !std::equal(n.input().begin(), n.input().end(), inputs.begin(), inputs.end())) {
      std::string want, got;
      for (const auto &s : inputs) want += (want.empty() ? "" : ", ") + s;
      for (const auto &s : n.input()) got += (got.empty() ? "" : ", ") + s;
      fail(where + ": node '" + n.name() + "' (" + op + ") reads (" + got + "), but the metadata's layer reads (" + want + ")",
           kRequantize);
    }
    used.insert(&n);
    return n;
  }
};

const onnx::AttributeProto *find_attr(const onnx::NodeProto &n, const char *name) {
  for (const auto &a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto &n, const char *name) {
  const auto *a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

// An INT attribute equal to `want` (`dflt`: its value when absent, as ONNX defines it).
void expect_int_attr(const onnx::NodeProto &n, const char *name, int64_t want, int64_t dflt, const std::string &where) {
  const auto *a = find_attr(n, name);
  const int64_t got = a ? a->i() : dflt;
  if (got != want)
    fail(where + ": node '" + n.name() + "' (" + n.op_type() + ") has " + name + " = " + std::to_string(got) + ", expected " +
             std::to_string(want),
         kRequantize);
}

// The ONNX nodes that compute a layer must say what the metadata says (ONNX Runtime runs the graph,
// qparity the metadata): op, inputs (`in`: the producers' dequantized tensors), the fused activation,
// for conv/pool the window, stride and padding, and the QuantizeLinear/DequantizeLinear pair of the
// output (whose dequantized tensor is `dq`).
void check_layer_nodes(const QLayer &l, const std::string &id, const std::vector<std::string> &in, const std::string &dq,
                       GraphIndex &gi, const std::map<std::string, const onnx::TensorProto *> &inits, const std::string &path,
                       const std::string &where) {
  const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
  const std::string out = id + "_f";
  const std::string pre = l.op == Op::GlobalAvgPool ? id + "_pooled" : l.q.activation.empty() ? out : id + "_pre";
  const bool beta = l.op == Op::Softmax && l.softmax_beta != 1.0;  // Mul(x, beta) before the Softmax
  const std::string want = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D ? "Conv"
                           : l.op == Op::Dense                               ? "Gemm"
                           : l.op == Op::MaxPool                             ? "MaxPool"
                           : l.op == Op::AvgPool                             ? "AveragePool"
                           : l.op == Op::GlobalAvgPool                       ? "GlobalAveragePool"
                           : l.op == Op::Flatten                             ? "Flatten"
                           : l.op == Op::Add                                 ? "Add"
                           : l.op == Op::Concat                              ? "Concat"
                           : l.op == Op::Pad                                 ? "Pad"
                           : l.op == Op::Mean                                ? "ReduceMean"
                                                                             : "Softmax";
  std::vector<std::string> reads = in;
  if (l.op == Op::Pad) reads.push_back(id + ".pads");
  if (beta) {
    gi.expect(id + "_scaled", "Mul", {in[0], id + ".beta"}, where);
    if (read_init<float>(inits, id + ".beta", onnx::TensorProto::FLOAT, {}, path)[0] != static_cast<float>(l.softmax_beta))
      fail(where + ": the Mul before the Softmax does not multiply by the layer's beta", kRequantize);
    reads = {id + "_scaled"};
  }
  if (weighted) {
    reads.push_back(id + ".w");
    reads.push_back(id + ".b");
    for (const char *t : {"w", "b"}) {
      const std::string s = id + "." + t;
      expect_int_attr(gi.expect(s, "DequantizeLinear", {s + "_q", s + "_scale", s + "_zp"}, where), "axis", 0, 1, where);
    }
  }
  const auto &n = gi.expect(pre, want, reads, where);
  if (want == "Conv" || want == "MaxPool" || want == "AveragePool") {
    const std::vector<int64_t> k = {l.kernel, l.kernel}, st = {l.stride, l.stride};
    // The padding save_qdq_onnx writes: before as stored, after what makes the output size (a pool without
    // padding may leave the attribute out).
    const std::vector<int64_t> expect_pads = window_pads(l);
    const auto pads = attr_ints(n, "pads");
    const bool unpadded = std::all_of(expect_pads.begin(), expect_pads.end(), [](int64_t p) { return p == 0; });
    const bool pads_ok = pads == expect_pads || (want != "Conv" && unpadded && pads.empty());
    // AveragePool must not count padding (TFLite's AVERAGE_POOL_2D divides by the in-bounds positions).
    if (want == "AveragePool") expect_int_attr(n, "count_include_pad", 0, 0, where);
    if (want != "Conv" && (find_attr(n, "ceil_mode") || find_attr(n, "dilations") || find_attr(n, "auto_pad")))
      fail(where + ": node '" + n.name() + "' (" + want + ") has ceil_mode, dilations or auto_pad", kRequantize);
    const int64_t groups = find_attr(n, "group") ? find_attr(n, "group")->i() : 1;
    const bool group_ok = want != "Conv" || groups == (l.op == Op::Conv2D ? 1 : l.in.c);
    if (attr_ints(n, "kernel_shape") != k || attr_ints(n, "strides") != st || !pads_ok || !group_ok)
      fail(where + ": node '" + n.name() + "' (" + want +
               ") has a kernel_shape, strides, pads or group other than the layer's (" + std::to_string(l.kernel) + ", " +
               std::to_string(l.stride) + ", " + std::to_string(l.pad_top) + ")",
           kRequantize);
  }
  if (want == "Concat") expect_int_attr(n, "axis", 1, 1, where);  // channels (Concat has no default: 1 is required)
  if (want == "Pad") {
    const auto *mode = find_attr(n, "mode");
    if ((mode && mode->s() != "constant") ||
        read_init<int64_t>(inits, id + ".pads", onnx::TensorProto::INT64, {8}, path) != pad_pads(l))
      fail(where + ": node '" + n.name() + "' (Pad) does not pad H and W with zeros as the layer says", kRequantize);
  }
  if (want == "ReduceMean") {
    expect_int_attr(n, "keepdims", l.keep_dims ? 1 : 0, 1, where);
    if (attr_ints(n, "axes") != std::vector<int64_t>{2, 3})
      fail(where + ": node '" + n.name() + "' (ReduceMean) does not reduce over axes [2, 3] (H and W)", kRequantize);
  }
  if (want == "Gemm") expect_int_attr(n, "transB", 1, 0, where);
  if (l.op == Op::GlobalAvgPool) expect_int_attr(gi.expect(out, "Flatten", {pre}, where), "axis", 1, 1, where);
  if (l.q.activation == "relu") gi.expect(out, "Relu", {pre}, where);
  if (l.q.activation == "relu6") {
    gi.expect(out, "Clip", {pre, id + ".min", id + ".max"}, where);
    if (read_init<float>(inits, id + ".min", onnx::TensorProto::FLOAT, {}, path)[0] != 0.f ||
        read_init<float>(inits, id + ".max", onnx::TensorProto::FLOAT, {}, path)[0] != 6.f)
      fail(where + ": the Clip of a relu6 layer must clip to [0, 6]", kRequantize);
  }
  gi.expect(id + "_q", "QuantizeLinear", {out, id + ".y_scale", id + ".y_zp"}, where);
  gi.expect(dq, "DequantizeLinear", {id + "_q", id + ".y_scale", id + ".y_zp"}, where);
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
  GraphIndex gi;
  for (const auto &n : model.graph().node())
    for (const auto &o : n.output()) gi.by_output[o] = &n;
  QModel &m = f.model;
  const std::string file = "'" + path + "'";
  std::vector<std::string> where_of;  // per layer: "'path' layer k (Op)"
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
    m.set_input_params(qparams("in"));
    // The pixels' real values (absent: range 0,1, what every file before the key meant); with the input's scale and
    // zero point they make the pixel -> int8 table (quant/input_map.h), checked against the channels below.
    if (f.metadata.count("qparity.input.name"))
      m.set_tensor_name(model::kGraphInput, model::clean_tensor_name(f.metadata["qparity.input.name"]));
    if (f.metadata.count("qparity.input.convention"))
      m.convention = parse_convention(f.metadata["qparity.input.convention"], file + " metadata qparity.input.convention");
    // 1. The layer list: ops, shapes and edges, checked to fit together; every output's quantization.
    for (size_t k = 0; k < layers.size(); ++k) {
      const auto &j = layers[k];
      const std::string id = "l" + std::to_string(k);
      std::string where = file + " layer " + std::to_string(k);
      if (!j.is_object() || !j.contains("op") || !j.at("op").is_string())
        fail(where + ": the layer entry has no op name", kRequantize);
      QLayer l;
      l.op = op_from_name(j.at("op").get<std::string>(), path);
      where += " (" + std::string(model::op_name(l.op)) + ")";
      l.q.activation = j.at("activation").get<std::string>();
      const bool windowed = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::MaxPool || l.op == Op::AvgPool;
      l.kernel = layer_int(j, "kernel", windowed ? 1 : 0, model::kMaxWindow, where);
      l.stride = layer_int(j, "stride", 1, model::kMaxWindow, where);
      const int pad_max = l.op == Op::Pad ? model::kMaxWindow : std::max(l.kernel - 1, 0);
      l.pad_top = layer_int(j, "pad_top", 0, pad_max, where);
      l.pad_left = layer_int(j, "pad_left", 0, pad_max, where);
      if (l.op == Op::Mean) {
        if (!j.contains("keep_dims") || !j.at("keep_dims").is_boolean()) fail(where + ": 'keep_dims' is missing", kRequantize);
        l.keep_dims = j.at("keep_dims").get<bool>();
      }
      if (l.op == Op::Softmax && j.contains("softmax_beta")) {
        const auto &b = j.at("softmax_beta");
        const double v = b.is_number() ? b.get<double>() : 0.0;
        if (!(std::isfinite(v) && v > 0 && static_cast<double>(static_cast<float>(v)) == v))
          fail(where + ": 'softmax_beta' is not a finite positive float32", kRequantize);
        l.softmax_beta = static_cast<float>(v);  // float32-exact: checked above
      }
      if (j.contains("name")) {
        if (!j.at("name").is_string()) fail(where + ": 'name' is not a string", kRequantize);
        l.q.name = model::clean_tensor_name(j.at("name").get<std::string>());
      }
      l.in = layer_shape(j, "in", where);
      l.out = layer_shape(j, "out", where);
      l.q.fp32_index = layer_int(j, "fp32_index", -1, 1 << 20, where);
      l.inputs = layer_inputs(j, l.op, k, where);
      if (k == 0) {
        m.input = l.in;
        if ((m.input.c != 3 && m.input.c != 1) || m.input.h > model::kMaxInputSide || m.input.w > model::kMaxInputSide)
          fail(file + ": the model takes " + model::shape_str(m.input) +
                   " inputs; qparity feeds RGB (3 channels) or luma (1 channel) images of at most " +
                   std::to_string(model::kMaxInputSide) + " pixels a side",
               "quantize a model with a [N,3,H,W] or [N,1,H,W] input");
        try {
          check_convention(m.convention, m.input.c);
        } catch (const Error &e) {
          fail(file + ": metadata qparity.input.convention: " + e.what(), "re-quantize the model");
        }
      }
      check_layer_shape(l, m, k, where);
      l.q.output = qparams(id);
      m.layers.push_back(std::move(l));
      where_of.push_back(where);
    }
  } catch (const nlohmann::json::exception &e) {
    fail("'" + path + "': the qparity.int8.layers metadata is malformed (" + std::string(e.what()) + ")",
         "re-quantize the model");
  }
  try {
    quant::normalize(m);  // each layer's input quantization from its producers (the edges are checked above)
  } catch (const Error &e) {
    fail(file + ": " + e.what());
  }
  // 2. Per layer: the graph's nodes, the weights into the runtime layout, and the derived integers.
  std::vector<std::string> dq(m.layers.size());
  for (size_t k = 0; k < m.layers.size(); ++k)
    dq[k] = k + 1 == m.layers.size() ? output_name(m) : "l" + std::to_string(k) + "_dq";
  gi.expect("in_q", "QuantizeLinear", {"input", "in.y_scale", "in.y_zp"}, file + " input");
  gi.expect("in_dq", "DequantizeLinear", {"in_q", "in.y_scale", "in.y_zp"}, file + " input");
  for (size_t k = 0; k < m.layers.size(); ++k) {
    QLayer &l = m.layers[k];
    const std::string id = "l" + std::to_string(k), &where = where_of[k];
    std::vector<std::string> in;
    for (const int p : l.inputs) in.push_back(p < 0 ? "in_dq" : dq[static_cast<size_t>(p)]);
    check_layer_nodes(l, id, in, dq[k], gi, inits, path, where);
    const bool weighted = l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense;
    if (weighted) {
      const int64_t oc = l.out.c, ic = l.in.c, kk = l.kernel;
      const std::vector<int64_t> wdims = l.op == Op::Dense    ? std::vector<int64_t>{oc, ic}
                                         : l.op == Op::Conv2D ? std::vector<int64_t>{oc, ic, kk, kk}
                                                              : std::vector<int64_t>{oc, 1, kk, kk};
      model::checked_element_count(wdims, where + " weights");
      const auto w = read_init<int8_t>(inits, id + ".w_q", onnx::TensorProto::INT8, wdims, path);
      const auto ws = read_init<float>(inits, id + ".w_scale", onnx::TensorProto::FLOAT, {oc}, path);
      const auto wzp = read_init<int8_t>(inits, id + ".w_zp", onnx::TensorProto::INT8, {oc}, path);
      l.q.bias = read_init<int32_t>(inits, id + ".b_q", onnx::TensorProto::INT32, {oc}, path);
      const auto bs = read_init<float>(inits, id + ".b_scale", onnx::TensorProto::FLOAT, {oc}, path);
      const auto bzp = read_init<int32_t>(inits, id + ".b_zp", onnx::TensorProto::INT32, {oc}, path);
      for (size_t c = 0; c < static_cast<size_t>(oc); ++c) {
        const std::string ch = where + " channel " + std::to_string(c);
        if (!(std::isfinite(ws[c]) && ws[c] >= 0))
          fail(ch + ": weight scale " + std::to_string(ws[c]) + " is not a finite number >= 0", kRequantize);
        // The integer kernels take symmetric weights and the bias at input_scale * weight_scale.
        if (wzp[c] != 0 || bzp[c] != 0) fail(ch + ": weight and bias zero points must be 0 (symmetric int8)", kRequantize);
        if (bs[c] != static_cast<float>(l.q.input.scale * ws[c]))
          fail(ch + ": bias scale " + std::to_string(bs[c]) + " is not input scale x weight scale", kRequantize);
      }
      l.q.weight_scale.assign(ws.begin(), ws.end());
      model::Shape map;
      if (l.op == Op::Conv2D)
        l.q.weight = model::conv_oihw_to_ohwi(w, l.out.c, l.in.c, l.kernel);
      else if (l.op == Op::DepthwiseConv2D)
        l.q.weight = model::depthwise_ckk_to_kkc(w, l.out.c, l.kernel);
      else if (flattens_map(l.inputs[0] < 0 ? nullptr : &m.layers[static_cast<size_t>(l.inputs[0])], &map))
        l.q.weight = model::dense_columns_chw_to_hwc(w, l.out.c, map);
      else
        l.q.weight = w;
    } else if (l.op == Op::Softmax) {
      if (l.q.output.scale != 1.0 / 256.0 || l.q.output.zero_point != -128)
        fail(where + ": the softmax output must be scale 1/256, zero point -128 (what the kernel writes)", kRequantize);
    } else if (l.op != Op::Add && l.op != Op::Concat && l.op != Op::Mean &&
               (l.q.output.scale != l.q.input.scale || l.q.output.zero_point != l.q.input.zero_point)) {
      // Pooling, Pad and flatten pass their input's quantization through unchanged (Add, Concat and Mean requantize).
      fail(where + ": output scale/zero point differ from its input's, but this layer does not requantize", kRequantize);
    }
    try {
      derive_requantization(l);
      const auto shift_ok = [](int32_t s) { return s >= -31 && s <= 30; };
      if (l.op == Op::Add && !(shift_ok(l.q.add.input1_shift) && shift_ok(l.q.add.input2_shift)))
        fail("the input scales " + std::to_string(l.q.input_q[0].scale) + " and " + std::to_string(l.q.input_q[1].scale) +
             " are too far apart for the ADD kernel's shifts");
      if (l.op == Op::Concat)
        for (size_t j = 0; j < l.q.input_q.size(); ++j) {
          const auto c =
              concat_input_params(l.q.input_q[j].scale, l.q.input_q[j].zero_point, l.q.output.scale, l.q.output.zero_point);
          if (c.requantize && !shift_ok(c.shift))
            fail("input " + std::to_string(j) + "'s scale " + std::to_string(l.q.input_q[j].scale) +
                 " is too far from the output's " + std::to_string(l.q.output.scale) + " (requantization shift " +
                 std::to_string(c.shift) + ")");
        }
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
  }
  // Nothing else runs in the graph, and its one output is the last layer's dequantized output: the softmax's
  // probabilities ('probs') or the logits ('logits').
  for (const auto &n : model.graph().node())
    if (!gi.used.count(&n))
      fail(file + ": node '" + n.name() + "' (" + n.op_type() + ") is not part of any layer of the qparity.int8.layers metadata",
           kRequantize);
  if (model.graph().output_size() != 1 || model.graph().output(0).name() != output_name(m) || model.graph().input_size() != 1 ||
      model.graph().input(0).name() != "input")
    fail(file + ": the graph must have the one input 'input' and the one output '" + output_name(m) + "' (" +
             (m.outputs_logits() ? "the last layer's dequantized logits" : "the softmax's dequantized output") + ")",
         kRequantize);
  if (const model::Shape o = m.layers.back().out; o.h != 1 || o.w != 1)
    fail(file + ": the last layer's output " + model::shape_str(o) + " is not a class vector", kRequantize);
  if (m.classes.empty() || m.classes.size() != static_cast<size_t>(m.layers.back().out.c))
    fail(file + ": metadata names " + std::to_string(m.classes.size()) + " classes but the model outputs " +
             std::to_string(m.layers.back().out.c),
         kRequantize);
  const auto get = [&](const char *k) { return f.metadata.count(k) ? f.metadata[k] : std::string(); };
  m.quant_options.weights = get("qparity.quant.weights") == "per-tensor" ? WeightMode::PerTensor : WeightMode::PerChannel;
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
  std::snprintf(line, sizeof line, "input     %s, %s (scale %.6g, zero point %d)\n          %s\n\n",
                model::shape_str(m.input).c_str(), m.input.c == 1 ? "luma" : "RGB", m.input_params().scale,
                m.input_params().zero_point, describe_input_map(m.convention, m.input_params(), m.input.c).c_str());
  out += line;
  if (m.outputs_logits()) {  // before the layer table: what the output vector is, and how it is decided
    std::snprintf(line, sizeof line, "output    logits '%s' (scale %.6g, zero point %d); decision: the first maximum\n\n",
                  output_name(m).c_str(), m.layers.back().q.output.scale, m.layers.back().q.output.zero_point);
    out.insert(out.size() - 1, line, std::strlen(line) - 1);
  }
  std::snprintf(line, sizeof line, "  #  %-16s %-6s %-14s %12s %5s %12s %5s %23s\n", "layer", "act", "output", "in scale",
                "in zp", "out scale", "out zp", "weight scales (min..max)");
  out += line;
  int64_t fp32_bytes = 0;
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const QLayer &l = m.layers[k];
    std::string ws = "-";
    if (!l.q.weight_scale.empty()) {
      const auto [lo, hi] = std::minmax_element(l.q.weight_scale.begin(), l.q.weight_scale.end());
      char b[64];
      std::snprintf(b, sizeof b, "%.3g..%.3g", *lo, *hi);
      ws = b;
      fp32_bytes += static_cast<int64_t>(4 * (l.q.weight.size() + l.q.bias.size()));
    }
    std::snprintf(line, sizeof line, "%3zu  %-16s %-6s %-14s %12.6g %5d %12.6g %5d %23s", k, model::op_name(l.op),
                  l.q.activation.empty() ? "-" : l.q.activation.c_str(), model::shape_str(l.out).c_str(), l.q.input.scale,
                  l.q.input.zero_point, l.q.output.scale, l.q.output.zero_point, ws.c_str());
    out += line;
    if (!(l.inputs.size() == 1 && l.inputs[0] + 1 == static_cast<int>(k))) {  // not just the previous layer: name the inputs
      std::string reads;
      for (const int p : l.inputs) reads += (reads.empty() ? "" : ", ") + (p < 0 ? std::string("input") : std::to_string(p));
      out += "  <- " + reads;
    }
    out += model::tensor_name_column(l.q.name) + "\n";
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
