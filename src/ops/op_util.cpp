#include "ops/op_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

// The smallest float32 >= v (scales are stored as float32; rounding one down could undo a floor).
double float32_at_least(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

// The weight scale of each output channel of a conv/dense layer: max|w| / 127 (symmetric int8 in
// [-127, 127]; per channel, or the tensor's max for every channel), raised to a floor where a channel's
// weights are (near) zero, so the quantizer never refuses a healthy network: a near-dead channel's
// bias / (input_scale * max|w| / 127) overflows int32 otherwise. `raised` gets the number of channels
// whose scale was raised.
std::vector<double> choose_weight_scales(const model::Layer &l, double input_scale, double output_scale, quant::WeightMode mode,
                                         int *raised) {
  const int oc = l.out.c;
  const size_t per = l.weight.size() / static_cast<size_t>(oc);
  // Room the bias may take in the accumulator: int32 less the worst case of the weights at full scale
  // (|w| <= 127 against |x - zp| <= 255 over `per` inputs), so the accumulator bound holds whatever
  // the weights round to.
  const double room = std::max(2147483647.0 - 255.0 * 127.0 * static_cast<double>(per), 1073741824.0);
  std::vector<double> natural(static_cast<size_t>(oc)), floor(static_cast<size_t>(oc));
  for (int c = 0; c < oc; ++c) {
    double m = 0;
    for (size_t i = 0; i < per; ++i)
      m = std::max(m, std::fabs(static_cast<double>(l.weight[static_cast<size_t>(c) * per + i])));
    natural[static_cast<size_t>(c)] = m / 127.0;
    const double bias = l.bias.empty() ? 0.0 : std::fabs(static_cast<double>(l.bias[static_cast<size_t>(c)]));
    // (a) the int32 bias bias / (input_scale * s) fits in `room`;
    // (b) the real multiplier input_scale * s / output_scale stays >= 2^-31, so it is never rounded to 0.
    floor[static_cast<size_t>(c)] =
        std::max(bias / (input_scale * room), std::ldexp(output_scale / input_scale, -31));
  }
  std::vector<double> scale(static_cast<size_t>(oc));
  int count = 0;
  for (int c = 0; c < oc; ++c) {
    double s = natural[static_cast<size_t>(c)], fl = floor[static_cast<size_t>(c)];
    if (mode == quant::WeightMode::PerTensor) {
      s = *std::max_element(natural.begin(), natural.end());
      fl = *std::max_element(floor.begin(), floor.end());
    }
    // A dead channel (all weights 0) outputs its bias alone: its scale puts the bias at 1/256 of an
    // output step (multiplier 2^-8), unless the floors ask for more.
    if (s == 0) s = std::ldexp(output_scale / input_scale, -8);
    if (s < fl) {
      s = fl;  // near-dead channel: its weights round to (almost) zero, as TFLite's converter does
      ++count;
    }
    scale[static_cast<size_t>(c)] = float32_at_least(s);
  }
  if (raised) *raised = count;
  return scale;
}

}  // namespace

