#include "model/onnx_io.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "common/error.h"
#include "common/sha256.h"
#include "data/image_io.h"
#include "model/onnx_proto.h"

namespace qp::model {
namespace {

using onnxp::add_node;
using onnxp::attr_int;
using onnxp::attr_ints;

void add_tensor(onnx::GraphProto *graph, const std::string &name, const std::vector<int64_t> &dims,
                const std::vector<float> &values) {
  onnxp::add_initializer<float>(graph, name, onnx::TensorProto::FLOAT, dims, values);
}

std::string classes_json(const std::vector<std::string> &classes) {
  return nlohmann::json(classes).dump();
}

// A name from the model file can stand as an ONNX value name unless it is empty or could be one qparity makes for
// another value ("input", "probs", "logits", "l<k>_..." of layer k's values and initializers): then names stay unique.
bool own_value_name_usable(const std::string &name) {
  return !name.empty() && !is_generated_tensor_name(name) && !has_layer_name_prefix(name);
}

onnx::ModelProto to_proto(const Graph &g_in, const std::map<std::string, std::string> &extra) {
  const Graph g = fold_for_inference(g_in);
  onnx::ModelProto model;
  std::map<std::string, std::string> meta = {
      {"qparity.classes", classes_json(g.classes)},
      {"qparity.arch", g.arch},
      {"qparity.input", "float32 NCHW [N," + std::to_string(g.input.c) + "," + std::to_string(g.input.h) + "," +
                            std::to_string(g.input.w) + "], " + (g.input.c == 1 ? "luma" : "RGB") +
                            " pixel values scaled to [0,1] as p/255"},
      {"qparity.precision", "fp32"}};
  for (const auto &[k, v] : extra) meta[k] = v;
  onnxp::init_model(&model, "qparity FP32 classifier; input float32 NCHW, pixels p/255", meta);
  auto *graph = model.mutable_graph();
  graph->set_name("qparity_" + g.arch.substr(0, g.arch.find(' ')));
  // The ONNX value each tensor is written as (a graph DAG: Add/Concat read several): the tensor's own name where the
  // graph has one (read from a model file), else qparity's ("input", "l<k>_<Op>_out", "probs"/"logits").
  std::set<std::string> used;
  const auto value_name = [&](int producer, std::string generated) {
    const std::string &own = g.tensor_name(producer);
    std::string chosen = own_value_name_usable(own) && !used.count(own) ? own : std::move(generated);
    used.insert(chosen);
    return chosen;
  };
  const std::string input_name = value_name(kGraphInput, "input");
  onnxp::set_float_value_info(graph->add_input(), input_name, {g.input.c, g.input.h, g.input.w});
  std::vector<std::string> names(g.layers.size());
  auto tensor_name = [&](int producer) { return producer == kGraphInput ? input_name : names[static_cast<size_t>(producer)]; };
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer &l = g.layers[i];
    const std::string id = "l" + std::to_string(i) + "_" + op_name(l.op);
    const bool last = i + 1 == g.layers.size();
    const std::string out = value_name(static_cast<int>(i), last ? (l.op == Op::Softmax ? "probs" : "logits") : id + "_out");
    const std::string cur = tensor_name(l.inputs.at(0));
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D: {
        const int64_t ipg = l.op == Op::Conv2D ? l.in.c : 1;
        add_tensor(graph, id + ".weight", {l.out.c, ipg, l.kernel, l.kernel}, l.weight);
        add_tensor(graph, id + ".bias", {l.out.c}, l.bias);
        auto *n = add_node(graph, "Conv", {cur, id + ".weight", id + ".bias"}, out, id);
        attr_ints(n, "kernel_shape", {l.kernel, l.kernel});
        attr_ints(n, "strides", {l.stride, l.stride});
        attr_ints(n, "pads", {l.pad_top, l.pad_left, l.pad_bottom, l.pad_right});
        attr_ints(n, "dilations", {1, 1});
        attr_int(n, "group", l.op == Op::Conv2D ? 1 : l.in.c);
        break;
      }
      case Op::ReLU: add_node(graph, "Relu", {cur}, out, id); break;
      case Op::ReLU6:
        add_tensor(graph, id + ".min", {}, {0.f});
        add_tensor(graph, id + ".max", {}, {6.f});
        add_node(graph, "Clip", {cur, id + ".min", id + ".max"}, out, id);
        break;
      case Op::MaxPool:
      case Op::AvgPool: {
        auto *n = add_node(graph, l.op == Op::MaxPool ? "MaxPool" : "AveragePool", {cur}, out, id);
        attr_ints(n, "kernel_shape", {l.kernel, l.kernel});
        attr_ints(n, "strides", {l.stride, l.stride});
        attr_ints(n, "pads", {0, 0, 0, 0});
        break;
      }
      case Op::GlobalAvgPool: {
        // GlobalAveragePool keeps [N,C,1,1]; a Flatten follows so the IR's flat shape holds.
        add_node(graph, "GlobalAveragePool", {cur}, id + "_pooled", id);
        attr_int(add_node(graph, "Flatten", {id + "_pooled"}, out, id + "_flatten"), "axis", 1);
        break;
      }
      case Op::Flatten: attr_int(add_node(graph, "Flatten", {cur}, out, id), "axis", 1); break;
      case Op::Dense: {
        add_tensor(graph, id + ".weight", {l.units, l.in.c}, l.weight);
        add_tensor(graph, id + ".bias", {l.units}, l.bias);
        auto *n = add_node(graph, "Gemm", {cur, id + ".weight", id + ".bias"}, out, id);
        attr_int(n, "transB", 1);
        break;
      }
      case Op::Softmax: attr_int(add_node(graph, "Softmax", {cur}, out, id), "axis", 1); break;
      case Op::Add: add_node(graph, "Add", {cur, tensor_name(l.inputs.at(1))}, out, id); break;
      case Op::Concat: {
        std::vector<std::string> ins;
        for (const int p : l.inputs) ins.push_back(tensor_name(p));
        attr_int(add_node(graph, "Concat", ins, out, id), "axis", 1);  // NCHW channels ([N,C] when flat)
        break;
      }
      case Op::Pad: {  // H and W only, zeros
        onnxp::add_initializer<int64_t>(graph, id + ".pads", onnx::TensorProto::INT64, {8},
                                        {0, 0, l.pad_top, l.pad_left, 0, 0, l.pad_bottom, l.pad_right});
        add_node(graph, "Pad", {cur, id + ".pads"}, out, id);
        break;
      }
      case Op::Mean: {  // over H and W; [N,C,1,1] with keep_dims, else [N,C]
        auto *n = add_node(graph, "ReduceMean", {cur}, out, id);
        attr_ints(n, "axes", {2, 3});
        attr_int(n, "keepdims", l.keep_dims ? 1 : 0);
        break;
      }
      case Op::BatchNorm:
      case Op::Dropout: fail("internal: unfolded " + std::string(op_name(l.op)) + " in inference graph");
    }
    names[i] = out;
  }
  const Shape o = g.output();
  onnxp::set_float_value_info(graph->add_output(), names.back(), {o.c});
  return model;
}

std::span<const int64_t> dims_of(const onnx::TensorProto &t) {
  return {t.dims().data(), static_cast<size_t>(t.dims_size())};
}

