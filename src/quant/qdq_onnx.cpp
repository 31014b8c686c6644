#include "quant/qdq_onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

template <typename T>
std::vector<T> read_init(const std::map<std::string, const onnx::TensorProto *> &inits, const std::string &name, int type,
                         size_t count, const std::string &path) {
  const auto it = inits.find(name);
  if (it == inits.end())
    fail("'" + path + "': tensor '" + name + "' is missing", "re-quantize the model with 'qparity quantize'");
  const auto &t = *it->second;
  if (t.data_type() != type || t.raw_data().size() != count * sizeof(T))
    fail("'" + path + "': tensor '" + name + "' has the wrong type or size (truncated or edited file?)", "re-quantize the model");
  std::vector<T> v(count);
  std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  return v;
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
  QModel &m = f.model;
  try {
    m.classes = nlohmann::json::parse(f.metadata["qparity.classes"]).get<std::vector<std::string>>();
    const auto layers = nlohmann::json::parse(f.metadata["qparity.int8.layers"]);
    auto qparams = [&](const std::string &id) {
      QParams p;
      p.scale = read_init<float>(inits, id + ".y_scale", onnx::TensorProto::FLOAT, 1, path)[0];
      p.zero_point = read_init<int8_t>(inits, id + ".y_zp", onnx::TensorProto::INT8, 1, path)[0];
      return p;
    };
    m.input_params = qparams("in");
    QParams cur = m.input_params;
    for (size_t k = 0; k < layers.size(); ++k) {
      const auto &j = layers[k];
      const std::string id = "l" + std::to_string(k);
      QLayer l;
      l.op = op_from_name(j.at("op").get<std::string>(), path);
      l.activation = j.at("activation").get<std::string>();
      l.kernel = j.at("kernel");
      l.stride = j.at("stride");
      l.pad_top = j.at("pad_top");
      l.pad_left = j.at("pad_left");
      l.in = {j.at("in")[0], j.at("in")[1], j.at("in")[2]};
      l.out = {j.at("out")[0], j.at("out")[1], j.at("out")[2]};
      l.fp32_index = j.at("fp32_index");
      l.input = cur;
      l.output = qparams(id);
      if (k == 0) m.input = l.in;
      if (l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D || l.op == Op::Dense) {
        const size_t oc = static_cast<size_t>(l.out.c);
        const size_t n = l.op == Op::Dense    ? oc * static_cast<size_t>(l.in.c)
                         : l.op == Op::Conv2D ? oc * static_cast<size_t>(l.in.c) * l.kernel * l.kernel
                                              : oc * l.kernel * l.kernel;
        const auto w = read_init<int8_t>(inits, id + ".w_q", onnx::TensorProto::INT8, n, path);
        const auto ws = read_init<float>(inits, id + ".w_scale", onnx::TensorProto::FLOAT, oc, path);
        l.bias = read_init<int32_t>(inits, id + ".b_q", onnx::TensorProto::INT32, oc, path);
        l.weight_scale.assign(ws.begin(), ws.end());
        l.weight.resize(n);
        const int kk = l.kernel, ic = l.in.c;
        if (l.op == Op::Conv2D) {
          for (size_t o = 0; o < oc; ++o)
            for (int i = 0; i < ic; ++i)
              for (int y = 0; y < kk; ++y)
                for (int x = 0; x < kk; ++x) l.weight[((o * kk + y) * kk + x) * ic + i] = w[((o * ic + i) * kk + y) * kk + x];
        } else if (l.op == Op::DepthwiseConv2D) {
          for (size_t c = 0; c < oc; ++c)
            for (int y = 0; y < kk; ++y)
              for (int x = 0; x < kk; ++x) l.weight[(static_cast<size_t>(y) * kk + x) * oc + c] = w[(c * kk + y) * kk + x];
        } else {
          model::Shape map;
          const bool permute = flattens_map(k ? &m.layers[k - 1] : nullptr, &map);
          const size_t in = static_cast<size_t>(ic);
          for (size_t o = 0; o < oc; ++o)
            for (size_t i = 0; i < in; ++i) l.weight[o * in + (permute ? chw_to_hwc(i, map) : i)] = w[o * in + i];
        }
      }
      derive_requantization(l);
      cur = l.output;
      m.layers.push_back(std::move(l));
    }
  } catch (const nlohmann::json::exception &e) {
    fail("'" + path + "': the qparity.int8.layers metadata is malformed (" + std::string(e.what()) + ")",
         "re-quantize the model");
  }
  if (m.layers.empty() || m.layers.back().op != Op::Softmax) fail("'" + path + "': the INT8 model does not end in Softmax");
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
