#include "inspect/inspect.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "common/parallel.h"
#include "data/image_io.h"
#include "eval/evaluate.h"
#include "model/executor_fp32.h"
#include "quant/labels.h"

namespace qp::inspect {

using model::Op;

namespace {

bool is_weighted(Op op) {
  return op == Op::Conv2D || op == Op::DepthwiseConv2D || op == Op::Dense;
}

// The INT8 layers the simulation quantizes (and sensitivity measures one at a time): the ones that compute
// new values on their own grid. Pools and Flatten keep their input's grid; the softmax is handled apart.
bool is_simulated(Op op) {
  return is_weighted(op) || op == Op::Add || op == Op::Concat;
}

// The producers of INT8 layer k's inputs (INT8 layer indices, model::kGraphInput for the image); empty
// `inputs` is a chain, as quant::normalize reads it.
std::vector<int> producers(const quant::QModel &q, size_t k) {
  const auto &l = q.layers[k];
  if (!l.inputs.empty()) return l.inputs;
  return {k == 0 ? model::kGraphInput : static_cast<int>(k) - 1};
}

// The quantization of each input of INT8 layer k (input_q when quant::normalize filled it).
std::vector<quant::QParams> input_params(const quant::QModel &q, size_t k) {
  const auto &l = q.layers[k];
  const auto ps = producers(q, k);
  if (l.q.input_q.size() == ps.size()) return l.q.input_q;
  std::vector<quant::QParams> v;
  for (const int p : ps) v.push_back(q.tensor_params(p));
  if (!v.empty()) v[0] = l.q.input;
  return v;
}

// The FP32 layer that performs INT8 layer l's op: l.fp32_index, or with a fused activation the layer the
// ReLU/ReLU6 at l.fp32_index reads. -1 when the graph has no such layer (check_mapping reports it).
int op_fp32_index(const model::Graph &g, const quant::QLayer &l) {
  const int f = l.q.fp32_index;
  if (f < 0 || static_cast<size_t>(f) >= g.layers.size()) return -1;
  if (l.q.activation.empty()) return f;
  const auto &act = g.layers[static_cast<size_t>(f)];
  if (act.inputs.size() != 1) return -1;
  return act.inputs[0];
}

// Checks that every INT8 layer maps onto the FP32 (folded) graph, edges included; qp::Error naming the
// first that does not.
void check_mapping(const model::Graph &g, const quant::QModel &q) {
  const std::string fix = "pass the FP32 model the INT8 model was quantized from";
  if (q.layers.empty()) fail("the INT8 model has no layers", "re-quantize the model with 'qparity quantize'");
  if (!(q.input == g.input))
    fail("the INT8 model takes " + model::shape_str(q.input) + " inputs but the FP32 model takes " + model::shape_str(g.input),
         fix);
  if (q.classes.size() != static_cast<size_t>(g.output().c))
    fail("the INT8 model has " + std::to_string(q.classes.size()) + " classes, the FP32 model " + std::to_string(g.output().c),
         fix);
  for (size_t k = 0; k < q.layers.size(); ++k) {
    const auto &l = q.layers[k];
    const std::string where = "INT8 layer " + std::to_string(k) + " (" + model::op_name(l.op) + ")";
    const int f = l.q.fp32_index;
    if (f < 0 || static_cast<size_t>(f) >= g.layers.size())
      fail(where + " maps to FP32 layer " + std::to_string(f) + ", which the FP32 model does not have", fix);
    const auto &fl = g.layers[static_cast<size_t>(f)];
    bool ok = fl.out.size() == l.out.size();
    const int w = op_fp32_index(g, l);
    if (l.q.activation.empty()) {
      ok = ok && fl.op == l.op;
    } else {
      const Op act = l.q.activation == "relu" ? Op::ReLU : Op::ReLU6;
      ok = ok && fl.op == act && w >= 0 && g.layers[static_cast<size_t>(w)].op == l.op;
    }
    if (ok && is_weighted(l.op)) {
      const auto &wl = g.layers[static_cast<size_t>(w)];
      ok = wl.weight.size() == l.q.weight.size() && wl.bias.size() == l.q.bias.size() &&
           l.q.weight_scale.size() == l.q.bias.size();
    }
    std::string edges;
    if (ok) {  // the same edges: input i of the INT8 layer is the INT8 tensor of the FP32 layer's input i
      const auto &ins = g.layers[static_cast<size_t>(w)].inputs;
      const auto ps = producers(q, k);
      ok = ins.size() == ps.size();
      for (size_t i = 0; ok && i < ps.size(); ++i) {
        const int p = ps[i];
        const int want = p < 0                     ? model::kGraphInput
                         : p < static_cast<int>(k) ? q.layers[static_cast<size_t>(p)].q.fp32_index
                                                   : -2;
        ok = want == ins[i];
      }
      if (!ok) edges = ": its inputs come from other layers";
    }
    if (!ok)
      fail(where + " does not match FP32 layer " + std::to_string(f) + " (" + model::op_name(fl.op) + ", output " +
               model::shape_str(fl.out) + ")" + edges,
           fix);
  }
}

// Round-half-away-from-zero onto the int8 grid of p, clamped, and back to real.
inline float fake_quant(float v, const quant::QParams &p) {
  const double t = std::clamp(std::round(static_cast<double>(v) / p.scale) + p.zero_point, -128.0, 127.0);
  return static_cast<float>((t - p.zero_point) * p.scale);
}

// The FP32 layer of a weighted INT8 layer, with the layer's dequantized int8 weights and int32 biases.
// `prev` is the INT8 layer the Dense layer reads (for the CHW/HWC column order after a Flatten).
model::Layer dequantized_layer(const model::Layer &fl, const quant::QLayer &l, const quant::QLayer *prev) {
  model::Layer out = fl;
  const int oc = l.out.c;
  auto w = [&](size_t i, int c) { return static_cast<float>(l.q.weight[i] * l.q.weight_scale[static_cast<size_t>(c)]); };
  const int kk = l.kernel;
  if (l.op == Op::Conv2D) {  // OHWI -> OIHW
    const int ic = l.in.c;
    for (int o = 0; o < oc; ++o)
      for (int i = 0; i < ic; ++i)
        for (int y = 0; y < kk; ++y)
          for (int x = 0; x < kk; ++x)
            out.weight[((static_cast<size_t>(o) * ic + i) * kk + y) * kk + x] =
                w(((static_cast<size_t>(o) * kk + y) * kk + x) * ic + i, o);
  } else if (l.op == Op::DepthwiseConv2D) {  // [1][K][K][C] -> [C][1][K][K]
    for (int c = 0; c < oc; ++c)
      for (int y = 0; y < kk; ++y)
        for (int x = 0; x < kk; ++x)
          out.weight[(static_cast<size_t>(c) * kk + y) * kk + x] = w((static_cast<size_t>(y) * kk + x) * oc + c, c);
  } else {  // Dense [OUT][IN], IN in HWC order after the Flatten of a map
    const int in = l.in.c;
    model::Shape map;
    const bool permute = quant::flattens_map(prev, &map);
    for (int o = 0; o < oc; ++o)
      for (int i = 0; i < in; ++i) {
        const size_t src = permute ? quant::chw_to_hwc(static_cast<size_t>(i), map) : static_cast<size_t>(i);
        out.weight[static_cast<size_t>(o) * in + i] = w(static_cast<size_t>(o) * in + src, o);
      }
  }
  for (int c = 0; c < oc; ++c)
    out.bias[static_cast<size_t>(c)] =
        static_cast<float>(l.q.bias[static_cast<size_t>(c)] * l.q.input.scale * l.q.weight_scale[static_cast<size_t>(c)]);
  return out;
}

// Runs the FP32 graph layer by layer, along its edges, so that chosen layers can swap in dequantized
// weights and fake-quantize what they read and what they write. Layers whose inputs did not change take
// their output from the FP32 trace of the same image instead of recomputing it.
class Simulator {
 public:
  struct Plan {
    std::vector<std::vector<const quant::QParams *>> in_q;  // per FP32 layer, per input: fake-quantize that read
    std::vector<const quant::QParams *> out_q;              // per FP32 layer: fake-quantize its output
    std::vector<char> dequantized;                          // per FP32 layer: use the dequantized weights
  };

