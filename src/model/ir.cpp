#include "model/ir.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::model {

const char *op_name(Op op) {
  const ops::OpDef *d = ops::find_op(op);
  return d != nullptr ? d->name : "?";
}

const char *dtype_name(DType t) { return t == DType::Int8 ? "int8" : "float32"; }

std::string clean_tensor_name(std::string_view raw) {
  std::string s;
  const size_t keep = raw.size() > kMaxTensorName ? kMaxTensorName - 3 : raw.size();
  s.reserve(keep + 3);
  for (size_t i = 0; i < keep; ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    s.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (keep < raw.size()) s += "...";
  return s;
}

std::string short_tensor_name(const std::string &name) {
  std::string s = name.substr(0, name.find(';'));
  if (s.size() > kShortTensorName) s = s.substr(0, kShortTensorName - 3) + "...";
  return s;
}

std::string tensor_name_column(const std::string &name) { return name.empty() ? "" : "  '" + short_tensor_name(name) + "'"; }

namespace {
// The length of a name's "l<k>" before a '_' or '.' (k decimal digits), or 0 when it does not start so.
size_t layer_prefix_length(std::string_view n) {
  if (n.empty() || n[0] != 'l') return 0;
  size_t i = 1;
  while (i < n.size() && n[i] >= '0' && n[i] <= '9') ++i;
  return i > 1 && i < n.size() && (n[i] == '_' || n[i] == '.') ? i : 0;
}
}  // namespace

bool has_layer_name_prefix(std::string_view name) { return layer_prefix_length(name) != 0; }

bool is_generated_tensor_name(std::string_view n) {
  if (n == "input" || n == "probs" || n == "logits") return true;
  const size_t i = layer_prefix_length(n);
  if (i == 0) return false;
  const char sep = n[i];
  std::string_view op = n.substr(i + 1);
  if (sep == '_') {
    if (op.size() < 4 || op.substr(op.size() - 4) != "_out") return false;
    op = op.substr(0, op.size() - 4);
  }
  return !op.empty() && std::all_of(op.begin(), op.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

const std::string &Graph::tensor_name(int producer) const {
  static const std::string none;
  const auto t = static_cast<size_t>(tensor_id(producer));
  return producer >= kGraphInput && t < tensors.size() ? tensors[t].name : none;
}

void Graph::set_input_params(const QParams &p) {
  if (tensors.empty()) tensors.resize(1);
  tensors[0].quant = p;
}

const Tensor &Graph::tensor(int producer) const {
  const auto t = static_cast<size_t>(tensor_id(producer));
  if (producer < kGraphInput || t >= tensors.size())
    fail("internal: tensor of producer " + std::to_string(producer) + " in a table of " + std::to_string(tensors.size()));
  return tensors[t];
}

int64_t Graph::int8_parameter_bytes() const {
  int64_t n = 0;
  for (const auto &l : layers) n += static_cast<int64_t>(l.q.weight.size() + 4 * l.q.bias.size());
  return n;
}

void Graph::set_tensor_name(int producer, std::string_view raw) {
  if (producer < kGraphInput) fail("internal: tensor of producer " + std::to_string(producer));
  const auto t = static_cast<size_t>(tensor_id(producer));
  if (tensors.size() <= t) tensors.resize(t + 1);
  tensors[t].name = clean_tensor_name(raw);
}

std::string shape_str(const Shape &s) {
  if (s.h == 1 && s.w == 1) return "[" + std::to_string(s.c) + "]";
  return "[" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "]";
}

int64_t checked_element_count(std::span<const int64_t> dims, const std::string &what, int64_t cap) {
  int64_t n = 1;
  for (const int64_t d : dims) {
    if (d < 0) fail(what + " has a negative dimension (" + std::to_string(d) + ")", "the model file is corrupt: re-export it");
    // n * d > cap, tested without overflowing.
    if (d > 0 && n > cap / d)
      fail(what + " has more than " + std::to_string(cap) + " elements (dimensions too large)",
           "the model file is corrupt or not a small image classifier: re-export it");
    n *= d;
  }
  return n;
}

void infer_shapes(Graph &g, bool allocate) {
  if (g.input.c <= 0 || g.input.h <= 0 || g.input.w <= 0) fail("model input shape " + shape_str(g.input) + " is not valid");
  ops::check_activation(g.input, "the model input " + shape_str(g.input));
  // Per tensor (index producer + 1): flattened (after Flatten/GAP/Dense) or still a feature map.
  std::vector<bool> flat_of{g.input.h == 1 && g.input.w == 1};
  std::vector<int> readers(g.layers.size(), 0);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    Layer &l = g.layers[i];
    const std::string where = "layer " + std::to_string(i) + " (" + op_name(l.op) + ")";
    if (l.inputs.empty()) l.inputs = {static_cast<int>(i) - 1};
    const ops::OpDef &def = ops::op_def(l.op);
    if (!ops::input_count_ok(def, l.inputs.size()))
      fail(where + " has " + std::to_string(l.inputs.size()) + " input(s), expected " + ops::inputs_expected(def),
           "the model file is corrupt or uses a graph qparity does not support");
    for (const int p : l.inputs) {
      if (p < kGraphInput || p >= static_cast<int>(i))
        fail(where + " reads tensor " + std::to_string(p) + ", which is not the graph input or an earlier layer",
             "layers must be in topological order (the model file is corrupt)");
      if (p >= 0) ++readers[static_cast<size_t>(p)];
    }
    // The op's own rule (src/ops/<op>.cpp): checks its parameters, sets its output shape.
    ops::ShapeArgs args;
    args.where = where;
    args.allocate = allocate;
    for (const int p : l.inputs) {
      args.in.push_back(g.tensor_shape(p));
      args.flat.push_back(flat_of[static_cast<size_t>(p + 1)]);
    }
    l.in = args.in[0];
    args.out = args.in[0];
    args.out_flat = args.flat[0];
    def.infer(l, args);
    const Shape s = args.out;
    const bool out_flat = args.out_flat;
    ops::check_activation(s, where + " output " + shape_str(s));
    l.out = s;
    flat_of.push_back(out_flat);
  }
  // The tensor table: one entry per tensor, names kept, shapes and element types from the layers.
  g.tensors.resize(g.layers.size() + 1);
  g.tensors[0].shape = g.input;
  for (size_t i = 0; i < g.layers.size(); ++i) g.tensors[i + 1].shape = g.layers[i].out;
  for (auto &t : g.tensors) t.dtype = DType::Float32;
  for (size_t i = 0; i + 1 < g.layers.size(); ++i)
    if (readers[i] == 0)
      fail("the output of layer " + std::to_string(i) + " (" + op_name(g.layers[i].op) + ") is never used",
           "every layer but the last must feed another layer (the graph has one output: the last layer)");
}

std::vector<std::vector<int>> consumers(const Graph &g) {
  std::vector<std::vector<int>> c(g.layers.size());
  for (size_t i = 0; i < g.layers.size(); ++i)
    for (const int p : g.layers[i].inputs)
      if (p >= 0 && (c[static_cast<size_t>(p)].empty() || c[static_cast<size_t>(p)].back() != static_cast<int>(i)))
        c[static_cast<size_t>(p)].push_back(static_cast<int>(i));
  return c;
}

bool is_chain(const Graph &g) {
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const auto &in = g.layers[i].inputs;
    if (!in.empty() && !(in.size() == 1 && in[0] == static_cast<int>(i) - 1)) return false;
  }
  return true;
}

void remove_layers(Graph &g, const std::vector<bool> &drop) {
  std::vector<int> new_index(g.layers.size(), 0);  // for a dropped layer: what its readers read instead
  std::vector<Layer> kept;
  g.tensors.resize(g.layers.size() + 1);
  std::vector<Tensor> kept_tensors{g.tensors[0]};
  // Readers per tensor (by old producer), to know whether a dropped layer was its input's only reader.
  std::vector<int> readers(g.layers.size() + 1, 0);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    if (g.layers[i].inputs.empty()) g.layers[i].inputs = {static_cast<int>(i) - 1};
    for (const int p : g.layers[i].inputs)
      if (p >= kGraphInput && p < static_cast<int>(i)) ++readers[static_cast<size_t>(tensor_id(p))];
  }
  for (size_t i = 0; i < g.layers.size(); ++i) {
    Layer &l = g.layers[i];
    if (i < drop.size() && drop[i]) {
      if (l.inputs.size() != 1) fail("internal: removing layer " + std::to_string(i) + " with several inputs");
      const int old_p = l.inputs[0];
      if (old_p < kGraphInput || old_p >= static_cast<int>(i)) fail("internal: removing layer " + std::to_string(i) + " that reads a later layer");
      const int p = old_p >= 0 ? new_index[static_cast<size_t>(old_p)] : old_p;
      new_index[i] = p;
      // The dropped layer's output name moves to the tensor its readers now read, when nothing else read that one.
      const std::string &name = g.tensors[i + 1].name;
      if (p >= 0 && !name.empty() && readers[static_cast<size_t>(tensor_id(old_p))] == 1)
        kept_tensors[static_cast<size_t>(tensor_id(p))].name = name;
      auto &r = readers[static_cast<size_t>(tensor_id(old_p))];
      r += readers[i + 1] - 1;  // the dropped layer's readers now read that tensor instead of it
      continue;
    }
    for (int &p : l.inputs)
      if (p >= 0) p = new_index[static_cast<size_t>(p)];
    new_index[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(l));
    kept_tensors.push_back(std::move(g.tensors[i + 1]));
  }
  g.layers = std::move(kept);
  g.tensors = std::move(kept_tensors);
  infer_shapes(g);
}

