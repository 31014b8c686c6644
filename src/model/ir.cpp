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
  Shape s = g.input;
  bool flat = s.h == 1 && s.w == 1;
  for (size_t i = 0; i < g.layers.size(); ++i) {
    Layer &l = g.layers[i];
    const std::string where = "layer " + std::to_string(i) + " (" + op_name(l.op) + ")";
    l.in = s;
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
        flat = true;
        break;
      case Op::Flatten:
        s = {static_cast<int>(s.size()), 1, 1};
        flat = true;
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
      case Op::ReLU:
      case Op::ReLU6:
      case Op::Dropout: break;
    }
    check_activation(s, where + " output " + shape_str(s));
    l.out = s;
  }
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
  out.layers.clear();
  for (const auto &l : g.layers) {
    if (l.op == Op::Dropout) continue;
    if (l.op != Op::BatchNorm) {
      out.layers.push_back(l);
      continue;
    }
    if (out.layers.empty() ||
        (out.layers.back().op != Op::Conv2D && out.layers.back().op != Op::DepthwiseConv2D && out.layers.back().op != Op::Dense))
      fail("BatchNorm must directly follow a conv or dense layer to be folded",
           "move 'bn' right after a conv/dwconv/dense in the architecture spec");
    Layer &prev = out.layers.back();
    const size_t oc = prev.bias.size();
    const size_t per_out = prev.weight.size() / oc;
    for (size_t c = 0; c < oc; ++c) {
      const float k = l.gamma[c] / std::sqrt(l.var[c] + l.eps);
      for (size_t j = 0; j < per_out; ++j) prev.weight[c * per_out + j] *= k;
      prev.bias[c] = (prev.bias[c] - l.mean[c]) * k + l.beta[c];
    }
  }
  infer_shapes(out);
  return out;
}

}  // namespace qp::model