  Simulator(const model::Graph &g, const quant::QModel &q) : g_(g) {
    for (const auto &l : g.layers)
      plain_.push_back(l.op == Op::Add || l.op == Op::Concat ? nullptr : std::make_unique<model::Fp32Executor>(single(g, l)));
    quantized_.resize(g.layers.size());
    for (size_t k = 0; k < q.layers.size(); ++k) {
      const auto &l = q.layers[k];
      if (!is_weighted(l.op)) continue;
      const int p = producers(q, k)[0];
      const auto f = static_cast<size_t>(op_fp32_index(g, l));
      quantized_[f] = std::make_unique<model::Fp32Executor>(
          single(g, dequantized_layer(g.layers[f], l, p < 0 ? nullptr : &q.layers[static_cast<size_t>(p)])));
    }
  }

  Plan empty_plan() const {
    Plan p;
    p.in_q.resize(g_.layers.size());
    for (size_t k = 0; k < g_.layers.size(); ++k) p.in_q[k].assign(g_.layers[k].inputs.size(), nullptr);
    p.out_q.assign(g_.layers.size(), nullptr);
    p.dequantized.assign(g_.layers.size(), 0);
    return p;
  }

  // Adds INT8 layer `l` (conv/dense/add/concat) to the plan: dequantized weights, every input
  // fake-quantized with its parameters as the layer reads it, the (post-activation) output with the layer's.
  // `input_q` holds the layer's input parameters and must outlive the plan.
  void quantize_layer(Plan &p, const quant::QLayer &l, const std::vector<quant::QParams> &input_q) const {
    const auto f = static_cast<size_t>(op_fp32_index(g_, l));
    p.dequantized[f] = is_weighted(l.op);
    for (size_t i = 0; i < p.in_q[f].size() && i < input_q.size(); ++i) p.in_q[f][i] = &input_q[i];
    p.out_q[static_cast<size_t>(l.q.fp32_index)] = &l.q.output;
  }