std::string ints_str(std::span<const int64_t> v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<float> tensor_floats(const onnx::TensorProto &t, const std::string &model_path) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    fail("'" + model_path + "': initializer '" + t.name() + "' is not float32",
         "qparity reads FP32 models here; quantize with 'qparity quantize'");
  if (t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL)
    fail("'" + model_path + "': initializer '" + t.name() + "' uses external data",
         "save the model with its weights inside the .onnx file");
  const int64_t n = checked_element_count(dims_of(t), "'" + model_path + "': initializer '" + t.name() + "'");
  std::vector<float> v;
  if (!t.raw_data().empty()) {
    if (static_cast<int64_t>(t.raw_data().size()) != n * 4)
      fail("'" + model_path + "': initializer '" + t.name() + "' has " + std::to_string(t.raw_data().size()) + " bytes for " +
           std::to_string(n) + " floats (truncated or corrupt file)");
    v.resize(static_cast<size_t>(n));
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (t.float_data_size() != n)
      fail("'" + model_path + "': initializer '" + t.name() + "' has " + std::to_string(t.float_data_size()) +
               " values but its dims " + ints_str(dims_of(t)) + " say " + std::to_string(n),
           "the file is truncated or corrupt: re-export the model");
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return v;
}

const onnx::AttributeProto *find_attr(const onnx::NodeProto &n, const std::string &name) {
  for (const auto &a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t attr_i(const onnx::NodeProto &n, const std::string &name, int64_t dflt) {
  const auto *a = find_attr(n, name);
  return a ? a->i() : dflt;
}

std::vector<int64_t> attr_is(const onnx::NodeProto &n, const std::string &name) {
  const auto *a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

float attr_f(const onnx::NodeProto &n, const std::string &name, float dflt) {
  const auto *a = find_attr(n, name);
  return a ? a->f() : dflt;
}

// A window side or stride from an attribute: 1..kMaxWindow, so it fits the IR's int.
int window_attr(int64_t v, const std::string &what, const std::string &where) {
  if (v < 1 || v > kMaxWindow)
    fail(where + ": " + what + " " + std::to_string(v) + " is not in [1, " + std::to_string(kMaxWindow) + "]",
         "re-export the model; the file may be corrupt");
  return static_cast<int>(v);
}

// The shapes (in, out, padding) of single-input layer `l` reading a tensor of shape `in`, computed by
// infer_shapes on a one-layer graph (the whole graph's shapes are checked again at the end). A
// feature map of 1x1 is not flat (convolution and pooling may follow it), but a graph input of 1x1
// would count as flat, so such an input is made by a 2x2 max pooling in front.
Layer with_shapes(Layer l, Shape in, bool flat, const std::string &where) {
  const std::vector<int> inputs = l.inputs;
  Graph probe;
  probe.input = in;
  if (in.h == 1 && in.w == 1 && !flat) {
    probe.input = {in.c, 2, 2};
    Layer pool;
    pool.op = Op::MaxPool;
    pool.kernel = pool.stride = 2;
    probe.layers.push_back(pool);
  }
  l.inputs.clear();
  probe.layers.push_back(std::move(l));
  try {
    infer_shapes(probe);
  } catch (const Error &e) {
    fail(where + ": " + e.what());
  }
  Layer out = std::move(probe.layers.back());
  out.inputs = inputs;
  return out;
}

// ---- Reading: constants and the shape arithmetic exporters emit ----

// A constant tensor known while reading: an initializer, a Constant node, or the folded result of the
// shape arithmetic exporters emit (Shape, Gather, Unsqueeze, Concat, Reshape, Slice, ...). Integer
// types are held as int64 (`i`), floating types as float (`f`). The symbolic batch dimension that Shape
// yields is kBatchDim: it may be moved around (Gather, Concat, Unsqueeze, Reshape target) but not
// computed with.
struct Const {
  bool is_float = false;
  std::vector<int64_t> dims;
  std::vector<int64_t> i;
  std::vector<float> f;
  size_t size() const { return is_float ? f.size() : i.size(); }
};
constexpr int64_t kBatchDim = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxFoldElements = int64_t{1} << 16;  // shape arithmetic is tiny; anything more is not a shape

std::string const_str(const Const &c) {
  if (c.is_float || c.i.size() > 8) return "a " + ints_str(c.dims) + " tensor";
  std::string s = "[";
  for (size_t k = 0; k < c.i.size(); ++k) s += (k ? "," : "") + (c.i[k] == kBatchDim ? std::string("N") : std::to_string(c.i[k]));
  return s + "]";
}

// A TensorProto (initializer or Constant value) as a Const: float32/float64 or an integer type.
Const const_from_tensor(const onnx::TensorProto &t, const std::string &what, const std::string &path) {
  Const c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  if (t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL)
    fail(what + " uses external data", "save the model with its weights inside the .onnx file");
  const int64_t n = checked_element_count(c.dims, what);
  const std::string &raw = t.raw_data();
  auto from_raw = [&](size_t width, auto convert) {
    if (static_cast<int64_t>(raw.size()) != n * static_cast<int64_t>(width))
      fail(what + " has " + std::to_string(raw.size()) + " bytes for " + std::to_string(n) + " values (truncated or corrupt file)",
           "re-export the model");
    for (int64_t k = 0; k < n; ++k) convert(raw.data() + k * static_cast<int64_t>(width));
  };
  auto count_ok = [&](int have) {
    if (have != n)
      fail(what + " has " + std::to_string(have) + " values but its dims " + ints_str(c.dims) + " say " + std::to_string(n),
           "the file is truncated or corrupt: re-export the model");
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: {
      c.is_float = true;
      c.f = tensor_floats(t, path);
      break;
    }
    case onnx::TensorProto::DOUBLE:
      c.is_float = true;
      if (!raw.empty())
        from_raw(8, [&](const char *p) {
          double d;
          std::memcpy(&d, p, 8);
          c.f.push_back(static_cast<float>(d));
        });
      else {
        count_ok(t.double_data_size());
        for (double d : t.double_data()) c.f.push_back(static_cast<float>(d));
      }
      break;
    case onnx::TensorProto::INT64:
      if (!raw.empty())
        from_raw(8, [&](const char *p) {
          int64_t v;
          std::memcpy(&v, p, 8);
          c.i.push_back(v);
        });
      else {
        count_ok(t.int64_data_size());
        c.i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      break;
    case onnx::TensorProto::INT32:
      if (!raw.empty())
        from_raw(4, [&](const char *p) {
          int32_t v;
          std::memcpy(&v, p, 4);
          c.i.push_back(v);
        });
      else {
        count_ok(t.int32_data_size());
        c.i.assign(t.int32_data().begin(), t.int32_data().end());
      }
      break;
    case onnx::TensorProto::BOOL:
      if (!raw.empty())
        from_raw(1, [&](const char *p) { c.i.push_back(*p != 0); });
      else {
        count_ok(t.int32_data_size());
        for (int32_t v : t.int32_data()) c.i.push_back(v != 0);
      }
      break;
    default:
      fail(what + " has element type " + std::to_string(t.data_type()) + ", not float32, int64, int32 or bool",
           "qparity reads FP32 models; quantize them with 'qparity quantize'");
  }
  return c;
}

// Row-major strides of `dims`.
std::vector<int64_t> strides_of(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

// An axis in [-rank, rank) as [0, rank).
int64_t norm_axis(int64_t axis, size_t rank, const std::string &where) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) fail(where + ": axis " + std::to_string(axis) + " is outside a rank-" + std::to_string(r) + " tensor");
  return axis < 0 ? axis + r : axis;
}

// out[k] = in[index(k)] for a gather/slice/transpose of a small constant, keeping its type.
Const remap(const Const &in, std::vector<int64_t> dims, const std::function<int64_t(int64_t)> &index, const std::string &where) {
  Const out;
  out.is_float = in.is_float;
  const int64_t n = checked_element_count(dims, where + " result", kMaxFoldElements);
  out.dims = std::move(dims);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t src = index(k);
    if (src < 0 || src >= static_cast<int64_t>(in.size())) fail(where + ": index out of range while folding a constant");
    if (in.is_float)
      out.f.push_back(in.f[static_cast<size_t>(src)]);
    else
      out.i.push_back(in.i[static_cast<size_t>(src)]);
  }
  return out;
}

// The ints of a constant 1-D (or scalar) integer tensor, e.g. axes, pads, a shape.
std::vector<int64_t> const_ints(const Const &c, const std::string &what) {
  if (c.is_float || c.dims.size() > 1) fail(what + " is not a 1-D integer tensor");
  return c.i;
}

// Hints for ops qparity does not run: what to do instead.
std::string unsupported_fix(const std::string &op) {
  static const std::map<std::string, std::string> hints = {
      {"Sigmoid", "replace SiLU/Swish/Sigmoid gates by ReLU6 (nn.ReLU6) and re-export"},
      {"Mul", "replace SiLU/Swish, squeeze-excitation or scaling by ReLU6 or a convolution and re-export"},
      {"HardSwish", "replace Hardswish by ReLU6 (nn.ReLU6) and re-export"},
      {"HardSigmoid", "replace Hardsigmoid/Hardswish by ReLU6 (nn.ReLU6) and re-export"},
      {"LeakyRelu", "replace LeakyReLU by ReLU and re-export (LeakyReLU is not exact in int8 here)"},
      {"PRelu", "replace PReLU by ReLU and re-export"},
      {"Elu", "replace ELU by ReLU and re-export"},
      {"Selu", "replace SELU by ReLU and re-export"},
      {"Gelu", "replace GELU by ReLU and re-export"},
      {"Tanh", "replace Tanh by ReLU6 and re-export"},
      {"Resize", "remove upsampling: qparity runs image classifiers (conv, pool, dense)"},
      {"Upsample", "remove upsampling: qparity runs image classifiers (conv, pool, dense)"},
      {"ConvTranspose", "remove transposed convolutions: qparity runs image classifiers"},
      {"Transpose", "keep the model channels-first (NCHW) without Transpose of activations"},
      {"ReduceMax", "use global average pooling (nn.AdaptiveAvgPool2d(1)) instead"},
      {"InstanceNormalization", "use BatchNorm2d instead"},
      {"LayerNormalization", "use BatchNorm2d instead"},
      {"Sub", "fold input normalisation into the data path (qparity's --mean/--std) and re-export"},
      {"Div", "fold input normalisation into the data path (qparity's --mean/--std) and re-export"},
  };
  const auto it = hints.find(op);
  return it != hints.end() ? it->second
                           : "qparity supports Conv (incl. depthwise), BatchNormalization, Relu, Clip (ReLU6), Add, Concat, "
                             "MaxPool, AveragePool, GlobalAveragePool, ReduceMean (H,W), Flatten, Reshape (to [N,-1]), Gemm, "
                             "MatMul+Add, Softmax, Pad, Identity, Dropout and constant shape arithmetic; re-export with "
                             "opset_version=13 and do_constant_folding=True";
}

}  // namespace

std::string onnx_bytes(const Graph &g, const std::map<std::string, std::string> &extra_metadata) {
  const auto model = to_proto(g, extra_metadata);
  std::string bytes;
  if (!model.SerializeToString(&bytes)) fail("internal: ONNX serialization failed");
  return bytes;
}

void save_onnx(const Graph &g, const std::string &path, const std::map<std::string, std::string> &extra_metadata) {
  onnxp::check_and_write(to_proto(g, extra_metadata), path, "FP32 model");
}

void onnxp::check_and_write(const onnx::ModelProto &m, const std::string &path, const std::string &what) {
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception &e) {
    fail("internal: the ONNX checker rejected the " + what + " qparity built: " + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) fail("internal: ONNX serialization failed");
  data::write_file_atomic(path, bytes.data(), bytes.size());
}

ModelFile load_onnx(const std::string &path) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(path))
    fail("model file '" + path + "' does not exist", "pass the path of a .onnx file, e.g. one written by 'qparity train'");
  const auto bytes = data::read_file_bytes(path);
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !model.has_graph())
    fail("'" + path + "' is not an ONNX model (it does not parse as one, or it is truncated)",
         "pass an .onnx file written by 'qparity train' or exported from PyTorch/TensorFlow");
  ModelFile mf;
  for (const auto &op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") mf.opset = static_cast<int>(op.version());
  // The operator set decides attribute-vs-input forms (Clip bounds, Unsqueeze axes, Pad pads, ...):
  // qparity reads the forms of opsets 11..17, what PyTorch 1.13 and 2.x export.
  if (mf.opset < 11 || mf.opset > 17)
    fail("'" + path + "' uses ONNX opset " + std::to_string(mf.opset) + "; qparity reads opsets 11 to 17",
         "re-export with torch.onnx.export(..., opset_version=13)");
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail("'" + path + "' is not a valid ONNX model: " + std::string(e.what()).substr(0, 400),
         "re-export the model; the file may be truncated or corrupt");
  }
  mf.path = path;
  mf.file_bytes = static_cast<int64_t>(bytes.size());
  mf.sha256 = sha256_hex(bytes.data(), bytes.size());
  mf.producer = model.producer_name();
  for (const auto &op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") mf.opset = static_cast<int>(op.version());
  for (const auto &p : model.metadata_props()) mf.metadata[p.key()] = p.value();

  const auto &graph = model.graph();
  std::map<std::string, const onnx::TensorProto *> inits;
  for (const auto &t : graph.initializer()) inits[t.name()] = &t;
  for (const auto &n : graph.node())
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear" || n.op_type() == "QLinearConv")
      fail("'" + path + "' is an INT8 (quantized) model; this needs the FP32 model",
           "pass the FP32 model written by 'qparity train'");

  // The single real input: float32 [N, C, H, W], N symbolic or fixed, C 1 or 3.
  const onnx::ValueInfoProto *input = nullptr;
  for (const auto &vi : graph.input())
    if (!inits.count(vi.name())) {
      if (input) fail("'" + path + "' has more than one input", "qparity models take one image tensor");
      input = &vi;
    }
  if (!input) fail("'" + path + "' has no input");
  const auto &tt = input->type().tensor_type();
  const auto &dims = tt.shape().dim();
  auto dim_value = [&](int i) { return dims[i].has_dim_value() ? dims[i].dim_value() : -1; };
  if (tt.elem_type() != onnx::TensorProto::FLOAT || dims.size() != 4 || dim_value(1) <= 0 || dim_value(2) <= 0 ||
      dim_value(3) <= 0)
    fail("'" + path + "': input '" + input->name() + "' must be float32 [N,C,H,W] with fixed C, H and W (image channels first)",
         "export the model with a fixed image input, e.g. torch.onnx.export(model, torch.zeros(1, 3, 32, 32), ...)");
  // qparity's data path hands a model interleaved RGB or luma bytes: any other channel count would be
  // fed the wrong bytes and answer wrongly without a word.
  if (dim_value(1) != 3 && dim_value(1) != 1)
    fail("'" + path + "': input '" + input->name() + "' has " + std::to_string(dim_value(1)) +
             " channels; qparity feeds models RGB (3 channels) or grayscale (1 channel) images",
         "export the model with a [N,3,H,W] or [N,1,H,W] input");
  if (dim_value(2) > kMaxInputSide || dim_value(3) > kMaxInputSide)
    fail("'" + path + "': input '" + input->name() + "' is " + std::to_string(dim_value(2)) + "x" + std::to_string(dim_value(3)) +
             " pixels, above qparity's limit of " + std::to_string(kMaxInputSide) + " per side",
         "export the model with a smaller input");

  Graph g;
  g.input = {static_cast<int>(dim_value(1)), static_cast<int>(dim_value(2)), static_cast<int>(dim_value(3))};
  g.arch = mf.metadata.count("qparity.arch") ? mf.metadata["qparity.arch"] : "imported";

  // The graph is a DAG of tensors named by the nodes' inputs and outputs. `produced` maps each computed
  // tensor to the IR layer that computes it (kGraphInput for the image); Identity and Dropout alias
  // their input, as does a Flatten of a GlobalAveragePool (the IR's pooling is already flat). `rank`
  // is each computed tensor's ONNX rank (4 = [N,C,H,W], 2 = [N,C]), what Shape and Flatten see.
  // `consts` holds the constants: initializers (on first use), Constant nodes and folded shape
  // arithmetic.
  const auto &nodes = graph.node();
  const auto node_where = [&](int ni) {
    return "'" + path + "' node '" + nodes[ni].name() + "' (" + nodes[ni].op_type() + ")";
  };
  std::map<std::string, int> produced = {{input->name(), kGraphInput}};
  std::map<std::string, int> rank = {{input->name(), 4}};
  const bool own_file = mf.producer == "qparity";
  g.set_tensor_name(kGraphInput, own_file && is_generated_tensor_name(input->name()) ? std::string() : input->name());
  std::map<std::string, Const> consts;
  std::vector<bool> flat_of{false};     // per producer + 1: flat (after Flatten/GAP/Dense)
  std::map<std::string, int> node_of;   // tensor name -> the node that outputs it
  std::map<std::string, int> readers;   // tensor name -> how many node inputs (and graph outputs) read it
  for (int ni = 0; ni < nodes.size(); ++ni) {
    for (const auto &o : nodes[ni].output())
      if (!o.empty() && !node_of.emplace(o, ni).second)
        fail(node_where(ni) + " writes tensor '" + o + "', which node '" + nodes[node_of[o]].name() + "' already writes",
             "every tensor must have one producer (re-export the model; the file is corrupt)");
    for (const auto &in : nodes[ni].input()) ++readers[in];
  }
  for (const auto &o : graph.output()) ++readers[o.name()];
  for (int ni = 0; ni < nodes.size(); ++ni)
    if (nodes[ni].output_size() > 0 && !nodes[ni].output(0).empty() && !readers.count(nodes[ni].output(0)))
      fail(node_where(ni) + ": its output '" + nodes[ni].output(0) + "' is never used (a dangling node)",
           "remove the node or connect it: every node must feed another node or the graph's single output");
  std::map<int, int> matmul_dense;  // Dense layers made from a MatMul (no bias yet) -> 1

  for (int ni = 0; ni < nodes.size(); ++ni) {
    const auto &n = nodes[ni];
    const std::string &op = n.op_type();
    const std::string where = node_where(ni);
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail(where + ": operator domain '" + n.domain() + "' is not the standard ONNX domain",
           "export with standard ONNX operators only (torch.onnx.export without custom_opsets)");
    if (n.output_size() == 0 || n.output(0).empty()) fail(where + " has no output");
    if (produced.count(n.output(0)) || inits.count(n.output(0)) || consts.count(n.output(0)))
      fail(where + " writes tensor '" + n.output(0) + "', which is already the graph input or an initializer",
           "every tensor must have one producer (re-export the model; the file is corrupt)");
    auto has_input = [&](int k) { return n.input_size() > k && !n.input(k).empty(); };
    auto missing = [&](int k) { fail(where + ": input " + std::to_string(k) + " is missing", "re-export the model"); };
    // Input k as a constant, or null when it is computed from the image.
    auto const_of = [&](int k) -> const Const * {
      if (!has_input(k)) missing(k);
      const std::string &name = n.input(k);
      const auto c = consts.find(name);
      if (c != consts.end()) return &c->second;
      const auto t = inits.find(name);
      if (t == inits.end()) return nullptr;
      return &(consts[name] = const_from_tensor(*t->second, where + ": initializer '" + name + "'", path));
    };
    // Input k as a tensor computed by an earlier node (or the graph input): its producer layer.
    auto data_input = [&](int k) -> int {
      if (!has_input(k)) missing(k);
      const std::string &name = n.input(k);
      const auto it = produced.find(name);
      if (it != produced.end()) return it->second;
      if (consts.count(name) || inits.count(name))
        fail(where + ": input " + std::to_string(k) + " ('" + name +
                 "') is a constant, but qparity needs a tensor computed by the layers before it here",
             "qparity supports " + op + " of computed tensors only (no constant operands); re-export the model");
      const auto pn = node_of.find(name);
      if (pn != node_of.end())
        fail(where + " reads tensor '" + name + "' before node '" + nodes[pn->second].name() +
                 "' computes it: the nodes are not in topological order",
             "re-export the model; ONNX requires every tensor to be produced before a node uses it");
      fail(where + " reads tensor '" + name + "', which no node produces and which is not the graph input",
           "re-export the model; the file is corrupt");
    };
    // Input k as a constant that must exist (weights, biases, statistics, bounds, shapes).
    auto need_const = [&](int k, const std::string &what) -> const Const & {
      const Const *c = const_of(k);
      if (!c)
        fail(where + ": input " + std::to_string(k) + " ('" + n.input(k) + "', " + what +
                 ") must be a constant, but it is computed from the image or fed as a graph input",
             "export with do_constant_folding=True and static shapes, so weights and shapes are stored as constants");
      return *c;
    };
    auto floats = [&](int k, const std::string &what) {
      const Const &c = need_const(k, what);
      if (!c.is_float) fail(where + ": " + what + " '" + n.input(k) + "' is not a float tensor", "re-export the model");
      return c.f;
    };
    auto scalar = [&](int k, const std::string &what) -> double {
      const Const &c = need_const(k, what);
      if (c.size() != 1) fail(where + ": " + what + " '" + n.input(k) + "' is not a scalar");
      return c.is_float ? c.f[0] : static_cast<double>(c.i[0]);
    };
    auto set_const = [&](Const c) {
      if (static_cast<int64_t>(c.size()) > kMaxTensorElements) fail(where + ": constant too large");
      consts[n.output(0)] = std::move(c);
    };
    // All inputs constant: the node is folded (shape arithmetic), not run on the image.
    bool all_const = n.input_size() > 0;
    for (int k = 0; k < n.input_size(); ++k)
      if (has_input(k) && !const_of(k)) all_const = false;

    // ---- constant nodes and the shape arithmetic exporters emit ----
    if (op == "Constant") {
      if (n.attribute_size() != 1) fail(where + " must have exactly one value attribute");
      const auto &a = n.attribute(0);
      Const c;
      if (a.name() == "value") {
        c = const_from_tensor(a.t(), where + ": value", path);
      } else if (a.name() == "value_float") {
        c.is_float = true;
        c.f = {a.f()};
      } else if (a.name() == "value_int") {
        c.i = {a.i()};
      } else if (a.name() == "value_floats") {
        c.is_float = true;
        c.f.assign(a.floats().begin(), a.floats().end());
        c.dims = {static_cast<int64_t>(c.f.size())};
      } else if (a.name() == "value_ints") {
        c.i.assign(a.ints().begin(), a.ints().end());
        c.dims = {static_cast<int64_t>(c.i.size())};
      } else {
        fail(where + ": Constant attribute '" + a.name() + "' is not supported", "re-export with opset_version=13");
      }
      set_const(std::move(c));
      continue;
    }
    if (op == "Shape") {
      const int p = data_input(0);
      const Shape s = g.tensor_shape(p);
      Const c;
      c.i = rank.at(n.input(0)) == 2 ? std::vector<int64_t>{kBatchDim, s.c} : std::vector<int64_t>{kBatchDim, s.c, s.h, s.w};
      const auto r = static_cast<int64_t>(c.i.size());
      int64_t start = attr_i(n, "start", 0), end = attr_i(n, "end", r);
      start = std::clamp(start < 0 ? start + r : start, int64_t{0}, r);
      end = std::clamp(end < 0 ? end + r : end, int64_t{0}, r);
      c.i = end > start ? std::vector<int64_t>(c.i.begin() + start, c.i.begin() + end) : std::vector<int64_t>{};
      c.dims = {static_cast<int64_t>(c.i.size())};
      set_const(std::move(c));
      continue;
    }
    const bool foldable = op == "Gather" || op == "Unsqueeze" || op == "Squeeze" || op == "Concat" || op == "Reshape" ||
                          op == "Slice" || op == "Transpose" || op == "Cast" || op == "ConstantOfShape" || op == "Identity" ||
                          op == "Dropout" || op == "Flatten";
    if (all_const && !foldable)
      fail(where + ": qparity cannot fold this operator on constants (it folds shape arithmetic: Shape, Gather, Unsqueeze, "
                   "Squeeze, Concat, Reshape, Slice, Transpose, Cast, ConstantOfShape)",
           "export with do_constant_folding=True, or compute the value in Python before exporting");
    if (all_const) {
      const Const &x = *const_of(0);
      if (op == "Identity" || op == "Dropout") {
        set_const(x);
      } else if (op == "Cast") {
        const int64_t to = attr_i(n, "to", 0);
        Const c;
        c.dims = x.dims;
        const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
        const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
        if (!to_float && !to_int) fail(where + ": Cast to element type " + std::to_string(to) + " is not supported");
        for (const int64_t v : x.i)
          if (v == kBatchDim && to_float) fail(where + ": Cast of the symbolic batch size to float cannot be folded");
        c.is_float = to_float;
        if (to_float)
          for (size_t k = 0; k < x.size(); ++k) c.f.push_back(x.is_float ? x.f[k] : static_cast<float>(x.i[k]));
        else
          for (size_t k = 0; k < x.size(); ++k) {
            if (x.is_float && !(std::fabs(x.f[k]) < 9e15f)) fail(where + ": Cast of a non-finite or huge float to integer");
            c.i.push_back(x.is_float ? static_cast<int64_t>(x.f[k]) : x.i[k]);
          }
        set_const(std::move(c));
      } else if (op == "ConstantOfShape") {
        const auto shape = const_ints(x, where + ": shape");
        for (const int64_t d : shape)
          if (d == kBatchDim) fail(where + ": ConstantOfShape of the symbolic batch size cannot be folded");
        Const c;
        const int64_t count = checked_element_count(shape, where + " result", kMaxFoldElements);
        const auto *va = find_attr(n, "value");
        Const v;
        if (va) v = const_from_tensor(va->t(), where + ": value", path);
        else v.is_float = true, v.f = {0.f};
        if (v.size() != 1) fail(where + ": value is not a single number");
        c.is_float = v.is_float;
        c.dims = shape;
        if (c.is_float) c.f.assign(static_cast<size_t>(count), v.f[0]);
        else c.i.assign(static_cast<size_t>(count), v.i[0]);
        set_const(std::move(c));
      } else if (op == "Gather") {
        const auto idx = const_ints(need_const(1, "indices"), where + ": indices");
        if (x.dims.empty()) fail(where + ": Gather of a scalar");
        const int64_t axis = norm_axis(attr_i(n, "axis", 0), x.dims.size(), where);
        const int64_t side = x.dims[static_cast<size_t>(axis)];
        std::vector<int64_t> out_dims(x.dims.begin(), x.dims.begin() + axis);
        const Const &ic = *const_of(1);
        out_dims.insert(out_dims.end(), ic.dims.begin(), ic.dims.end());
        out_dims.insert(out_dims.end(), x.dims.begin() + axis + 1, x.dims.end());
        const auto xs = strides_of(x.dims);
        const int64_t inner = xs[static_cast<size_t>(axis)], count = static_cast<int64_t>(idx.size());
        for (const int64_t v : idx)
          if (v < -side || v >= side) fail(where + ": index " + std::to_string(v) + " is outside 0.." + std::to_string(side - 1));
        set_const(remap(x, out_dims, [&](int64_t k) {
          const int64_t outer = k / (count * inner), j = (k / inner) % count, in = k % inner;
          const int64_t t = idx[static_cast<size_t>(j)] < 0 ? idx[static_cast<size_t>(j)] + side : idx[static_cast<size_t>(j)];
          return (outer * side + t) * inner + in;
        }, where));
      } else if (op == "Unsqueeze" || op == "Squeeze") {
        std::vector<int64_t> axes = has_input(1) ? const_ints(need_const(1, "axes"), where + ": axes") : attr_is(n, "axes");
        Const c = x;
        if (op == "Unsqueeze") {
          const size_t out_rank = x.dims.size() + axes.size();
          for (auto &a : axes) a = norm_axis(a, out_rank, where);
          std::sort(axes.begin(), axes.end());
          if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(where + ": repeated axis");
          for (const int64_t a : axes) c.dims.insert(c.dims.begin() + a, 1);
        } else {
          for (auto &a : axes) a = norm_axis(a, x.dims.size(), where);
          std::vector<int64_t> kept;
          for (size_t k = 0; k < x.dims.size(); ++k) {
            const bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end();
            if ((axes.empty() || listed) && x.dims[k] == 1) continue;
            if (listed) fail(where + ": squeezing axis " + std::to_string(k) + " of size " + std::to_string(x.dims[k]));
            kept.push_back(x.dims[k]);
          }
          c.dims = kept;
        }
        set_const(std::move(c));
      } else if (op == "Concat") {
        const Const &first = x;
        if (first.dims.size() != 1) fail(where + ": only 1-D constants are concatenated while folding");
        Const c;
        c.is_float = first.is_float;
        for (int k = 0; k < n.input_size(); ++k) {
          const Const &ck = need_const(k, "a constant");
          if (ck.dims.size() != 1 || ck.is_float != c.is_float) fail(where + ": only 1-D constants of one type are concatenated");
          c.i.insert(c.i.end(), ck.i.begin(), ck.i.end());
          c.f.insert(c.f.end(), ck.f.begin(), ck.f.end());
        }
        c.dims = {static_cast<int64_t>(c.size())};
        if (static_cast<int64_t>(c.size()) > kMaxFoldElements) fail(where + ": constant too large");
        set_const(std::move(c));
      } else if (op == "Reshape" || op == "Flatten") {
        std::vector<int64_t> shape;
        const auto total = static_cast<int64_t>(x.size());
        if (op == "Flatten") {
          int64_t axis = attr_i(n, "axis", 1);
          const auto r = static_cast<int64_t>(x.dims.size());
          if (axis < 0) axis += r;
          if (axis < 0 || axis > r) fail(where + ": axis " + std::to_string(attr_i(n, "axis", 1)) + " is outside the tensor");
          int64_t outer = 1;
          for (int64_t k = 0; k < axis; ++k) outer *= x.dims[static_cast<size_t>(k)];
          shape = {outer, outer ? total / outer : 0};
        } else {
          shape = const_ints(need_const(1, "shape"), where + ": shape");
          int64_t known = 1, infer_at = -1;
          for (size_t k = 0; k < shape.size(); ++k) {
            if (shape[k] == 0 && attr_i(n, "allowzero", 0) == 0) {
              if (k >= x.dims.size()) fail(where + ": shape entry 0 copies a dimension the input does not have");
              shape[k] = x.dims[k];
            }
            if (shape[k] == -1) {
              if (infer_at >= 0) fail(where + ": more than one -1 in the shape");
              infer_at = static_cast<int64_t>(k);
            } else if (shape[k] < 0) {
              fail(where + ": shape " + ints_str(shape) + " has a negative entry");
            } else {
              known = checked_element_count(std::vector<int64_t>{known, shape[k]}, where + " shape", kMaxFoldElements);
            }
          }
          if (infer_at >= 0) {
            if (known == 0 || total % known) fail(where + ": cannot infer the -1 in shape " + ints_str(shape));
            shape[static_cast<size_t>(infer_at)] = total / known;
          }
        }
        if (checked_element_count(shape, where + " shape", kMaxFoldElements) != total)
          fail(where + ": shape " + ints_str(shape) + " does not hold the " + std::to_string(total) + " values of its input");
        Const c = x;
        c.dims = shape;
        set_const(std::move(c));
      } else if (op == "Transpose") {
        const size_t r = x.dims.size();
        std::vector<int64_t> perm = attr_is(n, "perm");
        if (perm.empty())
          for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
        if (perm.size() != r) fail(where + ": perm " + ints_str(perm) + " does not fit a rank-" + std::to_string(r) + " tensor");
        std::vector<int64_t> sorted = perm;
        std::sort(sorted.begin(), sorted.end());
        for (size_t k = 0; k < r; ++k)
          if (sorted[k] != static_cast<int64_t>(k)) fail(where + ": perm " + ints_str(perm) + " is not a permutation");
        std::vector<int64_t> od(r);
        for (size_t k = 0; k < r; ++k) od[k] = x.dims[static_cast<size_t>(perm[k])];
        const auto xs = strides_of(x.dims), os = strides_of(od);
        set_const(remap(x, od, [&](int64_t k) {
          int64_t src = 0;
          for (size_t d = 0; d < r; ++d) src += (k / os[d]) % od[d] * xs[static_cast<size_t>(perm[d])];
          return src;
        }, where));
      } else if (op == "Slice") {
        const size_t r = x.dims.size();
        const auto starts = const_ints(need_const(1, "starts"), where + ": starts");
        const auto ends = const_ints(need_const(2, "ends"), where + ": ends");
        std::vector<int64_t> axes, steps;
        if (has_input(3)) axes = const_ints(need_const(3, "axes"), where + ": axes");
        else
          for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
        if (has_input(4)) steps = const_ints(need_const(4, "steps"), where + ": steps");
        else steps.assign(starts.size(), 1);
        if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
          fail(where + ": starts, ends, axes and steps differ in length");
        std::vector<int64_t> first(r, 0), step(r, 1), od = x.dims;
        for (size_t j = 0; j < starts.size(); ++j) {
          const auto a = static_cast<size_t>(norm_axis(axes[j], r, where));
          const int64_t dim = x.dims[a], st = steps[j];
          if (st == 0 || st == kBatchDim) fail(where + ": step 0");
          int64_t b = starts[j], e = ends[j];
          if (b < 0) b = b < -dim ? 0 : b + dim;
          if (e < 0) e = e < -dim ? -1 : e + dim;
          // A step longer than the axis takes one element: clamp it so the count cannot overflow.
          const int64_t ast = std::min(st < 0 ? -st : st, dim + 1), sst = st < 0 ? -ast : ast;
          if (st > 0) {
            b = std::clamp(b, int64_t{0}, dim);
            e = std::clamp(e, int64_t{0}, dim);
            od[a] = e > b ? (e - b + ast - 1) / ast : 0;
          } else {
            b = std::clamp(b, int64_t{-1}, dim - 1);
            e = std::clamp(e, int64_t{-1}, dim - 1);
            od[a] = b > e ? (b - e + ast - 1) / ast : 0;
          }
          first[a] = b;
          step[a] = sst;
        }
        const auto xs = strides_of(x.dims), os = strides_of(od);
        set_const(remap(x, od, [&](int64_t k) {
          int64_t src = 0;
          for (size_t d = 0; d < r; ++d) src += (first[d] + (k / os[d]) % od[d] * step[d]) * xs[d];
          return src;
        }, where));
      }
      continue;
    }

    // ---- layers run on the image ----
    const int in0 = data_input(0);
    const Shape s = g.tensor_shape(in0);
    const bool in_flat = flat_of[static_cast<size_t>(in0 + 1)];
    const int in_rank = rank.at(n.input(0));
    int out_rank = in_rank;
    // Adds layer `l` reading `from` (shapes computed and checked) and returns its index.
    auto push = [&](Layer l, int from, bool from_flat) {
      l.inputs = {from};
      l = with_shapes(std::move(l), g.tensor_shape(from), from_flat, where);
      const bool f = l.op == Op::GlobalAvgPool || l.op == Op::Flatten || l.op == Op::Dense ? true : from_flat;
      g.layers.push_back(std::move(l));
      flat_of.push_back(f);
      return static_cast<int>(g.layers.size()) - 1;
    };
    auto alias = [&](int producer, int r) {
      produced[n.output(0)] = producer;
      // A later alias (Identity, a Flatten of a pool) renames it; the names qparity's writer makes up are no names.
      g.set_tensor_name(producer, own_file && is_generated_tensor_name(n.output(0)) ? std::string() : n.output(0));
      rank[n.output(0)] = r;
    };
    // An optional bias (input 2) of `count` values, zeros when absent.
    auto bias = [&](int64_t count) {
      if (!has_input(2)) return std::vector<float>(static_cast<size_t>(count), 0.f);
      auto b = floats(2, "bias");
      if (static_cast<int64_t>(b.size()) != count)
        fail(where + ": bias '" + n.input(2) + "' has " + std::to_string(b.size()) + " values for " + std::to_string(count) +
                 " output channels",
             "re-export the model; the file is inconsistent");
      return b;
    };
    // pads [top, left, bottom, right] of a 2-D window op, from 'pads' or 'auto_pad'; `same` (TF's split,
    // the extra pixel bottom/right) is what SAME_UPPER means.
    auto window_pads = [&](int k, int stride, bool &same_upper) {
      same_upper = false;
      const auto *ap = find_attr(n, "auto_pad");
      const std::string mode = ap ? ap->s() : "NOTSET";
      if (mode == "SAME_UPPER") same_upper = true;
      else if (mode == "SAME_LOWER") fail(where + ": auto_pad SAME_LOWER is not supported", "export with explicit pads");
      else if (mode != "NOTSET" && mode != "VALID") fail(where + ": auto_pad '" + mode + "' is not valid ONNX");
      std::vector<int64_t> pads = attr_is(n, "pads");
      if (mode != "NOTSET" || pads.empty()) pads = {0, 0, 0, 0};
      if (pads.size() != 4) fail(where + ": pads " + ints_str(pads) + " is not 2-D ([top, left, bottom, right])");
      for (const int64_t p : pads)
        if (p < 0 || p >= k) fail(where + ": pad " + std::to_string(p) + " is outside 0.." + std::to_string(k - 1));
      if (same_upper) {
        Layer probe;
        probe.op = Op::MaxPool;
        probe.kernel = k;
        probe.stride = stride;
        probe.padding = Padding::Same;
        const Layer p = with_shapes(probe, s, in_flat, where);
        pads = {p.pad_top, p.pad_left, p.pad_bottom, p.pad_right};
      }
      return pads;
    };
    // Whether explicit pads equal what Padding::Same computes for this window (TF's split).
    auto is_same = [&](const std::vector<int64_t> &pads, int k, int stride) {
      Layer probe;
      probe.op = Op::MaxPool;
      probe.kernel = k;
      probe.stride = stride;
      probe.padding = Padding::Same;
      const Layer p = with_shapes(probe, s, in_flat, where);
      return pads == std::vector<int64_t>{p.pad_top, p.pad_left, p.pad_bottom, p.pad_right};
    };
    auto pad_layer = [&](const std::vector<int64_t> &pads) {
      Layer p;
      p.op = Op::Pad;
      p.pad_top = static_cast<int>(pads[0]);
      p.pad_left = static_cast<int>(pads[1]);
      p.pad_bottom = static_cast<int>(pads[2]);
      p.pad_right = static_cast<int>(pads[3]);
      return push(std::move(p), in0, in_flat);
    };
    if (in_rank != 4 && (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
                         op == "BatchNormalization" || op == "ReduceMean" || op == "Pad"))
      fail(where + " needs an [N,C,H,W] input but gets a flattened one", "flatten after the convolutions and pooling");

    if (op == "Conv") {
      const Const &wt = need_const(1, "weight");
      const auto w = floats(1, "weight");
      const std::string wname = "weight '" + n.input(1) + "' " + ints_str(wt.dims);
      if (wt.dims.size() != 4 || std::any_of(wt.dims.begin(), wt.dims.end(), [](int64_t d) { return d <= 0; }))
        fail(where + ": " + wname + " is not a 4-D [out, in/group, kH, kW] tensor", "re-export the model");
      if (wt.dims[2] != wt.dims[3]) fail(where + ": only square 2-D kernels are supported (" + wname + ")");
      const auto strides = attr_is(n, "strides"), dil = attr_is(n, "dilations");
      const auto kshape = attr_is(n, "kernel_shape");
      const int64_t group = attr_i(n, "group", 1);
      // Attributes that restate the weight's shape must agree with it: a 5x5 kernel_shape over 3x3
      // weights is a broken file, not a 3x3 convolution.
      if (!kshape.empty() && (kshape.size() != 2 || kshape[0] != wt.dims[2] || kshape[1] != wt.dims[3]))
        fail(where + ": kernel_shape " + ints_str(kshape) + " does not match the " + wname,
             "re-export the model; kernel_shape must equal the weight's last two dimensions");
      if (!dil.empty() && dil.size() != 2) fail(where + ": dilations " + ints_str(dil) + " is not 2-D");
      for (auto d : dil)
        if (d != 1) fail(where + ": dilated convolutions are not supported", "use dilation=1");
      if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1]))
        fail(where + ": strides must be equal in H and W");
      Layer l;
      l.kernel = window_attr(wt.dims[2], "kernel side", where);
      l.stride = strides.empty() ? 1 : window_attr(strides[0], "stride", where);
      if (group == 1) {
        if (wt.dims[1] != s.c)
          fail(where + ": " + wname + " takes " + std::to_string(wt.dims[1]) + " input channels but its input has " +
                   std::to_string(s.c),
               "re-export the model; the file is inconsistent");
        l.op = Op::Conv2D;
        l.units = static_cast<int>(wt.dims[0]);
      } else if (group == s.c) {
        if (wt.dims[1] != 1 || wt.dims[0] % s.c != 0)
          fail(where + ": depthwise (group=" + std::to_string(group) + ") " + wname + " is not [" + std::to_string(s.c) +
                   "*M,1,k,k]",
               "re-export the model; the file is inconsistent");
        l.op = Op::DepthwiseConv2D;
        if (wt.dims[0] / s.c > 256) fail(where + ": depth multiplier " + std::to_string(wt.dims[0] / s.c) + " is above 256");
        l.depth_multiplier = static_cast<int>(wt.dims[0] / s.c);
      } else {
        fail(where + ": grouped convolution with group=" + std::to_string(group) + " over " + std::to_string(s.c) +
                 " channels is not supported",
             "use groups=1 or depthwise (groups = in_channels) in the PyTorch model");
      }
      l.weight = w;
      l.bias = bias(wt.dims[0]);
      // Padding: none = valid; TF's 'same' split = same; anything else (PyTorch's symmetric padding
      // at stride 2) = a Pad layer in front of a valid convolution, which computes the same values.
      bool upper = false;
      const auto pads = window_pads(l.kernel, l.stride, upper);
      int from = in0;
      bool from_flat = in_flat;
      if (upper || is_same(pads, l.kernel, l.stride)) {
        l.padding = Padding::Same;
      } else if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) {
        from = pad_layer(pads);
        from_flat = false;
      }
      alias(push(std::move(l), from, from_flat), 4);
      continue;
    }
    if (op == "MaxPool" || op == "AveragePool") {
      const auto k = attr_is(n, "kernel_shape"), st = attr_is(n, "strides");
      if (k.size() != 2 || k[0] != k[1]) fail(where + ": only square 2-D pooling windows are supported");
      if (!st.empty() && (st.size() != 2 || st[0] != st[1])) fail(where + ": strides must be equal in H and W");
      for (auto d : attr_is(n, "dilations"))
        if (d != 1) fail(where + ": dilated pooling is not supported");
      if (n.output_size() > 1 && !n.output(1).empty()) fail(where + ": MaxPool indices output is not supported");
      Layer l;
      l.op = op == "MaxPool" ? Op::MaxPool : Op::AvgPool;
      l.kernel = window_attr(k[0], "kernel side", where);
      l.stride = st.empty() ? 1 : window_attr(st[0], "stride", where);
      bool upper = false;
      const auto pads = window_pads(l.kernel, l.stride, upper);
      const bool zero = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
      const bool include_pad = op == "AveragePool" && attr_i(n, "count_include_pad", 0) != 0;
      // A ceil_mode window count equals the floor one when the windows tile the padded input exactly.
      if (attr_i(n, "ceil_mode", 0) != 0) {
        const int64_t hspan = s.h + pads[0] + pads[2] - l.kernel, wspan = s.w + pads[1] + pads[3] - l.kernel;
        if (hspan < 0 || wspan < 0 || hspan % l.stride != 0 || wspan % l.stride != 0)
          fail(where + ": ceil_mode=1 adds a partial window here, which qparity does not support",
               "use ceil_mode=False in the PyTorch model");
      }
      // Producer of the input clamps at 0 (ReLU/ReLU6): zero padding cannot win a max.
      const bool nonneg = in0 != kGraphInput && (g.layers[static_cast<size_t>(in0)].op == Op::ReLU ||
                                                 g.layers[static_cast<size_t>(in0)].op == Op::ReLU6);
      int from = in0;
      if (zero) {
        l.padding = Padding::Valid;
      } else if ((upper || is_same(pads, l.kernel, l.stride)) && !include_pad) {
        l.padding = Padding::Same;  // padded positions ignored (max) or not counted (average), as ONNX says
      } else if (include_pad || (l.op == Op::MaxPool && nonneg)) {
        from = pad_layer(pads);  // zeros that count (average) or cannot win (max of non-negative values)
      } else {
        fail(where + ": pads " + ints_str(pads) + " are neither none nor 'same' (extra pixel bottom/right)" +
                 (l.op == Op::AvgPool ? " with count_include_pad=0" : " on an input that may be negative"),
             "pool without padding, or pad explicitly (nn.ZeroPad2d) before the pooling");
      }
      alias(push(std::move(l), from, false), 4);
      continue;
    }
    if (op == "GlobalAveragePool" || op == "ReduceMean") {
      if (op == "ReduceMean") {
        if (has_input(1)) fail(where + ": axes as an input (opset 18) is not supported", "re-export with opset_version=13");
        auto axes = attr_is(n, "axes");
        for (auto &a : axes) a = norm_axis(a, 4, where);
        std::sort(axes.begin(), axes.end());
        if (axes != std::vector<int64_t>{2, 3})
          fail(where + ": ReduceMean over axes " + ints_str(attr_is(n, "axes")) + "; qparity averages over H and W only",
               "use x.mean(dim=(2, 3)) or nn.AdaptiveAvgPool2d(1)");
        out_rank = attr_i(n, "keepdims", 1) != 0 ? 4 : 2;
      }
      Layer l;
      l.op = Op::GlobalAvgPool;
      alias(push(std::move(l), in0, in_flat), out_rank);
      continue;
    }
    if (op == "Flatten" || op == "Reshape") {
      if (op == "Flatten") {
        const int64_t axis = attr_i(n, "axis", 1);
        if (axis != 1 && axis != 1 - in_rank) fail(where + ": only Flatten with axis=1 is supported", "use torch.flatten(x, 1)");
      } else {
        const Const *shape = const_of(1);
        if (!shape)
          fail(where + ": the target shape '" + n.input(1) +
                   "' is computed from the image at run time, not from constants qparity can fold",
               "flatten with torch.flatten(x, 1) or x.view(x.size(0), -1), and export with do_constant_folding=True");
        const auto t = const_ints(*shape, where + ": shape");
        const int64_t total = s.size();
        const bool batch_ok = t.size() == 2 && (t[0] == kBatchDim || t[0] == 0 || t[0] == 1 || (t[0] == -1 && t[1] == total));
        if (!batch_ok || !(t[1] == -1 || t[1] == total) || attr_i(n, "allowzero", 0) != 0)
          fail(where + ": Reshape to " + const_str(*shape) + " of a " + shape_str(s) + " tensor is not supported",
               "qparity reshapes only to [N,-1] or [N," + std::to_string(total) + "] (a flatten): use torch.flatten(x, 1)");
      }
      out_rank = 2;
      if (in_flat) {  // already flat in the IR (a global pooling, a Dense): nothing to do
        alias(in0, out_rank);
      } else {
        Layer l;
        l.op = Op::Flatten;
        alias(push(std::move(l), in0, in_flat), out_rank);
      }
      continue;
    }
    if (op == "Gemm" || op == "MatMul") {
      if (op == "Gemm" && (attr_f(n, "alpha", 1.f) != 1.f || attr_f(n, "beta", 1.f) != 1.f || attr_i(n, "transA", 0) != 0))
        fail(where + ": only Gemm with alpha=1, beta=1, transA=0 is supported", "use nn.Linear");
      const Const &wt = need_const(1, "weight");
      auto w = floats(1, "weight");
      const std::string wname = "weight '" + n.input(1) + "' " + ints_str(wt.dims);
      if (wt.dims.size() != 2 || wt.dims[0] <= 0 || wt.dims[1] <= 0)
        fail(where + ": " + wname + " is not a 2-D matrix", "re-export the model; the file is inconsistent");
      const bool transb = op == "Gemm" && attr_i(n, "transB", 0) != 0;
      const int64_t out = transb ? wt.dims[0] : wt.dims[1], in = transb ? wt.dims[1] : wt.dims[0];
      if (!(s.h == 1 && s.w == 1) || in_rank != 2)
        fail(where + " needs a flat [N,C] input but gets " + shape_str(s) + (in_rank == 2 ? "" : " of rank 4"),
             "insert torch.flatten(x, 1) before the Linear layer");
      if (in != s.c)
        fail(where + ": " + wname + (op == "Gemm" ? " with transB=" + std::to_string(transb ? 1 : 0) : std::string()) + " takes " +
                 std::to_string(in) + " inputs but the previous layer outputs " + std::to_string(s.c),
             "re-export the model; the weight must match the layer before it");
      if (!transb) {  // stored [in][out]: transpose to [out][in]
        std::vector<float> t(w.size());
        for (int64_t i = 0; i < in; ++i)
          for (int64_t o = 0; o < out; ++o) t[static_cast<size_t>(o * in + i)] = w[static_cast<size_t>(i * out + o)];
        w = std::move(t);
      }
      Layer l;
      l.op = Op::Dense;
      l.units = static_cast<int>(out);
      l.weight = std::move(w);
      if (op == "Gemm") {
        if (has_input(2)) {
          const Const &bc = need_const(2, "bias");
          if (bc.dims.size() > 1 && !(bc.dims.size() == 2 && bc.dims[0] == 1))
            fail(where + ": bias " + ints_str(bc.dims) + " is not a vector of " + std::to_string(out), "use nn.Linear");
        }
        l.bias = bias(out);
      } else {
        l.bias.assign(static_cast<size_t>(out), 0.f);
      }
      const int idx = push(std::move(l), in0, in_flat);
      if (op == "MatMul") matmul_dense[idx] = 1;
      alias(idx, 2);
      continue;
    }
    if (op == "Add") {
      // MatMul + Add of a constant vector: the bias of the Dense made from the MatMul.
      const int cside = const_of(0) ? 0 : const_of(1) ? 1 : -1;
      if (cside >= 0) {
        const int p = data_input(1 - cside);
        const std::string &mm = n.input(1 - cside);
        if (!matmul_dense.count(p) || readers[mm] != 1 || produced.at(mm) != p)
          fail(where + " adds a constant to a tensor that is not a MatMul's output",
               "qparity adds two computed tensors (a residual connection) or a bias after MatMul; use nn.Linear");
        const Const &b = need_const(cside, "bias");
        Layer &d = g.layers[static_cast<size_t>(p)];
        const bool vec = b.dims.size() == 1 || (b.dims.size() == 2 && b.dims[0] == 1);
        if (!b.is_float || !vec || b.f.size() != d.bias.size())
          fail(where + ": bias " + ints_str(b.dims) + " is not a float vector of " + std::to_string(d.bias.size()) + " values",
               "use nn.Linear");
        d.bias = b.f;
        matmul_dense.erase(p);
        alias(p, 2);
        continue;
      }
      const int in1 = data_input(1);
      const Shape s1 = g.tensor_shape(in1);
      if (!(s1 == s) || flat_of[static_cast<size_t>(in1 + 1)] != in_flat || rank.at(n.input(1)) != in_rank)
        fail(where + " adds '" + n.input(0) + "' " + shape_str(s) + " and '" + n.input(1) + "' " + shape_str(s1) +
                 ", tensors of different shapes",
             "qparity adds two tensors of the same shape (no broadcasting); give the shortcut a 1x1 projection");
      Layer l;
      l.op = Op::Add;
      l.inputs = {in0, in1};
      l.in = l.out = s;
      g.layers.push_back(std::move(l));
      flat_of.push_back(in_flat);
      alias(static_cast<int>(g.layers.size()) - 1, in_rank);
      continue;
    }
    if (op == "Concat") {
      const int64_t axis = attr_i(n, "axis", 1);
      if (!(axis == 1 || axis == 1 - in_rank))
        fail(where + ": axis " + std::to_string(axis) + " is not the channel axis",
             "qparity concatenates along channels only (NCHW axis=1)");
      if (n.input_size() < 2) fail(where + " has " + std::to_string(n.input_size()) + " input, needs at least 2");
      Layer l;
      l.op = Op::Concat;
      int64_t channels = 0;
      for (int k = 0; k < n.input_size(); ++k) {
        const int pk = data_input(k);
        const Shape sk = g.tensor_shape(pk);
        if (sk.h != s.h || sk.w != s.w || flat_of[static_cast<size_t>(pk + 1)] != in_flat || rank.at(n.input(k)) != in_rank)
          fail(where + ": input " + std::to_string(k) + " '" + n.input(k) + "' " + shape_str(sk) + " and input 0 '" +
                   n.input(0) + "' " + shape_str(s) + " differ in height or width",
               "concatenated tensors must have the same height and width");
        channels += sk.c;
        l.inputs.push_back(pk);
      }
      if (channels > kMaxActivationElements) fail(where + ": too many channels (" + std::to_string(channels) + ")");
      l.in = s;
      l.out = {static_cast<int>(channels), s.h, s.w};
      if (l.out.size() > kMaxActivationElements) fail(where + ": the output " + shape_str(l.out) + " is too large");
      g.layers.push_back(std::move(l));
      flat_of.push_back(in_flat);
      alias(static_cast<int>(g.layers.size()) - 1, in_rank);
      continue;
    }
    if (op == "Pad") {
      const auto *mode = find_attr(n, "mode");
      if (mode && mode->s() != "constant")
        fail(where + ": Pad mode '" + mode->s() + "' is not supported", "pad with zeros (nn.ZeroPad2d) or let the Conv pad");
      if (has_input(3)) fail(where + ": Pad axes (opset 18) is not supported", "re-export with opset_version=13");
      const auto pads = const_ints(need_const(1, "pads"), where + ": pads");
      if (has_input(2) && scalar(2, "constant value") != 0.0)
        fail(where + ": padding with a value other than 0 is not supported", "pad with zeros (nn.ZeroPad2d)");
      if (pads.size() != 8) fail(where + ": pads " + ints_str(pads) + " is not 8 values for an [N,C,H,W] tensor");
      if (pads[0] || pads[1] || pads[4] || pads[5])
        fail(where + ": pads " + ints_str(pads) + " pad the batch or channel axis", "pad only H and W");
      for (const int64_t p : pads)
        if (p < 0 || p > kMaxWindow)
          fail(where + ": pad " + std::to_string(p) + " is outside 0.." + std::to_string(kMaxWindow), "crop in the data path instead");
      if (pads[2] == 0 && pads[3] == 0 && pads[6] == 0 && pads[7] == 0) alias(in0, 4);
      else alias(pad_layer({pads[2], pads[3], pads[6], pads[7]}), 4);
      continue;
    }
    if (op == "Dropout" || op == "Identity") {
      if (op == "Dropout" && has_input(2) && scalar(2, "training_mode") != 0.0)
        fail(where + ": Dropout in training mode", "export the model in eval mode (model.eval())");
      alias(in0, in_rank);
      continue;
    }
    Layer l;
    if (op == "Relu") {
      l.op = Op::ReLU;
    } else if (op == "Clip") {
      const double lo = has_input(1) ? scalar(1, "min") : attr_f(n, "min", -std::numeric_limits<float>::max());
      const double hi = has_input(2) ? scalar(2, "max") : attr_f(n, "max", std::numeric_limits<float>::max());
      if (lo == 0.0 && hi == 6.0) l.op = Op::ReLU6;
      else if (lo == 0.0 && hi >= std::numeric_limits<float>::max()) l.op = Op::ReLU;
      else
        fail(where + ": Clip(" + std::to_string(lo) + ", " + std::to_string(hi) + ") is not supported: qparity runs Clip(0, 6) " +
                 "(ReLU6) and Clip(0, inf) (ReLU)",
             "use nn.ReLU6 or nn.ReLU");
    } else if (op == "BatchNormalization") {
      if (attr_i(n, "training_mode", 0) != 0 || (n.output_size() > 1 && !n.output(1).empty()))
        fail(where + ": BatchNormalization in training mode", "export the model in eval mode (model.eval())");
      l.op = Op::BatchNorm;
      l.gamma = floats(1, "scale");
      l.beta = floats(2, "bias");
      l.mean = floats(3, "mean");
      l.var = floats(4, "variance");
      l.eps = attr_f(n, "epsilon", 1e-5f);
      // Folding divides by sqrt(var + eps): a negative or non-finite value would make NaN weights.
      for (float v : l.var)
        if (!(std::isfinite(v + l.eps) && v + l.eps > 0))
          fail(where + ": variance + epsilon is not a finite positive number", "re-export the model; the file is corrupt");
    } else if (op == "Softmax") {
      const int64_t axis = attr_i(n, "axis", mf.opset >= 13 ? -1 : 1);
      if (in_rank != 2 || (axis != 1 && axis != -1))
        fail(where + ": only Softmax over the class axis of an [N,K] tensor is supported", "use torch.softmax(x, dim=1)");
      l.op = Op::Softmax;
    } else {
      fail(where + ": operator '" + op + "' is not supported", unsupported_fix(op));
    }
    alias(push(std::move(l), in0, in_flat), in_rank);
  }
  if (g.layers.empty()) fail("'" + path + "' has no layers qparity can run");
  if (graph.output_size() != 1 || !produced.count(graph.output(0).name()) ||
      produced[graph.output(0).name()] != static_cast<int>(g.layers.size()) - 1)
    fail("'" + path + "': the graph's output is not the output of its last layer",
         "qparity supports networks with one output, computed by the last node");
  // relu6(relu(x)) = relu6(x): PyTorch writes nn.ReLU6 as Relu followed by Clip(0, 6).
  {
    const auto cons = [&] {
      Graph probe = g;
      for (size_t i = 0; i < probe.layers.size(); ++i)
        if (probe.layers[i].inputs.empty()) probe.layers[i].inputs = {static_cast<int>(i) - 1};
      return consumers(probe);
    }();
    std::vector<bool> drop(g.layers.size(), false);
    bool any = false;
    for (size_t i = 0; i < g.layers.size(); ++i)
      if (g.layers[i].op == Op::ReLU && cons[i].size() == 1 && g.layers[static_cast<size_t>(cons[i][0])].op == Op::ReLU6 &&
          g.layers[static_cast<size_t>(cons[i][0])].inputs.size() == 1)
        drop[i] = any = true;
    if (any) {
      try {
        remove_layers(g, drop);
      } catch (const Error &e) {
        fail("'" + path + "': " + e.what());
      }
    }
  }
  // The whole graph once more: edges, shapes and parameter sizes together.
  try {
    infer_shapes(g);
  } catch (const Error &e) {
    fail("'" + path + "': " + e.what());
  }
  const Shape out = g.output();
  if (!(out.h == 1 && out.w == 1)) fail("'" + path + "': the output is not a flat class vector (shape " + shape_str(out) + ")");
  if (mf.metadata.count("qparity.classes")) {
    try {
      g.classes = nlohmann::json::parse(mf.metadata["qparity.classes"]).get<std::vector<std::string>>();
    } catch (const std::exception &) {
      fail("'" + path + "': metadata qparity.classes is not a JSON list of names");
    }
    if (static_cast<int>(g.classes.size()) != out.c)
      fail("'" + path + "': metadata names " + std::to_string(g.classes.size()) + " classes but the model outputs " +
           std::to_string(out.c));
  }
  mf.graph = std::move(g);
  return mf;
}

}  // namespace qp::model
