#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "common/parallel.h"
#include "common/rng.h"
#include "model/executor_fp32.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "model/layout.h"
#include "quant/multiplier.h"
#include "quant/plan.h"
#include "quant/qmodel.h"

namespace qp::quant {

using model::Op;
using ops::activation_params;
using ops::quantize_value;

void normalize(QModel &m) {
  auto &layers = m.layers;
  for (size_t k = 0; k < layers.size(); ++k) {
    QLayer &l = layers[k];
    const std::string where = "INT8 layer " + std::to_string(k) + " (" + model::op_name(l.op) + ")";
    if (l.inputs.empty()) l.inputs = {static_cast<int>(k) - 1};
    const ops::OpDef &def = ops::op_def(l.op);
    if (!ops::input_count_ok(def, l.inputs.size()))
      fail(where + " has " + std::to_string(l.inputs.size()) + " input(s), expected " + ops::inputs_expected(def),
           "the model file is corrupt: re-quantize it");
    l.q.input_q.clear();
    for (const int p : l.inputs) {
      if (p < model::kGraphInput || p >= static_cast<int>(k))
        fail(where + " reads tensor " + std::to_string(p) + ", which is not the model input or an earlier layer",
             "the model file is corrupt: re-quantize it");
      l.q.input_q.push_back(m.tensor_params(p));
    }
    l.q.input = l.q.input_q[0];
    const model::Shape s0 = m.tensor_shape(l.inputs[0]);
    if (!(l.in == s0)) fail(where + ": its input shape " + model::shape_str(l.in) + " differs from its producer's " + model::shape_str(s0),
                            "the model file is corrupt: re-quantize it");
    if (def.check_int8 != nullptr) def.check_int8(m, l, where);
  }
  // The tensor table: the input's name and quantization are kept there; a layer output's name and quantization are
  // what its producer states (q.name, q.output).
  m.tensors.resize(layers.size() + 1);
  for (int p = model::kGraphInput; p < static_cast<int>(layers.size()); ++p) {
    model::Tensor &t = m.tensors[static_cast<size_t>(model::tensor_id(p))];
    if (p >= 0) t.name = layers[static_cast<size_t>(p)].q.name;
    t.shape = m.tensor_shape(p);
    t.dtype = model::DType::Int8;
    t.quant = m.tensor_params(p);
  }
}

namespace {

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
  l.q.act_min = -128;
  l.q.act_max = 127;
  if (l.q.activation == "relu" || l.q.activation == "relu6") l.q.act_min = std::max<int32_t>(-128, l.q.output.zero_point);
  // ReLU6's bound as TFLite's CalculateActivationRangeQuantized computes it: zero point + round(6.0f / scale) in
  // float32 (a double quotient can round the other way at a .5 boundary).
  if (l.q.activation == "relu6") {
    const float q = std::round(6.0f / static_cast<float>(l.q.output.scale));
    l.q.act_max = q >= 255.f ? 127 : std::min<int32_t>(127, l.q.output.zero_point + static_cast<int32_t>(q));
  }
  // The op's derived integers (src/ops/<op>.cpp); an op number from a corrupt file has none.
  if (const ops::OpDef *d = ops::find_op(l.op); d != nullptr && d->derive != nullptr) d->derive(l);
}

int64_t worst_case_accumulator(const QLayer &l, int c) {
  const size_t per = l.q.weight.size() / (l.op == Op::DepthwiseConv2D ? 1 : l.q.bias.size());
  int64_t sum = l.q.bias.empty() ? 0 : std::llabs(static_cast<long long>(l.q.bias[static_cast<size_t>(c)]));
  if (l.op == Op::DepthwiseConv2D) {
    const size_t ch = l.q.bias.size();
    for (size_t i = static_cast<size_t>(c); i < l.q.weight.size(); i += ch)
      sum += 255 * std::abs(static_cast<int>(l.q.weight[i]));
  } else {
    for (size_t i = 0; i < per; ++i) sum += 255 * std::abs(static_cast<int>(l.q.weight[static_cast<size_t>(c) * per + i]));
  }
  return sum;
}

QModel quantize_graph(const model::Graph &graph, const data::Split &calib, const QuantOptions &opt) {
  model::Graph g = model::fold_for_inference(graph);
  // The pixels' real values: the FP32 graph is calibrated on what it expects (opt.convention, e.g. --mean/--std).
  if (!opt.convention.is_default()) g.input_real = input_real_table(opt.convention, g.input.c);
  // The output is a class vector: softmax probabilities, or logits (a graph ending in Dense, GAP, Mean, ...), whose int8
  // tensor is quantized from calibration like any other; the decision is its first maximum either way.
  if (g.layers.empty()) fail("the model has no layers");
  if (const model::Shape o = g.output(); o.h != 1 || o.w != 1)
    fail("the model's output " + model::shape_str(o) + " is not a class vector",
         "end the model in a layer with one value per class (Dense, global average pooling, Mean, Softmax)");
  if (!g.classes.empty() && g.classes.size() != static_cast<size_t>(g.output().c))
    fail("the model names " + std::to_string(g.classes.size()) + " classes but outputs " + std::to_string(g.output().c) +
         " values", "give it one class name per output");
  if (calib.samples.empty()) fail("no calibration images", "pass a folder of training images with --calib");
  if (!calib.has_input(g.input.h, g.input.w, g.input.c)) fail("internal: calibration images are not resized to the model input");
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
  // A foreign model without class names (a PyTorch export) takes the calibration folder's, as eval does.
  q.classes = g.classes.empty() ? calib.classes : g.classes;
  if (q.classes.size() != static_cast<size_t>(g.output().c))
    fail("the model outputs " + std::to_string(g.output().c) + " values but the calibration images have " +
             std::to_string(q.classes.size()) + " classes",
         "calibrate on images of the model's classes, one subfolder per output");
  q.input = g.input;
  q.convention = opt.convention;
  q.set_input_params(input_params_for(opt.convention, g.input.c));
  q.quant_options = opt;

  // 2. Layers, in the graph's order. qidx[k]: the INT8 layer whose output is FP32 layer k's output
  // (a fused ReLU maps to the layer it is fused into).
  const auto readers = model::consumers(g);
  std::vector<int> qidx(nl, model::kGraphInput);
  // fused[k]: the activation (ReLU/ReLU6) fused into layer k's output when k is an op that fuses one and
  // the activation is its only reader; -1 otherwise.
  std::vector<int> fused(nl, -1);
  for (size_t k = 0; k < nl; ++k) {
    const auto &r = readers[k];
    if (ops::op_def(g.layers[k].op).fuses_activation && r.size() == 1 &&
        ops::op_def(g.layers[static_cast<size_t>(r[0])].op).fused_as != nullptr)
      fused[k] = r[0];
  }
  auto range = [&](size_t j) { return observe(sample[j], lo[j], hi[j], opt); };
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
      ql.q.input_q.push_back(q.tensor_params(ql.inputs.back()));
    }
    ql.q.input = ql.q.input_q[0];
    ql.q.fp32_index = static_cast<int>(k);
    // The op's quantization rule (src/ops/<op>.cpp). No INT8 layer (a fused activation): its output is
    // its input's.
    const auto rule = ops::op_def(l.op).quantize;
    if (rule == nullptr)
      fail("internal: layer " + std::to_string(k) + " (" + model::op_name(l.op) + ") has no INT8 rule (an unfolded layer?)");
    if (!rule({g, k, opt, q, fused, range}, ql)) {
      qidx[k] = ql.inputs[0];
      continue;
    }
    qidx[k] = static_cast<int>(q.layers.size());
    q.layers.push_back(std::move(ql));
  }
  // Tensor names from the FP32 graph: an INT8 layer's output takes the name of the last FP32 tensor it stands for
  // (a fused ReLU's output rather than its conv's).
  q.set_tensor_name(model::kGraphInput, g.tensor_name(model::kGraphInput));
  for (size_t k = 0; k < nl; ++k)
    if (qidx[k] >= 0 && !g.tensor_name(static_cast<int>(k)).empty())
      q.layers[static_cast<size_t>(qidx[k])].q.name = g.tensor_name(static_cast<int>(k));
  quant::normalize(q);
  return q;
}