  // The graph's output for input `chw` under plan p; `trace` is the FP32 executor's trace of the same input.
  std::vector<float> run(const std::vector<float> &chw, const std::vector<std::vector<float>> &trace, const Plan &p) const {
    const size_t n = g_.layers.size();
    std::vector<std::vector<float>> own(n);
    std::vector<const std::vector<float> *> view(n, nullptr);
    std::vector<char> changed(n, 0);
    for (size_t k = 0; k < n; ++k) {
      const auto &l = g_.layers[k];
      bool touched = p.dequantized[k] || p.out_q[k];
      for (size_t i = 0; i < l.inputs.size(); ++i)
        touched = touched || p.in_q[k][i] || (l.inputs[i] >= 0 && changed[static_cast<size_t>(l.inputs[i])]);
      if (!touched) {
        view[k] = &trace[k];
        continue;
      }
      changed[k] = 1;
      std::vector<std::vector<float>> read(l.inputs.size());  // fake-quantized copies, when asked for
      std::vector<const std::vector<float> *> in(l.inputs.size());
      for (size_t i = 0; i < l.inputs.size(); ++i) {
        in[i] = l.inputs[i] < 0 ? &chw : view[static_cast<size_t>(l.inputs[i])];
        if (p.in_q[k][i]) {
          read[i] = *in[i];
          for (auto &v : read[i]) v = fake_quant(v, *p.in_q[k][i]);
          in[i] = &read[i];
        }
      }
      std::vector<float> &x = own[k];
      if (l.op == Op::Add) {
        x = *in[0];
        for (size_t i = 1; i < in.size(); ++i)
          for (size_t e = 0; e < x.size(); ++e) x[e] += (*in[i])[e];
      } else if (l.op == Op::Concat) {  // CHW: along channels is one block after the other
        for (const auto *t : in) x.insert(x.end(), t->begin(), t->end());
      } else {
        x = (p.dequantized[k] ? *quantized_[k] : *plain_[k]).run(in[0]->data());
      }
      if (p.out_q[k])
        for (auto &v : x) v = fake_quant(v, *p.out_q[k]);
      view[k] = &x;
    }
    return *view[n - 1];
  }

 private:
  // A one-layer graph reading the graph input.
  static model::Graph single(const model::Graph &g, const model::Layer &l) {
    model::Graph s;
    s.arch = g.arch;
    s.classes = g.classes;
    s.input = l.in;
    s.layers = {l};
    s.layers[0].inputs = {model::kGraphInput};
    return s;
  }
  const model::Graph &g_;
  std::vector<std::unique_ptr<model::Fp32Executor>> plain_;  // null for Add/Concat (computed here)
  std::vector<std::unique_ptr<model::Fp32Executor>> quantized_;
};


struct LayerAcc {
  double signal = 0, noise = 0, lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  int64_t values = 0, clipped = 0, saturated = 0;
};

struct ImageOut {
  int fp32_pred = -1, int8_pred = -1, margin = 0, all_pred = -1;
  double all_signal = 0, all_noise = 0;  // the engine's dequantized output vs the all-layers simulation's
  std::vector<int> single_pred;          // per simulated layer (conv/dense/add/concat)
  std::vector<LayerAcc> layers;
};

// What a layer's stats say without running anything: parameters, calibrated range, weight ranges.
LayerStats layer_facts(const quant::QModel &q, size_t k, const std::string &name) {
  const auto &l = q.layers[k];
  LayerStats st;
  st.index = static_cast<int>(k);
  st.name = name;
  st.op = l.op;
  st.fp32_index = l.q.fp32_index;
  st.activation = l.q.activation;
  st.tensor = l.q.name;
  st.input = l.q.input;
  st.inputs = producers(q, k);
  st.inputs_q = input_params(q, k);
  st.output = l.q.output;
  st.calibrated_lo = (-128 - l.q.output.zero_point) * l.q.output.scale;
  st.calibrated_hi = (127 - l.q.output.zero_point) * l.q.output.scale;
  st.count_low_saturation = l.q.output.zero_point > -128;
  st.softmax_ceiling = l.op == Op::Softmax;  // above 127 is probability ~1.0: the ceiling, not a clip
  st.weighted = is_weighted(l.op) && !l.q.weight_scale.empty();
  if (st.weighted) {
    const auto [lo, hi] = std::minmax_element(l.q.weight_scale.begin(), l.q.weight_scale.end());
    st.weight_scale_min = *lo;
    st.weight_scale_max = *hi;
    const size_t oc = l.q.weight_scale.size();
    st.weight_range.assign(oc, {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()});
    const size_t per = l.q.weight.size() / oc;
    for (size_t i = 0; i < l.q.weight.size(); ++i) {
      const size_t c = l.op == Op::DepthwiseConv2D ? i % oc : i / per;  // depthwise [1][K][K][C], else [OUT][...]
      const double v = l.q.weight[i] * l.q.weight_scale[c];
      st.weight_range[c].first = std::min(st.weight_range[c].first, v);
      st.weight_range[c].second = std::max(st.weight_range[c].second, v);
    }
  }
  return st;
}

// Whether an int8 output value counts as saturated (see the definitions in inspect.h).
bool saturates(const quant::QLayer &l, int v) {
  const bool high = !(l.q.activation == "relu6" && l.q.act_max == 127);
  return (v == 127 && high) || (v == -128 && l.q.output.zero_point > -128);
}

// The margin histogram and the images closest to a flip, from per-image results in image order.
void add_margins(Inspection &r, const quant::QModel &q, const std::vector<ImageOut> &out, const data::Split &split,
                 const InspectOptions &opt) {
  const eval::Int8Output meaning = eval::Int8Output::of(q);
  r.output_logits = meaning.logits;
  r.margin_unit = meaning.margin_unit();
  const size_t n = out.size();
  std::map<int, int> hist;
  for (const auto &o : out) ++hist[o.margin];
  r.margin_histogram.assign(hist.begin(), hist.end());
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return out[a].margin < out[b].margin; });
  for (size_t j = 0; j < std::min(n, static_cast<size_t>(std::max(0, opt.closest))); ++j) {
    const size_t i = order[j];
    r.closest.push_back({split.samples[i].path, split.samples[i].label, out[i].fp32_pred, out[i].int8_pred, out[i].margin});
  }
}

}  // namespace

