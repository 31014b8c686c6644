#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "common/parallel.h"
#include "common/rng.h"
#include "model/executor_fp32.h"
#include "ops/registry.h"
#include "model/layout.h"
#include "quant/multiplier.h"
#include "quant/plan.h"
#include "quant/qmodel.h"

namespace qp::quant {

using model::Op;

int64_t QModel::int8_parameter_bytes() const {
  int64_t n = 0;
  for (const auto &l : layers) n += static_cast<int64_t>(l.weight.size() + 4 * l.bias.size());
  return n;
}

void QModel::normalize() {
  for (size_t k = 0; k < layers.size(); ++k) {
    QLayer &l = layers[k];
    const std::string where = "INT8 layer " + std::to_string(k) + " (" + model::op_name(l.op) + ")";
    if (l.inputs.empty()) l.inputs = {static_cast<int>(k) - 1};
    const ops::OpDef &def = ops::op_def(l.op);
    if (!ops::input_count_ok(def, l.inputs.size()))
      fail(where + " has " + std::to_string(l.inputs.size()) + " input(s), expected " + ops::inputs_expected(def),
           "the model file is corrupt: re-quantize it");
    l.input_q.clear();
    for (const int p : l.inputs) {
      if (p < model::kGraphInput || p >= static_cast<int>(k))
        fail(where + " reads tensor " + std::to_string(p) + ", which is not the model input or an earlier layer",
             "the model file is corrupt: re-quantize it");
      l.input_q.push_back(tensor_params(p));
    }
    l.input = l.input_q[0];
    const model::Shape s0 = tensor_shape(l.inputs[0]);
    if (!(l.in == s0)) fail(where + ": its input shape " + model::shape_str(l.in) + " differs from its producer's " + model::shape_str(s0),
                            "the model file is corrupt: re-quantize it");
    if (l.op == Op::Add && !(tensor_shape(l.inputs[1]) == s0 && l.out == s0))
      fail(where + " adds tensors of different shapes", "the model file is corrupt: re-quantize it");
    if (l.op == Op::Concat) {
      int64_t c = 0;
      for (const int p : l.inputs) {
        const model::Shape sj = tensor_shape(p);
        if (sj.h != l.out.h || sj.w != l.out.w) fail(where + " concatenates tensors of different sizes", "the model file is corrupt: re-quantize it");
        c += sj.c;
      }
      if (c != l.out.c) fail(where + ": its output has " + std::to_string(l.out.c) + " channels, its inputs " + std::to_string(c),
                             "the model file is corrupt: re-quantize it");
    }
  }
}

namespace {

// Asymmetric int8 parameters covering [lo, hi] (widened to include 0).
QParams activation_params(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  QParams p;
  p.scale = static_cast<float>((hi - lo) / 255.0);  // scales are float32, as stored in the model file
  p.zero_point = static_cast<int32_t>(std::clamp(std::lround(-128.0 - lo / p.scale), -128L, 127L));
  return p;
}

// Rounds half away from zero (as lround) and saturates in double, so a value far outside int8 at a tiny scale
// (6.0 at scale 1e-45: a ReLU6 bound read from a file) saturates instead of overflowing lround's long.
int32_t quantize_value(double v, const QParams &p) {
  const double q = std::round(v / p.scale) + p.zero_point;
  if (std::isnan(q)) return p.zero_point;
  return static_cast<int32_t>(std::clamp(q, -128.0, 127.0));
}

// Stratified, seeded choice of calibration images.
std::vector<size_t> choose_calibration(const data::Split &s, int count, uint64_t seed) {
  std::vector<std::vector<size_t>> by_class(s.classes.size());
  for (size_t i = 0; i < s.samples.size(); ++i) by_class[static_cast<size_t>(s.samples[i].label)].push_back(i);
  Rng rng(seed_mix(seed, 0xca11b, 0));
  std::vector<size_t> chosen;
  const double frac = std::min(1.0, static_cast<double>(count) / static_cast<double>(s.samples.size()));
  for (auto &v : by_class) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(static_cast<uint32_t>(i))]);
    const size_t k = std::min(v.size(), static_cast<size_t>(std::lround(frac * static_cast<double>(v.size()))));
    chosen.insert(chosen.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::max<size_t>(k, v.empty() ? 0 : 1)));
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

