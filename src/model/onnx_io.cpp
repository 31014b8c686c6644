#include "model/onnx_io.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
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
  onnxp::set_float_value_info(graph->add_input(), "input", {g.input.c, g.input.h, g.input.w});

  // The ONNX tensor each layer's output is written as (a graph DAG: Add/Concat read several).
  std::vector<std::string> names(g.layers.size());
  auto tensor_name = [&](int producer) {
    return producer == kGraphInput ? std::string("input") : names[static_cast<size_t>(producer)];
  };
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer &l = g.layers[i];
    const std::string id = "l" + std::to_string(i) + "_" + op_name(l.op);
    const bool last = i + 1 == g.layers.size();
    const std::string out = last ? (l.op == Op::Softmax ? "probs" : "logits") : id + "_out";
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

const char *kSupported =
    "Conv (incl. depthwise), Relu, Clip(0,6), MaxPool, AveragePool, GlobalAveragePool, Flatten, "
    "Gemm, BatchNormalization, Dropout, Identity, Softmax, Add, Concat";

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
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail("'" + path + "' is not a valid ONNX model: " + std::string(e.what()).substr(0, 400),
         "re-export the model; the file may be truncated or corrupt");
  }
  ModelFile mf;
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

  // The single real input: float32 [N, C, H, W], H = W.
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
      dim_value(3) <= 0 || dim_value(2) != dim_value(3))
    fail("'" + path + "': input '" + input->name() + "' must be float32 [N,3,H,W] with H = W (image channels first)",
         "export the model with a fixed square image input, e.g. [1,3,32,32]");
  // qparity's data path hands every model interleaved RGB: any other channel count would be fed
  // the wrong bytes and answer wrongly without a word.
  if (dim_value(1) != 3)
    fail("'" + path + "': input '" + input->name() + "' has " + std::to_string(dim_value(1)) +
             " channel(s); qparity feeds models RGB images (3 channels)",
         "export the model with a 3-channel [N,3,H,W] input (grayscale models are not supported yet)");
  if (dim_value(2) > kMaxInputSide)
    fail("'" + path + "': input '" + input->name() + "' is " + std::to_string(dim_value(2)) +
             " pixels square, above qparity's limit of " + std::to_string(kMaxInputSide),
         "export the model with a smaller input");

  Graph g;
  g.input = {static_cast<int>(dim_value(1)), static_cast<int>(dim_value(2)), static_cast<int>(dim_value(3))};
  g.arch = mf.metadata.count("qparity.arch") ? mf.metadata["qparity.arch"] : "imported";

  // The graph is a DAG of tensors named by the nodes' inputs and outputs. `produced` maps each tensor
  // read so far to the IR layer that computes it (kGraphInput for the image); Identity and Dropout
  // alias their input, as does a Flatten of a GlobalAveragePool (the IR's pooling is already flat).
  const auto &nodes = graph.node();
  const auto node_where = [&](int ni) {
    return "'" + path + "' node '" + nodes[ni].name() + "' (" + nodes[ni].op_type() + ")";
  };
  std::map<std::string, int> produced = {{input->name(), kGraphInput}};
  std::vector<bool> flat_of{g.input.h == 1 && g.input.w == 1};  // per producer + 1: flat (after Flatten/GAP/Dense)
  std::map<std::string, int> node_of;  // tensor name -> the node that outputs it
  std::set<std::string> read;          // every tensor some node reads, and the graph's outputs
  for (int ni = 0; ni < nodes.size(); ++ni) {
    for (const auto &o : nodes[ni].output())
      if (!o.empty() && !node_of.emplace(o, ni).second)
        fail(node_where(ni) + " writes tensor '" + o + "', which node '" + nodes[node_of[o]].name() + "' already writes",
             "every tensor must have one producer (re-export the model; the file is corrupt)");
    for (const auto &in : nodes[ni].input()) read.insert(in);
  }
  for (const auto &o : graph.output()) read.insert(o.name());
  for (int ni = 0; ni < nodes.size(); ++ni)
    if (nodes[ni].output_size() > 0 && !nodes[ni].output(0).empty() && !read.count(nodes[ni].output(0)))
      fail(node_where(ni) + ": its output '" + nodes[ni].output(0) + "' is never used (a dangling node)",
           "remove the node or connect it: every node must feed another node or the graph's single output");
  for (int ni = 0; ni < nodes.size(); ++ni) {
    const auto &n = nodes[ni];
    const std::string &op = n.op_type();
    const std::string where = node_where(ni);
    if (n.output_size() == 0 || n.output(0).empty()) fail(where + " has no output");
    if (produced.count(n.output(0)) || inits.count(n.output(0)))
      fail(where + " writes tensor '" + n.output(0) + "', which is already the graph input or an initializer",
           "every tensor must have one producer (re-export the model; the file is corrupt)");
    // Input k as a tensor computed by an earlier node (or the graph input): its producer layer.
    auto data_input = [&](int k) -> int {
      if (n.input_size() <= k || n.input(k).empty()) fail(where + ": input " + std::to_string(k) + " is missing");
      const std::string &name = n.input(k);
      const auto it = produced.find(name);
      if (it != produced.end()) return it->second;
      if (inits.count(name))
        fail(where + ": input " + std::to_string(k) + " ('" + name +
                 "') is a constant initializer, but qparity needs a tensor computed by the layers before it here",
             "qparity supports " + op + " of computed tensors only (no constant operands); re-export the model");
      const auto pn = node_of.find(name);
      if (pn != node_of.end())
        fail(where + " reads tensor '" + name + "' before node '" + nodes[pn->second].name() +
                 "' computes it: the nodes are not in topological order",
             "re-export the model; ONNX requires every tensor to be produced before a node uses it");
      fail(where + " reads tensor '" + name + "', which no node produces and which is not the graph input",
           "re-export the model; the file is corrupt");
    };
    const int in0 = data_input(0);
    const Shape s = g.tensor_shape(in0);
    const bool in_flat = flat_of[static_cast<size_t>(in0 + 1)];
    // Inputs that must be constants (weights, biases, BatchNorm statistics, Clip bounds): initializers,
    // not tensors another node computes or the graph is fed.
    auto tensor = [&](int k) -> const onnx::TensorProto & {
      if (n.input_size() <= k || n.input(k).empty()) fail(where + ": input " + std::to_string(k) + " is missing");
      const auto it = inits.find(n.input(k));
      if (it == inits.end())
        fail(where + ": input " + std::to_string(k) + " ('" + n.input(k) +
                 "') must be a constant initializer, but it is computed by a node or fed as a graph input",
             "export the model with constant folding, so weights and biases are stored as initializers");
      return *it->second;
    };
    auto init = [&](int k) { return tensor_floats(tensor(k), path); };
    // An optional bias (input 2) of `count` values, zeros when absent.
    auto bias = [&](int64_t count) {
      if (n.input_size() <= 2 || n.input(2).empty()) return std::vector<float>(static_cast<size_t>(count), 0.f);
      auto b = init(2);
      if (static_cast<int64_t>(b.size()) != count)
        fail(where + ": bias '" + n.input(2) + "' has " + std::to_string(b.size()) + " values for " + std::to_string(count) +
                 " output channels",
             "re-export the model; the file is inconsistent");
      return b;
    };
    Layer l;
    bool skip = false;
    if (op == "Conv") {
      const auto w = init(1);
      const auto &wt = tensor(1);
      const std::string wname = "weight '" + n.input(1) + "' " + ints_str(dims_of(wt));
      if (wt.dims_size() != 4 || std::any_of(wt.dims().begin(), wt.dims().end(), [](int64_t d) { return d <= 0; }))
        fail(where + ": " + wname + " is not a 4-D [out, in/group, kH, kW] tensor", "re-export the model");
      if (wt.dims(2) != wt.dims(3)) fail(where + ": only square 2-D kernels are supported (" + wname + ")");
      const auto strides = attr_is(n, "strides"), dil = attr_is(n, "dilations"), pads = attr_is(n, "pads");
      const auto kshape = attr_is(n, "kernel_shape");
      const int64_t group = attr_i(n, "group", 1);
      // Attributes that restate the weight's shape must agree with it: a 5x5 kernel_shape over 3x3
      // weights is a broken file, not a 3x3 convolution.
      if (!kshape.empty() && (kshape.size() != 2 || kshape[0] != wt.dims(2) || kshape[1] != wt.dims(3)))
        fail(where + ": kernel_shape " + ints_str(kshape) + " does not match the " + wname,
             "re-export the model; kernel_shape must equal the weight's last two dimensions");
      if (!dil.empty() && dil.size() != 2) fail(where + ": dilations " + ints_str(dil) + " is not 2-D");
      for (auto d : dil)
        if (d != 1) fail(where + ": dilated convolutions are not supported");
      if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1]))
        fail(where + ": strides must be equal in H and W");
      const auto *ap = find_attr(n, "auto_pad");
      if (ap && ap->s() != "NOTSET") fail(where + ": auto_pad is not supported", "export with explicit pads");
      l.kernel = window_attr(wt.dims(2), "kernel side", where);
      l.stride = strides.empty() ? 1 : window_attr(strides[0], "stride", where);
      if (group == 1) {
        if (wt.dims(1) != s.c)
          fail(where + ": " + wname + " takes " + std::to_string(wt.dims(1)) + " input channels but its input has " +
                   std::to_string(s.c),
               "re-export the model; the file is inconsistent");
        l.op = Op::Conv2D;
        l.units = static_cast<int>(wt.dims(0));
      } else if (group == s.c && s.c > 1) {
        if (wt.dims(0) != s.c || wt.dims(1) != 1)
          fail(where + ": depthwise (group=" + std::to_string(group) + ") " + wname + " is not [" + std::to_string(s.c) +
                   ",1,k,k]",
               "qparity supports depthwise convolutions with channel multiplier 1");
        l.op = Op::DepthwiseConv2D;
      } else {
        fail(where + ": grouped convolution with group=" + std::to_string(group) + " is not supported",
             "use group=1 or depthwise (group = channels, multiplier 1)");
      }
      l.weight = w;
      l.bias = bias(wt.dims(0));
      // Padding: none = valid; the TF 'same' split = same; anything else is unsupported.
      const bool zero = pads.empty() || std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
      l.padding = Padding::Same;
      const Layer p = with_shapes(l, s, in_flat, where);
      const bool same =
          pads.size() == 4 && pads[0] == p.pad_top && pads[1] == p.pad_left && pads[2] == p.pad_bottom && pads[3] == p.pad_right;
      if (zero && !(same && p.pad_top + p.pad_bottom + p.pad_left + p.pad_right == 0))
        l.padding = Padding::Valid;
      else if (!same)
        fail(where + ": padding is neither 'valid' (none) nor 'same'", "export with symmetric same padding or none");
    } else if (op == "Relu") {
      l.op = Op::ReLU;
    } else if (op == "Clip") {
      auto bound = [&](int k) {
        const auto v = init(k);
        if (v.size() != 1) fail(where + ": input " + std::to_string(k) + " ('" + n.input(k) + "') is not a scalar");
        return v[0];
      };
      const float lo = n.input_size() > 1 && !n.input(1).empty() ? bound(1) : attr_f(n, "min", -3.4e38f);
      const float hi = n.input_size() > 2 && !n.input(2).empty() ? bound(2) : attr_f(n, "max", 3.4e38f);
      if (lo != 0.f || hi != 6.f) fail(where + ": only Clip(0, 6) (ReLU6) is supported");
      l.op = Op::ReLU6;
    } else if (op == "MaxPool" || op == "AveragePool") {
      const auto k = attr_is(n, "kernel_shape"), st = attr_is(n, "strides"), pads = attr_is(n, "pads");
      if (k.size() != 2 || k[0] != k[1]) fail(where + ": only square pooling windows are supported");
      if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }))
        fail(where + ": padded pooling is not supported", "export pooling without padding");
      if (attr_i(n, "ceil_mode", 0) != 0) fail(where + ": ceil_mode is not supported");
      if (!st.empty() && (st.size() != 2 || st[0] != st[1])) fail(where + ": strides must be equal in H and W");
      l.op = op == "MaxPool" ? Op::MaxPool : Op::AvgPool;
      l.kernel = window_attr(k[0], "kernel side", where);
      l.stride = st.empty() ? 1 : window_attr(st[0], "stride", where);
      if (n.output_size() > 1 && !n.output(1).empty()) fail(where + ": MaxPool indices output is not supported");
    } else if (op == "GlobalAveragePool") {
      l.op = Op::GlobalAvgPool;
    } else if (op == "Flatten") {
      if (attr_i(n, "axis", 1) != 1) fail(where + ": only Flatten with axis=1 is supported");
      l.op = Op::Flatten;
      // A Flatten of a GlobalAveragePool is absorbed: the IR's GlobalAvgPool is already flat.
      skip = in0 != kGraphInput && g.layers[static_cast<size_t>(in0)].op == Op::GlobalAvgPool;
    } else if (op == "Reshape") {
      fail(where + ": Reshape is not supported", "export the flattening step as Flatten(axis=1)");
    } else if (op == "Gemm") {
      if (attr_f(n, "alpha", 1.f) != 1.f || attr_f(n, "beta", 1.f) != 1.f || attr_i(n, "transA", 0) != 0)
        fail(where + ": only Gemm with alpha=1, beta=1, transA=0 is supported");
      auto w = init(1);
      const auto &wt = tensor(1);
      const std::string wname = "weight '" + n.input(1) + "' " + ints_str(dims_of(wt));
      if (wt.dims_size() != 2 || wt.dims(0) <= 0 || wt.dims(1) <= 0)
        fail(where + ": " + wname + " is not a 2-D matrix", "re-export the model; the file is inconsistent");
      const bool transb = attr_i(n, "transB", 0) != 0;
      const int64_t out = transb ? wt.dims(0) : wt.dims(1), in = transb ? wt.dims(1) : wt.dims(0);
      if (!(s.h == 1 && s.w == 1))
        fail(where + " needs a flat input but gets " + shape_str(s), "insert Flatten(axis=1) before Gemm");
      if (in != s.c)
        fail(where + ": " + wname + " with transB=" + std::to_string(transb ? 1 : 0) + " takes " + std::to_string(in) +
                 " inputs but the previous layer outputs " + std::to_string(s.c),
             "re-export the model; the Gemm weight (and transB) must match the layer before it");
      if (!transb) {  // stored [in][out]: transpose to [out][in]
        std::vector<float> t(w.size());
        for (int64_t i = 0; i < in; ++i)
          for (int64_t o = 0; o < out; ++o) t[static_cast<size_t>(o * in + i)] = w[static_cast<size_t>(i * out + o)];
        w = std::move(t);
      }
      l.op = Op::Dense;
      l.units = static_cast<int>(out);
      l.weight = std::move(w);
      l.bias = bias(out);
    } else if (op == "BatchNormalization") {
      l.op = Op::BatchNorm;
      l.gamma = init(1);
      l.beta = init(2);
      l.mean = init(3);
      l.var = init(4);
      l.eps = attr_f(n, "epsilon", 1e-5f);
      // Folding divides by sqrt(var + eps): a negative or non-finite value would make NaN weights.
      for (float v : l.var)
        if (!(std::isfinite(v + l.eps) && v + l.eps > 0))
          fail(where + ": variance + epsilon is not a finite positive number", "re-export the model; the file is corrupt");
    } else if (op == "Softmax") {
      const int64_t axis = attr_i(n, "axis", -1);
      if (axis != 1 && axis != -1) fail(where + ": only Softmax over the class axis is supported");
      l.op = Op::Softmax;
    } else if (op == "Add") {
      const int in1 = data_input(1);
      const Shape s1 = g.tensor_shape(in1);
      if (!(s1 == s) || flat_of[static_cast<size_t>(in1 + 1)] != in_flat)
        fail(where + " adds '" + n.input(0) + "' " + shape_str(s) + " and '" + n.input(1) + "' " + shape_str(s1) +
                 ", tensors of different shapes",
             "qparity adds two tensors of the same shape (no broadcasting); give the shortcut a 1x1 projection");
      l.op = Op::Add;
      l.inputs = {in0, in1};
    } else if (op == "Concat") {
      const int64_t axis = attr_i(n, "axis", 1);
      if (!(axis == 1 || axis == (in_flat ? -1 : -3)))
        fail(where + ": axis " + std::to_string(axis) + " is not the channel axis",
             "qparity concatenates along channels only (NCHW axis=1)");
      if (n.input_size() < 2) fail(where + " has " + std::to_string(n.input_size()) + " input, needs at least 2");
      l.op = Op::Concat;
      int64_t channels = 0;
      for (int k = 0; k < n.input_size(); ++k) {
        const int pk = data_input(k);
        const Shape sk = g.tensor_shape(pk);
        if (sk.h != s.h || sk.w != s.w || flat_of[static_cast<size_t>(pk + 1)] != in_flat)
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
    } else if (op == "Dropout" || op == "Identity") {
      skip = true;
    } else {
      fail(where + ": operator '" + op + "' is not supported", std::string("qparity supports ") + kSupported);
    }
    if (skip) {
      produced[n.output(0)] = in0;
      continue;
    }
    if (l.op == Op::Add) {
      l.in = l.out = s;
    } else if (l.op != Op::Concat) {
      l.inputs = {in0};
      l = with_shapes(std::move(l), s, in_flat, where);
    }
    const bool out_flat = l.op == Op::GlobalAvgPool || l.op == Op::Flatten || l.op == Op::Dense ? true : in_flat;
    g.layers.push_back(std::move(l));
    flat_of.push_back(out_flat);
    produced[n.output(0)] = static_cast<int>(g.layers.size()) - 1;
  }
  if (g.layers.empty()) fail("'" + path + "' has no layers qparity can run");
  if (graph.output_size() != 1 || !produced.count(graph.output(0).name()) ||
      produced[graph.output(0).name()] != static_cast<int>(g.layers.size()) - 1)
    fail("'" + path + "': the graph's output is not the output of its last layer",
         "qparity supports networks with one output, computed by the last node");
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