double sqnr_db(double signal, double noise) {
  if (noise == 0) return signal > 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  return 10.0 * std::log10(signal / noise);
}

double sqnr_db(const std::vector<float> &ref, const std::vector<float> &test) {
  if (ref.size() != test.size()) fail("internal: sqnr_db of vectors of different lengths");
  double s = 0, n = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], d = r - test[i];
    s += r * r;
    n += d * d;
  }
  return sqnr_db(s, n);
}

double LayerStats::sqnr_db() const {
  return inspect::sqnr_db(signal, noise);
}

void check_provenance(const model::ModelFile &fp32, const quant::QModelFile &int8) {
  const auto it = int8.metadata.find("qparity.quant.fp32_model_sha256");
  if (it == int8.metadata.end() || it->second.empty())
    fail("'" + int8.path + "' does not record which FP32 model it was quantized from (no qparity.quant.fp32_model_sha256)",
         "re-quantize it with 'qparity quantize --model " + fp32.path + "'");
  if (it->second != fp32.sha256)
    fail("'" + int8.path + "' was not quantized from '" + fp32.path + "' (it records FP32 model sha256 " +
             it->second.substr(0, 12) + "..., the file's is " + fp32.sha256.substr(0, 12) + "...)",
         "pass the FP32 model it was quantized from, or re-quantize: qparity quantize --model " + fp32.path +
             " --calib DATA/train --out int8.onnx");
  // An FP32 model without class names (a PyTorch export) was quantized with its calibration folder's.
  if (!fp32.graph.classes.empty() && int8.model.classes != fp32.graph.classes)
    fail("'" + int8.path + "' and '" + fp32.path + "' have different classes", "pass the FP32 model it was quantized from");
}