Int8Engine::Int8Engine(const QModel &m, Backend backend, OptIsa isa) : m_(m), backend_(backend), isa_(isa) {
  if (backend == Backend::Optimized && !opt_isa_available(isa))
    fail(std::string("the optimized kernel set '") + opt_isa_name(isa) + "' is not available on this CPU or build",
         "use OptIsa::Auto (the fastest available)");
  table_ = input_table(m.convention, m.input_params(), m.input.c);
  input_flip_ = table_is_minus_128(table_);
  std::vector<uint32_t> scratch;
  for (size_t k = 0; k < m.layers.size(); ++k) {
    opt_.push_back(backend == Backend::Optimized ? pack_opt_weights(m, k) : OptWeights{});  // Kind::None: no optimized kernel
    scratch.push_back(static_cast<uint32_t>(opt_.back().scratch_bytes()));
  }
  fuse_.assign(m.layers.size(), 0);
  for (size_t k = 0; backend == Backend::Optimized && k < m.layers.size(); ++k)
    if (opt_fuses_maxpool(m, k, opt_[k], isa)) {
      fuse_[k] = 1;
      scratch[k] = static_cast<uint32_t>(opt_fuse_scratch_bytes(opt_[k], isa));
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

std::vector<int8_t> Int8Engine::run_int8(const int8_t *x, std::vector<std::vector<int8_t>> *trace) const {
  const std::unique_ptr<int8_t[]> arena(new int8_t[arena_bytes()]);
  std::copy(x, x + m_.input.size(), arena.get() + input_off_);
  int8_t *result = nullptr;
  run_into(nullptr, arena.get(), trace, &result);
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
  if (rgb != nullptr) {  // nullptr: run_int8 put the int8 input in place
    // Pixels through the model's input table (quant/input_map.h; q = p - 128 for qparity's own models).
    // Pixel by pixel, channel by channel (no division per byte: it cost ~5 % of a rps-resnet inference).
    const size_t c = static_cast<size_t>(m_.input.c);
    if (input_flip_) {  // the table is p - 128 on every channel: a loop GCC vectorises
      for (size_t i = 0; i < n_in; ++i) x[i] = static_cast<int8_t>(rgb[i] ^ 0x80u);
    } else {
      for (size_t i = 0; i < n_in; i += c)
        for (size_t ch = 0; ch < c; ++ch) x[i + ch] = table_[ch * 256 + rgb[i + ch]];
    }
  }
  if (trace) trace->clear();
  const bool opt = backend_ == Backend::Optimized;
  int8_t *b = x;
  std::vector<const int8_t *> ins;  // the layer's inputs in the arena
  for (size_t k = 0; k < m_.layers.size(); ++k) {
    const QLayer &l = m_.layers[k];
    b = arena + out_off_[k];
    qp_status_t st = QP_STATUS_OK;
    // The optimized kernel where the layer has one (engine_opt.cpp: opt_run_layer), else the reference below.
    ins.clear();
    for (const size_t off : in_off_[k]) ins.push_back(arena + off);
    auto *scratch = reinterpret_cast<uint8_t *>(arena + scratch_off_[k]);
    if (opt && trace == nullptr && fuse_[k] != 0) {
      // Conv + its MaxPool as one (opt_fuses_maxpool): the pooled bytes go to the conv's output buffer (not shared with
      // the conv's input or scratch, unlike the pool's), then into the pool's place (a quarter of the conv's size).
      opt_conv_maxpool_s8(l, opt_[k], isa_, m_.layers[k + 1], ins[0], b, scratch);
      ++k;
      int8_t *pooled = arena + out_off_[k];
      std::memcpy(pooled, b, static_cast<size_t>(m_.layers[k].out.size()));
      b = pooled;
      continue;
    }
    if (opt && opt_run_layer_n(l, opt_[k], isa_, ins.data(), ins.size(), b, scratch)) {
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