int64_t param_count(const Layer &l) {
  return static_cast<int64_t>(l.weight.size() + l.bias.size() + l.gamma.size() + l.beta.size());
}

int64_t mac_count(const Layer &l) {
  const auto macs = ops::op_def(l.op).macs;
  return macs != nullptr ? macs(l) : 0;
}

int64_t param_count(const Graph &g) {
  int64_t n = 0;
  for (const auto &l : g.layers) n += param_count(l);
  return n;
}

int64_t mac_count(const Graph &g) {
  int64_t n = 0;
  for (const auto &l : g.layers) n += mac_count(l);
  return n;
}

void init_random(Graph &g, uint64_t seed) {
  Rng rng(seed);
  for (auto &l : g.layers) {
    if (l.weight.empty()) continue;
    const double fan_in = static_cast<double>(l.weight.size() / l.bias.size());
    const double bound = std::sqrt(6.0 / fan_in);
    for (auto &w : l.weight) w = static_cast<float>(rng.uniform(-bound, bound));
    std::fill(l.bias.begin(), l.bias.end(), 0.f);
  }
}

Graph fold_for_inference(const Graph &g) {
  Graph out = g;
  infer_shapes(out);
  const auto readers = consumers(out);
  std::vector<bool> drop(out.layers.size(), false);
  for (size_t i = 0; i < out.layers.size(); ++i) {
    const Layer &l = out.layers[i];
    if (l.op == Op::Dropout) drop[i] = true;
    if (l.op != Op::BatchNorm) continue;
    const int p = l.inputs[0];
    Layer *prev = p >= 0 ? &out.layers[static_cast<size_t>(p)] : nullptr;
    if (prev == nullptr || (prev->op != Op::Conv2D && prev->op != Op::DepthwiseConv2D && prev->op != Op::Dense))
      fail("BatchNorm must directly follow a conv or dense layer to be folded",
           "move 'bn' right after a conv/dwconv/dense in the architecture spec");
    if (readers[static_cast<size_t>(p)].size() != 1)
      fail("layer " + std::to_string(p) + " (" + op_name(prev->op) + ") feeds a BatchNorm and other layers, so it cannot be folded",
           "let only the BatchNorm read the conv/dense output");
    const size_t oc = prev->bias.size();
    const size_t per_out = prev->weight.size() / oc;
    for (size_t c = 0; c < oc; ++c) {
      const float k = l.gamma[c] / std::sqrt(l.var[c] + l.eps);
      for (size_t j = 0; j < per_out; ++j) prev->weight[c * per_out + j] *= k;
      prev->bias[c] = (prev->bias[c] - l.mean[c]) * k + l.beta[c];
    }
    drop[i] = true;
  }
  remove_layers(out, drop);
  return out;
}

}  // namespace qp::model