Inspection inspect_models(const model::Graph &fp32, const quant::QModel &q, const data::Split &split, const InspectOptions &opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const model::Graph g = model::fold_for_inference(fp32);
  check_mapping(g, q);
  if (split.samples.empty()) fail("no images to inspect on", "pass a split folder with images, e.g. --data DATA/test");
  if (!split.has_input(g.input.h, g.input.w, g.input.c))
    fail("internal: split resized to " + std::to_string(split.height) + "x" + std::to_string(split.width) + "x" +
         std::to_string(split.channels) + " but the model takes " + model::shape_str(g.input));

  const size_t nq = q.layers.size(), n = split.samples.size();
  std::vector<size_t> simulated;  // INT8 indices of conv/dense/add/concat layers
  std::vector<std::vector<quant::QParams>> in_params(nq);
  for (size_t k = 0; k < nq; ++k) {
    in_params[k] = input_params(q, k);
    if (is_simulated(q.layers[k].op)) simulated.push_back(k);
  }
  // Element maps NHWC (INT8) -> CHW (FP32), per layer; a Flatten's output is the flattened map.
  std::vector<model::Shape> map_shape(nq);
  for (size_t k = 0; k < nq; ++k) {
    map_shape[k] = q.layers[k].out;
    quant::flattens_map(&q.layers[k], &map_shape[k]);
  }
  std::vector<char> low_counts(nq), high_counts(nq), softmax(nq);
  for (size_t k = 0; k < nq; ++k) {
    const auto &l = q.layers[k];
    low_counts[k] = l.q.output.zero_point > -128;
    high_counts[k] = !(l.q.activation == "relu6" && l.q.act_max == 127);
    softmax[k] = l.op == Op::Softmax;  // above 127 is probability ~1.0: the ceiling, not a clip
  }

  const model::Fp32Executor exec(g);
  const quant::Int8Engine engine(q, quant::Backend::Optimized, quant::opt_isa_from_env());
  const Simulator sim(g, q);
  std::vector<Simulator::Plan> single_plans;
  for (size_t k : simulated) {
    single_plans.push_back(sim.empty_plan());
    sim.quantize_layer(single_plans.back(), q.layers[k], in_params[k]);
  }
  Simulator::Plan all_plan = sim.empty_plan();
  for (size_t k : simulated) sim.quantize_layer(all_plan, q.layers[k], in_params[k]);
  // The model's output on its int8 grid too: a softmax's probabilities, or the logits of a model that ends without one
  // (a Dense's output is already; a global average pool or Mean keeps or sets its own).
  for (const auto &l : q.layers)
    if (l.op == Op::Softmax || &l == &q.layers.back()) all_plan.out_q[static_cast<size_t>(l.q.fp32_index)] = &l.q.output;

  std::vector<ImageOut> out(n);
  std::exception_ptr error;
  std::mutex mu;
  std::atomic<size_t> done{0};
  parallel_for(n, opt.threads, [&](size_t i) {
    try {
      const uint8_t *rgb = split.image(i);
      const auto chw = model::rgb_to_chw(rgb, g.input.h, g.input.w, g.input.c, g.input_real);
      std::vector<std::vector<float>> ft;
      std::vector<std::vector<int8_t>> qt;
      const auto fo = exec.run(chw.data(), &ft);
      const auto qo = engine.run(rgb, &qt);
      ImageOut &o = out[i];
      o.fp32_pred = eval::first_argmax(fo);
      o.int8_pred = eval::first_argmax(qo);
      o.margin = eval::int8_margin(std::vector<int>(qo.begin(), qo.end()));
      o.layers.resize(nq);
      for (size_t k = 0; k < nq; ++k) {
        const auto &l = q.layers[k];
        const auto &fp = ft[static_cast<size_t>(l.q.fp32_index)];
        const auto &qv = qt[k];
        if (fp.size() != qv.size()) fail("internal: INT8 layer " + std::to_string(k) + " and its FP32 layer differ in size");
        LayerAcc &a = o.layers[k];
        const double s = l.q.output.scale;
        const int zp = l.q.output.zero_point;
        for (size_t e = 0; e < fp.size(); ++e) {
          const double want = fp[e];
          const int got = qv[quant::chw_to_hwc(e, map_shape[k])];
          const double d = (got - zp) * s - want;
          a.signal += want * want;
          a.noise += d * d;
          a.lo = std::min(a.lo, want);
          a.hi = std::max(a.hi, want);
          const double t = std::round(want / s) + zp;
          a.clipped += (t > 127.0 && !softmax[k]) || t < -128.0;
          a.saturated += (got == 127 && high_counts[k]) || (got == -128 && low_counts[k]);
        }
        a.values = static_cast<int64_t>(fp.size());
      }
      for (const auto &plan : single_plans) o.single_pred.push_back(eval::first_argmax(sim.run(chw, ft, plan)));
      const auto so = sim.run(chw, ft, all_plan);
      o.all_pred = eval::first_argmax(so);
      const auto &ol = q.layers.back().q.output;
      for (size_t c = 0; c < so.size(); ++c) {
        const double deq = (qo[c] - ol.zero_point) * ol.scale, d = deq - so[c];
        o.all_signal += deq * deq;
        o.all_noise += d * d;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
    const size_t d = ++done;
    if (opt.on_progress) {
      std::lock_guard<std::mutex> lock(mu);
      opt.on_progress(d, n);
    }
  });
  if (error) std::rethrow_exception(error);

  Inspection r;
  r.classes = q.classes;
  r.n_images = n;
  const auto names = quant::layer_labels(q);  // the one label per node
  for (size_t k = 0; k < nq; ++k) {
    LayerStats st = layer_facts(q, k, names[k]);
    st.observed_lo = std::numeric_limits<double>::infinity();
    st.observed_hi = -std::numeric_limits<double>::infinity();
    for (const auto &o : out) {  // image order: the same sums for any thread count
      const LayerAcc &a = o.layers[k];
      st.signal += a.signal;
      st.noise += a.noise;
      st.values += a.values;
      st.clipped += a.clipped;
      st.saturated += a.saturated;
      st.observed_lo = std::min(st.observed_lo, a.lo);
      st.observed_hi = std::max(st.observed_hi, a.hi);
    }
    r.layers.push_back(std::move(st));
  }

  auto agree = [&](auto pred_of) {
    size_t same = 0;
    for (const auto &o : out) same += pred_of(o) == o.fp32_pred;
    return same;
  };
  for (size_t j = 0; j < simulated.size(); ++j) {
    const size_t same = agree([j](const ImageOut &o) { return o.single_pred[j]; });
    r.sensitivity.push_back({static_cast<int>(simulated[j]), names[simulated[j]],
                             static_cast<double>(same) / static_cast<double>(n), static_cast<int>(n - same)});
  }
  r.simulated_all_agreement = static_cast<double>(agree([](const ImageOut &o) { return o.all_pred; })) / static_cast<double>(n);
  r.int8_agreement = static_cast<double>(agree([](const ImageOut &o) { return o.int8_pred; })) / static_cast<double>(n);
  size_t sim_vs_engine = 0;
  double all_signal = 0, all_noise = 0;
  for (const auto &o : out) {
    sim_vs_engine += o.all_pred == o.int8_pred;
    all_signal += o.all_signal;
    all_noise += o.all_noise;
  }
  r.simulated_all_output_sqnr_db = sqnr_db(all_signal, all_noise);
  r.simulated_all_vs_int8 = static_cast<double>(sim_vs_engine) / static_cast<double>(n);

  add_margins(r, q, out, split, opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

Inspection inspect_int8(const quant::QModel &q, const data::Split &split, const InspectOptions &opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (split.samples.empty()) fail("no images to inspect on", "pass a split folder with images, e.g. --data DATA/test");
  if (!split.has_input(q.input.h, q.input.w, q.input.c))
    fail("internal: split resized to " + std::to_string(split.height) + "x" + std::to_string(split.width) + "x" +
         std::to_string(split.channels) + " but the model takes " + std::to_string(q.input.h) + "x" + std::to_string(q.input.w) +
         "x" + std::to_string(q.input.c));
  const size_t nq = q.layers.size(), n = split.samples.size();
  const quant::Int8Engine engine(q, quant::Backend::Optimized, quant::opt_isa_from_env());
  std::vector<ImageOut> out(n);
  std::exception_ptr error;
  std::mutex mu;
  std::atomic<size_t> done{0};
  parallel_for(n, opt.threads, [&](size_t i) {
    try {
      std::vector<std::vector<int8_t>> qt;
      const auto qo = engine.run(split.image(i), &qt);
      ImageOut &o = out[i];
      o.int8_pred = eval::first_argmax(qo);
      o.margin = eval::int8_margin(std::vector<int>(qo.begin(), qo.end()));
      o.layers.resize(nq);
      for (size_t k = 0; k < nq; ++k) {
        const auto &l = q.layers[k];
        LayerAcc &a = o.layers[k];
        int lo = 127, hi = -128;
        for (const int8_t v : qt[k]) {
          lo = std::min<int>(lo, v);
          hi = std::max<int>(hi, v);
          a.saturated += saturates(l, v);
        }
        if (!qt[k].empty()) {
          a.lo = (lo - l.q.output.zero_point) * l.q.output.scale;
          a.hi = (hi - l.q.output.zero_point) * l.q.output.scale;
        }
        a.values = static_cast<int64_t>(qt[k].size());
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
    const size_t d = ++done;
    if (opt.on_progress) {
      std::lock_guard<std::mutex> lock(mu);
      opt.on_progress(d, n);
    }
  });
  if (error) std::rethrow_exception(error);

  Inspection r;
  r.has_fp32 = false;
  r.classes = q.classes;
  r.n_images = n;
  const auto names = quant::layer_labels(q);  // the one label per node
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.int8_agreement = r.simulated_all_agreement = r.simulated_all_vs_int8 = r.simulated_all_output_sqnr_db = nan;
  for (size_t k = 0; k < nq; ++k) {
    LayerStats st = layer_facts(q, k, names[k]);
    st.observed_lo = std::numeric_limits<double>::infinity();
    st.observed_hi = -std::numeric_limits<double>::infinity();
    for (const auto &o : out) {
      const LayerAcc &a = o.layers[k];
      st.values += a.values;
      st.saturated += a.saturated;
      st.observed_lo = std::min(st.observed_lo, a.lo);
      st.observed_hi = std::max(st.observed_hi, a.hi);
    }
    r.layers.push_back(std::move(st));
  }
  add_margins(r, q, out, split, opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::ordered_json inspection_json(const Inspection &r) {
  using J = nlohmann::ordered_json;
  auto qp_json = [](const quant::QParams &p) { return J{{"scale", p.scale}, {"zero_point", p.zero_point}}; };
  J j;
  const auto fp32_only = [&](auto v) { return r.has_fp32 ? J(v) : J(nullptr); };
  j["fp32_model"] = r.has_fp32 ? J(r.fp32_model) : J(nullptr);
  j["has_fp32"] = r.has_fp32;
  j["int8_model"] = r.int8_model;
  j["data"] = r.data;
  j["n_images"] = r.n_images;
  j["classes"] = r.classes;
  J layers = J::array();
  for (const auto &l : r.layers) {
    J e;
    e["index"] = l.index;
    e["name"] = l.name;
    e["label"] = l.name;  // the one label (quant::layer_label); "name" holds it too, for readers of older files
    if (!l.tensor.empty()) e["tensor"] = l.tensor;
    e["op"] = model::op_name(l.op);
    e["fp32_index"] = l.fp32_index;
    e["activation"] = l.activation;
    e["input"] = qp_json(l.input);
    J ins = J::array();
    for (size_t i = 0; i < l.inputs.size() && i < l.inputs_q.size(); ++i)
      ins.push_back({{"layer", l.inputs[i]}, {"scale", l.inputs_q[i].scale}, {"zero_point", l.inputs_q[i].zero_point}});
    e["inputs"] = std::move(ins);
    e["output"] = qp_json(l.output);
    if (l.weighted) {
      e["weight_scale"] = {{"min", l.weight_scale_min}, {"max", l.weight_scale_max}};
      J ranges = J::array();
      for (const auto &[lo, hi] : l.weight_range) ranges.push_back({lo, hi});
      e["weight_range_per_channel"] = std::move(ranges);
    }
    e["calibrated_range"] = {l.calibrated_lo, l.calibrated_hi};
    e["observed_range"] = {l.observed_lo, l.observed_hi};
    e["observed_range_source"] = r.has_fp32 ? "fp32" : "int8";
    e["clipped_share"] = fp32_only(l.clipped_share());
    e["saturated_share"] = l.saturated_share();
    e["saturated_counts_low"] = l.count_low_saturation;  // false: -128 is the real 0 (ReLU floor), not counted
    e["saturation"] = l.softmax_ceiling ? "softmax_ceiling" : "clip";
    if (l.softmax_ceiling) e["saturation_note"] = "saturated at 1.0 (expected for softmax)";
    const double s = l.sqnr_db();
    e["sqnr_db"] = std::isfinite(s) && r.has_fp32 ? J(s) : J(nullptr);
    e["sqnr_exact"] = fp32_only(l.noise == 0);
    e["values"] = l.values;
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  J sens = J::array();
  for (const auto &s : r.sensitivity)
    sens.push_back({{"layer", s.layer}, {"name", s.name}, {"agreement", s.agreement}, {"flipped", s.flipped}});
  j["sensitivity"] = r.has_fp32 ? std::move(sens) : J(nullptr);
  j["simulated_all_agreement"] = fp32_only(r.simulated_all_agreement);
  j["int8_agreement"] = fp32_only(r.int8_agreement);
  j["simulated_all_vs_int8"] = fp32_only(r.simulated_all_vs_int8);
  const double so = r.simulated_all_output_sqnr_db;
  j["simulated_all_output_sqnr_db"] = std::isfinite(so) && r.has_fp32 ? J(so) : J(nullptr);
  J hist = J::array(), closest = J::array();
  for (const auto &[m, c] : r.margin_histogram) hist.push_back({{"margin", m}, {"count", c}});
  for (const auto &c : r.closest)
    closest.push_back(
        {{"file", c.file}, {"label", c.label}, {"fp32_pred", fp32_only(c.fp32_pred)}, {"int8_pred", c.int8_pred},
         {"margin", c.margin}});
  int ties = 0;
  for (const auto &[m, c] : r.margin_histogram) ties += m == 0 ? c : 0;
  j["margins"] = {{"unit", r.margin_unit}, {"output", r.output_logits ? "logits" : "probabilities"},
                  {"histogram", std::move(hist)}, {"ties", ties}, {"closest", std::move(closest)}};
  j["seconds"] = r.seconds;
  return j;
}

void write_inspection_json(const Inspection &r, const std::string &path) {
  const std::string text = inspection_json(r).dump(1) + "\n";
  data::write_file_atomic(path, text.data(), text.size());
}

std::string format_inspection_table(const Inspection &r) {
  std::map<int, const Sensitivity *> sens;
  for (const auto &s : r.sensitivity) sens[s.layer] = &s;
  std::string out;
  char line[320];
  // The label column is as wide as the longest label (at least 20), so the figures line up.
  int w = 20;
  for (const auto &l : r.layers) w = std::max(w, static_cast<int>(l.name.size()));
  std::snprintf(line, sizeof line, "%-*s %10s %10s %4s %17s %8s %8s %7s %s\n", w, "layer", "in scale", "out scale", "zp",
                "weight scales", "SQNR dB", "clipped", "sat.", "alone: agreement (flipped)");
  out += line;
  for (const auto &l : r.layers) {
    char ws[48] = "-", sq[16], se[48] = "-";
    if (l.weighted) std::snprintf(ws, sizeof ws, "%.2e..%.2e", l.weight_scale_min, l.weight_scale_max);
    const double s = l.sqnr_db();
    if (std::isfinite(s))
      std::snprintf(sq, sizeof sq, "%.1f", s);
    else
      std::snprintf(sq, sizeof sq, "%s", l.noise == 0 ? "inf" : "n/a");
    if (const auto it = sens.find(l.index); it != sens.end())
      std::snprintf(se, sizeof se, "%.2f%% (%d)", 100.0 * it->second->agreement, it->second->flipped);
    char cl[16] = "-";
    if (r.has_fp32) std::snprintf(cl, sizeof cl, "%.3f%%", 100.0 * l.clipped_share());
    if (!r.has_fp32) std::snprintf(sq, sizeof sq, "-");
    std::snprintf(line, sizeof line, "%-*s %10.4g %10.4g %4d %17s %8s %8s %6.3f%% %s\n", w, l.name.c_str(), l.input.scale,
                  l.output.scale, l.output.zero_point, ws, sq, cl, 100.0 * l.saturated_share(), se);
    out += line;
  }
  for (const auto &l : r.layers)
    if (l.softmax_ceiling && l.saturated > 0) {
      std::snprintf(line, sizeof line,
                    "%s: %.3f%% of outputs saturated at 1.0 (expected for softmax: a confident image's top probability "
                    "is the top int8 step; not clipping)\n",
                    l.name.c_str(), 100.0 * l.saturated_share());
      out += line;
    }
  const Sensitivity *worst = nullptr;
  for (const auto &s : r.sensitivity)
    if (!worst || s.agreement < worst->agreement) worst = &s;
  if (r.has_fp32)
    std::snprintf(line, sizeof line,
                  "\nagreement with FP32 on %zu images: INT8 engine %.2f%%, all layers simulated %.2f%% (simulation vs engine: "
                  "%.2f%% of decisions, output SQNR %.1f dB)\n",
                  r.n_images, 100.0 * r.int8_agreement, 100.0 * r.simulated_all_agreement, 100.0 * r.simulated_all_vs_int8,
                  r.simulated_all_output_sqnr_db);
  else
    std::snprintf(line, sizeof line,
                  "\nINT8 model alone on %zu images (observed ranges are the engine's dequantized outputs): clipping, SQNR, "
                  "sensitivity and agreement need the FP32 model (--fp32): not measured\n",
                  r.n_images);
  out += line;
  if (worst && worst->flipped > 0) {
    std::snprintf(line, sizeof line, "most sensitive layer: %s (quantized alone: %.2f%% agreement, %d flipped)\n",
                  worst->name.c_str(), 100.0 * worst->agreement, worst->flipped);
    out += line;
  } else if (worst) {
    out += "no layer quantized alone flips a decision\n";
  }
  if (!r.margin_histogram.empty()) {
    int small = 0;
    for (const auto &[m, c] : r.margin_histogram)
      if (m <= 2) small += c;
    std::snprintf(line, sizeof line,
                  "INT8 margins (top-1 - top-2 of the %s, %s): min %d, max %d; %d image(s) within 2 steps of a tie\n",
                  r.output_logits ? "logits" : "probabilities", r.margin_unit.c_str(), r.margin_histogram.front().first,
                  r.margin_histogram.back().first, small);
    out += line;
    if (r.margin_histogram.front().first == 0) {
      std::snprintf(line, sizeof line,
                    "%d image(s) tie for the top INT8 score (margin 0): decided for the first tied class in class order, "
                    "on the host and the device alike\n",
                    r.margin_histogram.front().second);
      out += line;
    }
  }
  auto cls = [&](int c) {
    return c >= 0 && static_cast<size_t>(c) < r.classes.size() ? r.classes[static_cast<size_t>(c)] : std::to_string(c);
  };
  for (size_t i = 0; i < std::min<size_t>(r.closest.size(), 5); ++i) {
    const auto &c = r.closest[i];
    const std::string fp32 = r.has_fp32 ? ", FP32 " + cls(c.fp32_pred) : "";
    std::snprintf(line, sizeof line, "  margin %3d  %s (true %s%s, INT8 %s%s)\n", c.margin, c.file.c_str(), cls(c.label).c_str(),
                  fp32.c_str(), cls(c.int8_pred).c_str(), c.margin == 0 ? ": a tie, the first tied class" : "");
    out += line;
  }
  return out;
}

}  // namespace qp::inspect