// Range of a sample of values by the chosen observer.
std::pair<double, double> observe(std::vector<float> &v, double lo, double hi, const QuantOptions &opt) {
  if (v.empty() || opt.calibration == CalibMode::MinMax) return {lo, hi};
  if (opt.calibration == CalibMode::Percentile) {
    const double q = opt.percentile / 100.0;
    auto at = [&](double frac) {
      const size_t k = std::min(v.size() - 1, static_cast<size_t>(frac * static_cast<double>(v.size() - 1)));
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      return static_cast<double>(v[k]);
    };
    return {std::min(0.0, at(1.0 - q)), std::max(0.0, at(q))};
  }
  // MSE: shrink the min/max range by a factor alpha in [0.3, 1]; keep the alpha whose
  // quantize-dequantize error over the sample is smallest.
  double best_alpha = 1.0, best_err = std::numeric_limits<double>::infinity();
  for (int k = 30; k <= 100; k += 2) {
    const double alpha = k / 100.0;
    const QParams p = activation_params(lo * alpha, hi * alpha);
    double err = 0;
    for (float x : v) {
      const double d = (quantize_value(x, p) - p.zero_point) * p.scale - x;
      err += d * d;
    }
    if (err < best_err) {
      best_err = err;
      best_alpha = alpha;
    }
  }
  return {lo * best_alpha, hi * best_alpha};
}

}  // namespace

bool flattens_map(const QLayer *prev, model::Shape *map) {
  if (prev == nullptr || prev->op != Op::Flatten || (prev->in.h == 1 && prev->in.w == 1)) return false;
  *map = prev->in;
  return true;
}

size_t chw_to_hwc(size_t i, const model::Shape &s) {
  const size_t hw = static_cast<size_t>(s.h) * s.w;
  return (i % hw) * static_cast<size_t>(s.c) + i / hw;
}

void derive_requantization(QLayer &l) {
  l.act_min = -128;
  l.act_max = 127;
  if (l.activation == "relu" || l.activation == "relu6") l.act_min = std::max<int32_t>(-128, l.output.zero_point);
  if (l.activation == "relu6") l.act_max = std::min<int32_t>(127, quantize_value(6.0, l.output));
  if (l.op == Op::Softmax) {
    const auto sp = softmax_params(l.input.scale);
    l.softmax = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
  }
  if (l.op == Op::Add) {
    if (l.input_q.size() != 2) fail("internal: Add layer without both inputs' quantization");
    l.add = add_params(l.input_q[0].scale, l.input_q[0].zero_point, l.input_q[1].scale, l.input_q[1].zero_point, l.output.scale,
                       l.output.zero_point, l.act_min, l.act_max);
  }
  if (l.op != Op::Conv2D && l.op != Op::DepthwiseConv2D && l.op != Op::Dense) return;
  const size_t oc = l.weight_scale.size();
  l.multiplier.resize(oc);
  l.shift.resize(oc);
  for (size_t c = 0; c < oc; ++c) {
    const auto m = quantize_multiplier(l.input.scale * l.weight_scale[c] / l.output.scale);
    if (m.shift > 30 || m.shift < -31) fail("requantization shift " + std::to_string(m.shift) + " is out of range [-31, 30]");
    l.multiplier[c] = m.multiplier;
    l.shift[c] = m.shift;
  }
}