void window_out(int in, int k, int stride, model::Padding pad, int &out, int &before, int &after, const std::string &where) {
  if (k <= 0 || stride <= 0) fail(where + ": kernel and stride must be positive");
  if (k > model::kMaxWindow || stride > model::kMaxWindow)
    fail(where + ": kernel " + std::to_string(k) + " or stride " + std::to_string(stride) + " is above qparity's limit of " +
         std::to_string(model::kMaxWindow));
  if (pad == model::Padding::Same) {
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

void expect_size(std::vector<float> &v, int64_t n, const std::string &what, bool allocate, float fill) {
  if (allocate && v.empty()) v.assign(static_cast<size_t>(n), fill);
  if (static_cast<int64_t>(v.size()) != n)
    fail(what + " has " + std::to_string(v.size()) + " values, expected " + std::to_string(n));
}

void check_activation(const model::Shape &s, const std::string &where) {
  const int64_t dims[] = {s.c, s.h, s.w};
  model::checked_element_count(dims, where, model::kMaxActivationElements);
}

quant::QParams activation_params(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  quant::QParams p;
  p.scale = static_cast<float>((hi - lo) / 255.0);  // scales are float32, as stored in the model file
  p.zero_point = static_cast<int32_t>(std::clamp(std::lround(-128.0 - lo / p.scale), -128L, 127L));
  return p;
}

// Rounds half away from zero (as lround) and saturates in double, so a value far outside int8 at a tiny scale
// (6.0 at scale 1e-45: a ReLU6 bound read from a file) saturates instead of overflowing lround's long.
int32_t quantize_value(double v, const quant::QParams &p) {
  const double q = std::round(v / p.scale) + p.zero_point;
  if (std::isnan(q)) return p.zero_point;
  return static_cast<int32_t>(std::clamp(q, -128.0, 127.0));
}

void quantize_output_with_activation(const QuantArgs &args, quant::QLayer &ql) {
  const int act = args.fused[args.k];
  const size_t src = act >= 0 ? static_cast<size_t>(act) : args.k;
  auto [a, b] = args.range(src);
  if (act >= 0) {
    const OpDef &d = op_def(args.g.layers[src].op);
    b = std::min(b, d.fused_max);
    ql.q.activation = d.fused_as;
    ql.q.fp32_index = act;
  }
  ql.q.output = activation_params(act >= 0 ? 0.0 : a, b);
}

void derive_weighted(quant::QLayer &l) {
  const size_t oc = l.q.weight_scale.size();
  l.q.multiplier.resize(oc);
  l.q.shift.resize(oc);
  for (size_t c = 0; c < oc; ++c) {
    const auto m = quant::quantize_multiplier(l.q.input.scale * l.q.weight_scale[c] / l.q.output.scale);
    if (m.shift > 30 || m.shift < -31) fail("requantization shift " + std::to_string(m.shift) + " is out of range [-31, 30]");
    l.q.multiplier[c] = m.multiplier;
    l.q.shift[c] = m.shift;
  }
}

void quantize_weighted(const QuantArgs &args, quant::QLayer &ql, const WeightLayout &layout) {
  const model::Layer &l = args.g.layers[args.k];
  const size_t k = args.k;
  // A following ReLU/ReLU6 is fused: the output range is the activation's, and the clamp does it.
  quantize_output_with_activation(args, ql);
  const double in_scale = ql.q.input.scale;
  const int oc = l.out.c;
  for (const auto *v : {&l.weight, &l.bias})
    for (float x : *v)
      if (!std::isfinite(x))
        fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + ") has a non-finite weight or bias",
             "the FP32 model is broken (NaN/Inf parameters): retrain it or export it again");
  const bool dense_pt = l.op == model::Op::Dense && args.opt.dense_per_tensor;
  ql.q.weight_scale = choose_weight_scales(l, in_scale, ql.q.output.scale,
                                           dense_pt ? quant::WeightMode::PerTensor : args.opt.weights, &ql.q.raised_scales);
  // Weights quantized in the FP32 order (channel = element / per), then into the runtime layout.
  const size_t per = l.weight.size() / static_cast<size_t>(oc);
  std::vector<int8_t> w(l.weight.size());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<int8_t>(std::clamp(std::lround(l.weight[i] / ql.q.weight_scale[i / per]), -127L, 127L));
  ql.q.weight = layout(std::move(w));
  ql.q.bias.resize(static_cast<size_t>(oc));
  for (int c = 0; c < oc; ++c) {
    const double b = std::round(l.bias[static_cast<size_t>(c)] / (in_scale * ql.q.weight_scale[static_cast<size_t>(c)]));
    if (std::fabs(b) > 2147483647.0)
      fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + "): bias of channel " + std::to_string(c) +
               " does not fit int32 at its scale",
           "check the FP32 model for exploding weights");
    ql.q.bias[static_cast<size_t>(c)] = static_cast<int32_t>(b);
  }
  quant::derive_requantization(ql);
  for (int c = 0; c < oc; ++c) {
    const int64_t worst = quant::worst_case_accumulator(ql, c);
    if (worst > std::numeric_limits<int32_t>::max())
      fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + "), output channel " + std::to_string(c) +
               ": the int32 accumulator could overflow (worst case " + std::to_string(worst) + " > 2^31 - 1)",
           "use smaller layers (fewer inputs per output) or retrain with weight decay; qparity refuses models that could "
           "overflow");
  }
}

}  // namespace qp::ops
