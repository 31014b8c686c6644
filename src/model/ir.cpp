#include "model/ir.h"

#include <cmath>

#include "common/error.h"
#include "common/rng.h"

namespace qp::model {

const char *op_name(Op op) {
  switch (op) {
    case Op::Conv2D: return "Conv2D";
    case Op::DepthwiseConv2D: return "DepthwiseConv2D";
    case Op::BatchNorm: return "BatchNorm";
    case Op::ReLU: return "ReLU";
    case Op::ReLU6: return "ReLU6";
    case Op::MaxPool: return "MaxPool";
    case Op::AvgPool: return "AvgPool";
    case Op::GlobalAvgPool: return "GlobalAvgPool";
    case Op::Flatten: return "Flatten";
    case Op::Dense: return "Dense";
    case Op::Dropout: return "Dropout";
    case Op::Softmax: return "Softmax";
    case Op::Add: return "Add";
    case Op::Concat: return "Concat";
  }
  return "?";
}

std::string shape_str(const Shape &s) {
  if (s.h == 1 && s.w == 1) return "[" + std::to_string(s.c) + "]";
  return "[" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "]";
}

namespace {

void window_out(int in, int k, int stride, Padding pad, int &out, int &before, int &after, const std::string &where) {
  if (k <= 0 || stride <= 0) fail(where + ": kernel and stride must be positive");
  if (k > kMaxWindow || stride > kMaxWindow)
    fail(where + ": kernel " + std::to_string(k) + " or stride " + std::to_string(stride) + " is above qparity's limit of " +
         std::to_string(kMaxWindow));
  if (pad == Padding::Same) {
    out = (in + stride - 1) / stride;
    const int total = std::max((out - 1) * stride + k - in, 0);
    before = total / 2;
    after = total - before;
  } else {
    if (in < k)
      fail(where + ": input side " + std::to_string(in) + " is smaller than the window " + std::to_string(k),
           "use fewer pooling/stride-2 layers, 'same' padding, or a larger input");
    out = (in - k) / stride + 1;
    before = after = 0;
  }
}

void expect_size(std::vector<float> &v, int64_t n, const std::string &what, bool allocate, float fill = 0.f) {
  if (allocate && v.empty()) v.assign(static_cast<size_t>(n), fill);
  if (static_cast<int64_t>(v.size()) != n)
    fail(what + " has " + std::to_string(v.size()) + " values, expected " + std::to_string(n));
}

// An activation's element count, checked against kMaxActivationElements (the factors are positive ints).
void check_activation(const Shape &s, const std::string &where) {
  const int64_t dims[] = {s.c, s.h, s.w};
  checked_element_count(dims, where, kMaxActivationElements);
}

}  // namespace

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
  check_activation(g.input, "the model input " + shape_str(g.input));
  // Per tensor (index producer + 1): flattened (after Flatten/GAP/Dense) or still a feature map.
  std::vector<bool> flat_of{g.input.h == 1 && g.input.w == 1};
  std::vector<int> readers(g.layers.size(), 0);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    Layer &l = g.layers[i];
    const std::string where = "layer " + std::to_string(i) + " (" + op_name(l.op) + ")";
    if (l.inputs.empty()) l.inputs = {static_cast<int>(i) - 1};
    const size_t want = l.op == Op::Add ? 2 : 1;
    if (l.op == Op::Concat ? l.inputs.size() < 2 : l.inputs.size() != want)
      fail(where + " has " + std::to_string(l.inputs.size()) + " input(s), expected " +
               (l.op == Op::Concat ? std::string("at least 2") : std::to_string(want)),
           "the model file is corrupt or uses a graph qparity does not support");
    for (const int p : l.inputs) {
      if (p < kGraphInput || p >= static_cast<int>(i))
        fail(where + " reads tensor " + std::to_string(p) + ", which is not the graph input or an earlier layer",
             "layers must be in topological order (the model file is corrupt)");
      if (p >= 0) ++readers[static_cast<size_t>(p)];
    }
    const Shape s0 = g.tensor_shape(l.inputs[0]);
    const bool flat = flat_of[static_cast<size_t>(l.inputs[0] + 1)];
    bool out_flat = flat;
    Shape s = s0;
    l.in = s0;
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D: {
        if (flat) fail(where + " comes after Flatten/Dense", "put convolutions before flatten");
        int oh, ow;
        window_out(s.h, l.kernel, l.stride, l.padding, oh, l.pad_top, l.pad_bottom, where);
        window_out(s.w, l.kernel, l.stride, l.padding, ow, l.pad_left, l.pad_right, where);
        const int oc = l.op == Op::Conv2D ? l.units : s.c;
        if (l.op == Op::DepthwiseConv2D) l.units = s.c;
        if (oc <= 0) fail(where + ": needs a positive number of filters");
        check_activation({oc, oh, ow}, where + " output");
        const int64_t wdims[] = {oc, l.op == Op::Conv2D ? s.c : 1, l.kernel, l.kernel};
        expect_size(l.weight, checked_element_count(wdims, where + " weight"), where + " weight", allocate);
        expect_size(l.bias, oc, where + " bias", allocate);
        s = {oc, oh, ow};
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: {
        if (flat) fail(where + " comes after Flatten/Dense", "put pooling before flatten");
        int oh, ow, a, b;
        window_out(s.h, l.kernel, l.stride, Padding::Valid, oh, a, b, where);
        window_out(s.w, l.kernel, l.stride, Padding::Valid, ow, a, b, where);
        s = {s.c, oh, ow};
        break;
      }
      case Op::GlobalAvgPool:
        if (flat) fail(where + " comes after Flatten/Dense");
        s = {s.c, 1, 1};
        out_flat = true;
        break;
      case Op::Flatten:
        s = {static_cast<int>(s.size()), 1, 1};
        out_flat = true;
        break;
      case Op::Dense:
        if (!flat) fail(where + " needs a flat input", "insert 'flatten' or 'gap' before dense");
        if (l.units <= 0) fail(where + ": needs a positive number of units");
        check_activation({l.units, 1, 1}, where + " output");
        expect_size(l.weight, checked_element_count(std::vector<int64_t>{l.units, s.c}, where + " weight"), where + " weight",
                    allocate);
        expect_size(l.bias, l.units, where + " bias", allocate);
        s = {l.units, 1, 1};
        break;
      case Op::BatchNorm:
        expect_size(l.gamma, s.c, where + " gamma", allocate, 1.f);
        expect_size(l.beta, s.c, where + " beta", allocate);
        expect_size(l.mean, s.c, where + " mean", allocate);
        expect_size(l.var, s.c, where + " variance", allocate, 1.f);
        break;
      case Op::Softmax:
        if (!flat) fail(where + " needs a flat input", "softmax goes after the last dense layer");
        break;
      case Op::Add: {
        const Shape s1 = g.tensor_shape(l.inputs[1]);
        if (!(s1 == s0) || flat_of[static_cast<size_t>(l.inputs[1] + 1)] != flat)
          fail(where + " adds tensors of different shapes " + shape_str(s0) + " and " + shape_str(s1),
               "both branches of a residual block must end with the same shape (use a 1x1 projection on the shortcut)");
        break;
      }
      case Op::Concat: {
        int64_t c = 0;
        for (const int p : l.inputs) {
          const Shape sj = g.tensor_shape(p);
          if (sj.h != s0.h || sj.w != s0.w || flat_of[static_cast<size_t>(p + 1)] != flat)
            fail(where + " concatenates tensors of different sizes " + shape_str(s0) + " and " + shape_str(sj),
                 "concatenated branches must keep the same height and width");
          c += sj.c;
        }
        if (c > kMaxActivationElements) fail(where + ": too many channels (" + std::to_string(c) + ")");
        s = {static_cast<int>(c), s0.h, s0.w};
        break;
      }
      case Op::ReLU:
      case Op::ReLU6:
      case Op::Dropout: break;
    }
    check_activation(s, where + " output " + shape_str(s));
    l.out = s;
    flat_of.push_back(out_flat);
  }
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
  for (size_t i = 0; i < g.layers.size(); ++i) {
    Layer &l = g.layers[i];
    if (l.inputs.empty()) l.inputs = {static_cast<int>(i) - 1};
    for (int &p : l.inputs)
      if (p >= 0) p = new_index[static_cast<size_t>(p)];
    if (i < drop.size() && drop[i]) {
      if (l.inputs.size() != 1) fail("internal: removing layer " + std::to_string(i) + " with several inputs");
      new_index[i] = l.inputs[0];
      continue;
    }
    new_index[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(l));
  }
  g.layers = std::move(kept);
  infer_shapes(g);
}

int64_t param_count(const Layer &l) {
  return static_cast<int64_t>(l.weight.size() + l.bias.size() + l.gamma.size() + l.beta.size());
}

int64_t mac_count(const Layer &l) {
  switch (l.op) {
    case Op::Conv2D: return l.out.size() * l.in.c * l.kernel * l.kernel;
    case Op::DepthwiseConv2D: return l.out.size() * l.kernel * l.kernel;
    case Op::Dense: return static_cast<int64_t>(l.in.c) * l.units;
    default: return 0;
  }
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