int64_t worst_case_accumulator(const QLayer &l, int c) {
  const size_t per = l.weight.size() / (l.op == Op::DepthwiseConv2D ? 1 : l.bias.size());
  int64_t sum = l.bias.empty() ? 0 : std::llabs(static_cast<long long>(l.bias[static_cast<size_t>(c)]));
  if (l.op == Op::DepthwiseConv2D) {
    const size_t ch = l.bias.size();
    for (size_t i = static_cast<size_t>(c); i < l.weight.size(); i += ch) sum += 255 * std::abs(static_cast<int>(l.weight[i]));
  } else {
    for (size_t i = 0; i < per; ++i) sum += 255 * std::abs(static_cast<int>(l.weight[static_cast<size_t>(c) * per + i]));
  }
  return sum;
}

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
std::vector<double> choose_weight_scales(const model::Layer &l, double input_scale, double output_scale, WeightMode mode,
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
    if (mode == WeightMode::PerTensor) {
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

QModel quantize_graph(const model::Graph &graph, const data::Split &calib, const QuantOptions &opt) {
  const model::Graph g = model::fold_for_inference(graph);
  if (g.layers.empty() || g.layers.back().op != Op::Softmax)
    fail("the model does not end with Softmax",
         "INT8 models output softmax probabilities; train with a spec ending in 'softmax'");
  if (calib.samples.empty()) fail("no calibration images", "pass a folder of training images with --calib");
  if (calib.size != g.input.h) fail("internal: calibration images are not resized to the model input");
  if (opt.calib_count < 1) fail("--calib-count must be at least 1");
  if (opt.calibration == CalibMode::Percentile && !(opt.percentile > 50 && opt.percentile <= 100))
    fail("--percentile must be in (50, 100]");

  // 1. Calibration: FP32 traces of the chosen images; per layer min/max and a value sample.
  const auto chosen = choose_calibration(calib, opt.calib_count, opt.seed);
  const model::Fp32Executor exec(g);
  const size_t nl = g.layers.size();
  std::vector<double> lo(nl, 0.0), hi(nl, 0.0);
  std::vector<std::vector<float>> sample(nl);
  std::mutex mu;
  const size_t stride_cap = 400000;  // values kept per layer for percentile / MSE
  parallel_for(chosen.size(), opt.threads, [&](size_t j) {
    std::vector<std::vector<float>> trace;
    exec.run_rgb(calib.image(chosen[j]), &trace);
    std::lock_guard<std::mutex> lock(mu);
    for (size_t k = 0; k < nl; ++k) {
      const auto [mn, mx] = std::minmax_element(trace[k].begin(), trace[k].end());
      lo[k] = std::min(lo[k], static_cast<double>(*mn));
      hi[k] = std::max(hi[k], static_cast<double>(*mx));
      if (opt.calibration != CalibMode::MinMax) {
        const size_t step = std::max<size_t>(1, trace[k].size() * chosen.size() / stride_cap);
        for (size_t i = j % step; i < trace[k].size(); i += step) sample[k].push_back(trace[k][i]);
      }
    }
  });
  // The sample's order depends on thread timing; sort it so percentile / MSE see the same multiset.
  for (auto &s : sample) std::sort(s.begin(), s.end());

  QModel q;
  q.classes = g.classes;
  q.input = g.input;
  q.options = opt;

  // 2. Layers, in the graph's order. qidx[k]: the INT8 layer whose output is FP32 layer k's output
  // (a fused ReLU maps to the layer it is fused into).
  const auto readers = model::consumers(g);
  std::vector<int> qidx(nl, model::kGraphInput);
  auto fused_activation = [&](size_t k) -> int {  // the ReLU/ReLU6 fused into layer k's output, or -1
    const auto &r = readers[k];
    if (r.size() != 1) return -1;
    const Op o = g.layers[static_cast<size_t>(r[0])].op;
    return o == Op::ReLU || o == Op::ReLU6 ? r[0] : -1;
  };
  for (size_t k = 0; k < nl; ++k) {
    const model::Layer &l = g.layers[k];
    QLayer ql;
    ql.op = l.op;
    ql.in = l.in;
    ql.out = l.out;
    ql.kernel = l.kernel;
    ql.stride = l.stride;
    ql.pad_top = l.pad_top;
    ql.pad_left = l.pad_left;
    for (const int p : l.inputs) {
      ql.inputs.push_back(p < 0 ? model::kGraphInput : qidx[static_cast<size_t>(p)]);
      ql.input_q.push_back(q.tensor_params(ql.inputs.back()));
    }
    ql.input = ql.input_q[0];
    const QParams cur = ql.input;
    ql.fp32_index = static_cast<int>(k);
    switch (l.op) {
      case Op::ReLU:
      case Op::ReLU6: {
        // Fused into the conv/dense/add before it (handled there) when it is that layer's only reader.
        const int p = l.inputs[0];
        const bool fused = p >= 0 && fused_activation(static_cast<size_t>(p)) == static_cast<int>(k) &&
                           (g.layers[static_cast<size_t>(p)].op == Op::Conv2D || g.layers[static_cast<size_t>(p)].op == Op::DepthwiseConv2D ||
                            g.layers[static_cast<size_t>(p)].op == Op::Dense || g.layers[static_cast<size_t>(p)].op == Op::Add);
        if (!fused)
          fail(std::string("layer ") + std::to_string(k) + " (" + model::op_name(l.op) +
                   ") does not follow a conv, dense or add layer that only it reads",
               "INT8 fuses activations into the conv/dense/add before them");
        qidx[k] = qidx[static_cast<size_t>(p)];
        continue;
      }
      case Op::Add: {
        const int act = fused_activation(k);
        const size_t src = act >= 0 ? static_cast<size_t>(act) : k;
        auto [a, b] = observe(sample[src], lo[src], hi[src], opt);
        if (act >= 0 && g.layers[src].op == Op::ReLU6) b = std::min(b, 6.0);
        ql.output = activation_params(act >= 0 ? 0.0 : a, b);
        if (act >= 0) {
          ql.activation = g.layers[src].op == Op::ReLU ? "relu" : "relu6";
          ql.fp32_index = act;
        }
        derive_requantization(ql);
        break;
      }
      case Op::Concat: {
        auto [a, b] = observe(sample[k], lo[k], hi[k], opt);
        ql.output = activation_params(a, b);
        break;
      }
      case Op::Conv2D:
      case Op::DepthwiseConv2D:
      case Op::Dense: {
        // A following ReLU/ReLU6 is fused: the output range is the activation's, and the clamp does it.
        const int act_k = fused_activation(k);
        const bool act = act_k >= 0;
        const size_t src = act ? static_cast<size_t>(act_k) : k;
        auto [a, b] = observe(sample[src], lo[src], hi[src], opt);
        if (act && g.layers[src].op == Op::ReLU6) b = std::min(b, 6.0);
        ql.output = activation_params(act ? 0.0 : a, b);
        if (act) {
          ql.activation = g.layers[src].op == Op::ReLU ? "relu" : "relu6";
          ql.fp32_index = act_k;
        }
        const int oc = l.out.c;
        for (const auto *v : {&l.weight, &l.bias})
          for (float x : *v)
            if (!std::isfinite(x))
              fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + ") has a non-finite weight or bias",
                   "the FP32 model is broken (NaN/Inf parameters): retrain it or export it again");
        ql.weight_scale = choose_weight_scales(l, cur.scale, ql.output.scale, opt.weights, &ql.raised_scales);
        // Weights quantized in the FP32 order (channel = element / per), then into the runtime layout.
        const size_t per = l.weight.size() / static_cast<size_t>(oc);
        std::vector<int8_t> w(l.weight.size());
        for (size_t i = 0; i < w.size(); ++i)
          w[i] = static_cast<int8_t>(std::clamp(std::lround(l.weight[i] / ql.weight_scale[i / per]), -127L, 127L));
        model::Shape map;
        if (l.op == Op::Conv2D)
          ql.weight = model::conv_oihw_to_ohwi(w, oc, l.in.c, l.kernel);
        else if (l.op == Op::DepthwiseConv2D)
          ql.weight = model::depthwise_ckk_to_kkc(w, oc, l.kernel);
        else if (flattens_map(ql.inputs[0] < 0 ? nullptr : &q.layers[static_cast<size_t>(ql.inputs[0])], &map))
          ql.weight = model::dense_columns_chw_to_hwc(w, oc, map);  // after Flatten of a C x H x W map
        else
          ql.weight = std::move(w);
        ql.bias.resize(static_cast<size_t>(oc));
        for (int c = 0; c < oc; ++c) {
          const double b = std::round(l.bias[static_cast<size_t>(c)] / (cur.scale * ql.weight_scale[static_cast<size_t>(c)]));
          if (std::fabs(b) > 2147483647.0)
            fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + "): bias of channel " + std::to_string(c) +
                     " does not fit int32 at its scale",
                 "check the FP32 model for exploding weights");
          ql.bias[static_cast<size_t>(c)] = static_cast<int32_t>(b);
        }
        derive_requantization(ql);
        for (int c = 0; c < oc; ++c) {
          const int64_t worst = worst_case_accumulator(ql, c);
          if (worst > std::numeric_limits<int32_t>::max())
            fail("layer " + std::to_string(k) + " (" + model::op_name(l.op) + "), output channel " + std::to_string(c) +
                     ": the int32 accumulator could overflow (worst case " + std::to_string(worst) + " > 2^31 - 1)",
                 "use smaller layers (fewer inputs per output) or retrain with weight decay; qparity refuses models that could "
                 "overflow");
        }
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool:
      case Op::GlobalAvgPool:
        ql.output = cur;  // pooling keeps its input's parameters
        break;
      case Op::Flatten: ql.output = cur; break;
      case Op::Softmax: {
        ql.output = {1.0 / 256.0, -128};
        derive_requantization(ql);
        break;
      }
      case Op::BatchNorm:
      case Op::Dropout: fail("internal: unfolded layer in the inference graph");
    }
    qidx[k] = static_cast<int>(q.layers.size());
    q.layers.push_back(std::move(ql));
  }
  q.normalize();
  return q;
}

Int8Engine::Int8Engine(const QModel &m, Backend backend, OptIsa isa) : m_(m), backend_(backend), isa_(isa) {
  if (backend == Backend::Optimized && !opt_isa_available(isa))
    fail(std::string("the optimized kernel set '") + opt_isa_name(isa) + "' is not available on this CPU or build",
         "use OptIsa::Auto (the fastest available)");
  std::vector<uint32_t> scratch;
  for (const auto &l : m.layers) {
    opt_.push_back(backend == Backend::Optimized && (l.op == Op::Conv2D || l.op == Op::Dense) ? pack_opt_weights(l)
                                                                                              : OptWeights{});
    scratch.push_back(static_cast<uint32_t>(opt_.back().scratch_bytes()));
  }
  // 64-byte aligned tensors for the SIMD kernels.
  const ArenaPlan plan = plan_arena(m, scratch, 64);
  arena_ = std::max<size_t>(plan.arena_bytes, 64);
  input_off_ = plan.tensor_offset[0];
  for (size_t k = 0; k < m.layers.size(); ++k) {
    out_off_.push_back(plan.tensor_offset[static_cast<size_t>(plan.layer_tensor[k])]);
    std::vector<size_t> ins;
    for (const int t : plan.layer_inputs[k]) ins.push_back(plan.tensor_offset[static_cast<size_t>(t)]);
    in_off_.push_back(ins);
    scratch_off_.push_back(plan.layer_scratch[k] < 0 ? 0 : plan.tensor_offset[static_cast<size_t>(plan.layer_scratch[k])]);
  }
}

size_t Int8Engine::output_size() const {
  return m_.layers.empty() ? static_cast<size_t>(m_.input.size()) : static_cast<size_t>(m_.layers.back().out.size());
}

std::vector<int8_t> Int8Engine::run(const uint8_t *rgb, std::vector<std::vector<int8_t>> *trace) const {
  // Uninitialised on purpose: every byte is written before it is read.
  const std::unique_ptr<int8_t[]> arena(new int8_t[arena_bytes()]);
  int8_t *result = nullptr;
  run_into(rgb, arena.get(), trace, &result);
  return std::vector<int8_t>(result, result + output_size());
}

void Int8Engine::run_batch(const uint8_t *rgb, size_t n, int8_t *out) const {
  const std::unique_ptr<int8_t[]> arena(new int8_t[arena_bytes()]);
  const size_t in_bytes = static_cast<size_t>(m_.input.size()), out_bytes = output_size();
  for (size_t i = 0; i < n; ++i) {
    int8_t *result = nullptr;
    run_into(rgb + i * in_bytes, arena.get(), nullptr, &result);
    std::copy(result, result + out_bytes, out + i * out_bytes);
  }
}

void Int8Engine::run_into(const uint8_t *rgb, int8_t *arena, std::vector<std::vector<int8_t>> *trace, int8_t **result) const {
  int8_t *x = arena + input_off_;
  const size_t n_in = static_cast<size_t>(m_.input.size());
  for (size_t i = 0; i < n_in; ++i) x[i] = static_cast<int8_t>(static_cast<int>(rgb[i]) - 128);
  if (trace) trace->clear();
  const bool opt = backend_ == Backend::Optimized;
  int8_t *b = x;
  for (size_t k = 0; k < m_.layers.size(); ++k) {
    const QLayer &l = m_.layers[k];
    const int8_t *a = arena + in_off_[k][0];
    b = arena + out_off_[k];
    qp_status_t st = QP_STATUS_OK;
    if (opt && (l.op == Op::Conv2D || l.op == Op::Dense || l.op == Op::MaxPool)) {
      if (l.op == Op::MaxPool)
        opt_maxpool_s8(l, isa_, a, b);
      else
        opt_conv_s8(l, opt_[k], isa_, a, b, reinterpret_cast<uint8_t *>(arena + scratch_off_[k]));
      if (trace) trace->emplace_back(b, b + l.out.size());
      continue;
    }
    // The op's INT8 reference run (src/ops/<op>.cpp); Flatten has none: HWC data is already in
    // flattened order (its output aliases its input).
    if (const auto run = ops::op_def(l.op).int8) st = run({m_, l, arena, in_off_[k], b});
    if (st != QP_STATUS_OK)
      fail("internal: kernel for " + std::string(model::op_name(l.op)) + " returned status " + std::to_string(st));
    if (trace) trace->emplace_back(b, b + l.out.size());
  }
  *result = b;
}

}  // namespace qp::quant
