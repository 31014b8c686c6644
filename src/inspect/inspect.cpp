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
#include "model/executor_fp32.h"

namespace qp::inspect {

using model::Op;

namespace {

bool is_weighted(Op op) {
  return op == Op::Conv2D || op == Op::DepthwiseConv2D || op == Op::Dense;
}

// Short names counted per kind: conv1, conv2, dwconv1, pool1, gap1, flatten1, dense1, softmax1.
std::vector<std::string> layer_names(const quant::QModel &q) {
  std::map<std::string, int> count;
  std::vector<std::string> names;
  for (const auto &l : q.layers) {
    std::string kind;
    switch (l.op) {
      case Op::Conv2D: kind = "conv"; break;
      case Op::DepthwiseConv2D: kind = "dwconv"; break;
      case Op::Dense: kind = "dense"; break;
      case Op::MaxPool:
      case Op::AvgPool: kind = "pool"; break;
      case Op::GlobalAvgPool: kind = "gap"; break;
      case Op::Flatten: kind = "flatten"; break;
      case Op::Softmax: kind = "softmax"; break;
      default: kind = "layer"; break;
    }
    names.push_back(kind + std::to_string(++count[kind]));
  }
  return names;
}

// The FP32 layer a weighted INT8 layer's weights belong to (before its fused activation).
int weights_fp32_index(const quant::QLayer &l) {
  return l.activation.empty() ? l.fp32_index : l.fp32_index - 1;
}

// Checks that every INT8 layer maps onto the FP32 (folded) graph; qp::Error naming the first that does not.
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
    const int f = l.fp32_index;
    if (f < 0 || static_cast<size_t>(f) >= g.layers.size())
      fail(where + " maps to FP32 layer " + std::to_string(f) + ", which the FP32 model does not have", fix);
    const auto &fl = g.layers[static_cast<size_t>(f)];
    bool ok = fl.out.size() == l.out.size();
    if (l.activation.empty()) {
      ok = ok && fl.op == l.op;
    } else {
      const Op act = l.activation == "relu" ? Op::ReLU : Op::ReLU6;
      ok = ok && f > 0 && fl.op == act && g.layers[static_cast<size_t>(f) - 1].op == l.op;
    }
    if (ok && is_weighted(l.op)) {
      const auto &wl = g.layers[static_cast<size_t>(weights_fp32_index(l))];
      ok = wl.weight.size() == l.weight.size() && wl.bias.size() == l.bias.size() && l.weight_scale.size() == l.bias.size();
    }
    if (!ok)
      fail(where + " does not match FP32 layer " + std::to_string(f) + " (" + model::op_name(fl.op) + ", output " +
               model::shape_str(fl.out) + ")",
           fix);
  }
}

// Round-half-away-from-zero onto the int8 grid of p, clamped, and back to real.
inline float fake_quant(float v, const quant::QParams &p) {
  const double t = std::clamp(std::round(static_cast<double>(v) / p.scale) + p.zero_point, -128.0, 127.0);
  return static_cast<float>((t - p.zero_point) * p.scale);
}

// The FP32 layer of a weighted INT8 layer, with the layer's dequantized int8 weights and int32 biases.
model::Layer dequantized_layer(const model::Layer &fl, const quant::QLayer &l, const quant::QLayer *prev) {
  model::Layer out = fl;
  const int oc = l.out.c;
  auto w = [&](size_t i, int c) { return static_cast<float>(l.weight[i] * l.weight_scale[static_cast<size_t>(c)]); };
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
        static_cast<float>(l.bias[static_cast<size_t>(c)] * l.input.scale * l.weight_scale[static_cast<size_t>(c)]);
  return out;
}

// Runs the FP32 graph layer by layer so that chosen layers can swap in dequantized weights and
// fake-quantize their inputs/outputs.
class Simulator {
 public:
  struct Plan {
    std::vector<const quant::QParams *> in_q, out_q;  // per FP32 layer: fake-quantize before / after it
    std::vector<char> dequantized;                    // per FP32 layer: use the dequantized weights
  };

  Simulator(const model::Graph &g, const quant::QModel &q) {
    for (const auto &l : g.layers) plain_.emplace_back(single(g, l));
    quantized_.resize(g.layers.size());
    for (size_t k = 0; k < q.layers.size(); ++k) {
      const auto &l = q.layers[k];
      if (!is_weighted(l.op)) continue;
      const auto f = static_cast<size_t>(weights_fp32_index(l));
      quantized_[f] =
          std::make_unique<model::Fp32Executor>(single(g, dequantized_layer(g.layers[f], l, k > 0 ? &q.layers[k - 1] : nullptr)));
    }
  }

  Plan empty_plan() const {
    Plan p;
    p.in_q.assign(plain_.size(), nullptr);
    p.out_q.assign(plain_.size(), nullptr);
    p.dequantized.assign(plain_.size(), 0);
    return p;
  }

  // Adds INT8 layer `l` (weighted) to the plan: dequantized weights, fake-quantized input and output.
  static void quantize_layer(Plan &p, const quant::QLayer &l) {
    const auto f = static_cast<size_t>(weights_fp32_index(l));
    p.dequantized[f] = 1;
    p.in_q[f] = &l.input;
    p.out_q[static_cast<size_t>(l.fp32_index)] = &l.output;
  }

  // x is the input of FP32 layer `start`; returns the last layer's output.
  std::vector<float> run(size_t start, std::vector<float> x, const Plan &p) const {
    for (size_t k = start; k < plain_.size(); ++k) {
      if (p.in_q[k])
        for (auto &v : x) v = fake_quant(v, *p.in_q[k]);
      x = (p.dequantized[k] ? *quantized_[k] : plain_[k]).run(x.data());
      if (p.out_q[k])
        for (auto &v : x) v = fake_quant(v, *p.out_q[k]);
    }
    return x;
  }

 private:
  static model::Fp32Executor single(const model::Graph &g, const model::Layer &l) {
    model::Graph s;
    s.arch = g.arch;
    s.classes = g.classes;
    s.input = l.in;
    s.layers = {l};
    return model::Fp32Executor(s);
  }
  std::vector<model::Fp32Executor> plain_;
  std::vector<std::unique_ptr<model::Fp32Executor>> quantized_;
};

template <typename T>
int argmax_first(const std::vector<T> &v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());  // the first maximum wins ties
}

int top2_margin(const std::vector<int8_t> &v) {
  if (v.size() < 2) return 0;
  int a = -1000, b = -1000;
  for (int8_t s : v) {
    if (s > a) {
      b = a;
      a = s;
    } else if (s > b) {
      b = s;
    }
  }
  return a - b;
}

struct LayerAcc {
  double signal = 0, noise = 0, lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  int64_t values = 0, clipped = 0, saturated = 0;
};

struct ImageOut {
  int fp32_pred = -1, int8_pred = -1, margin = 0, all_pred = -1;
  double all_signal = 0, all_noise = 0;  // the engine's dequantized output vs the all-layers simulation's
  std::vector<int> single_pred;          // per weighted layer
  std::vector<LayerAcc> layers;
};

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
  if (int8.model.classes != fp32.graph.classes)
    fail("'" + int8.path + "' and '" + fp32.path + "' have different classes", "pass the FP32 model it was quantized from");
}

Inspection inspect_models(const model::Graph &fp32, const quant::QModel &q, const data::Split &split, const InspectOptions &opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const model::Graph g = model::fold_for_inference(fp32);
  check_mapping(g, q);
  if (split.samples.empty()) fail("no images to inspect on", "pass a split folder with images, e.g. --data DATA/test");
  if (split.size != g.input.h)
    fail("internal: split resized to " + std::to_string(split.size) + " but the model takes " + std::to_string(g.input.h));

  const size_t nq = q.layers.size(), n = split.samples.size();
  std::vector<size_t> weighted;  // INT8 indices of conv/dense layers
  for (size_t k = 0; k < nq; ++k)
    if (is_weighted(q.layers[k].op)) weighted.push_back(k);
  // Element maps NHWC (INT8) -> CHW (FP32), per layer; a Flatten's output is the flattened map.
  std::vector<model::Shape> map_shape(nq);
  for (size_t k = 0; k < nq; ++k) {
    map_shape[k] = q.layers[k].out;
    quant::flattens_map(&q.layers[k], &map_shape[k]);
  }
  std::vector<char> low_counts(nq), high_counts(nq), softmax(nq);
  for (size_t k = 0; k < nq; ++k) {
    const auto &l = q.layers[k];
    low_counts[k] = l.output.zero_point > -128;
    high_counts[k] = !(l.activation == "relu6" && l.act_max == 127);
    softmax[k] = l.op == Op::Softmax;  // above 127 is probability ~1.0: the ceiling, not a clip
  }

  const model::Fp32Executor exec(g);
  const quant::Int8Engine engine(q, quant::Backend::Optimized);
  const Simulator sim(g, q);
  std::vector<Simulator::Plan> single_plans;
  for (size_t k : weighted) {
    single_plans.push_back(sim.empty_plan());
    Simulator::quantize_layer(single_plans.back(), q.layers[k]);
  }
  Simulator::Plan all_plan = sim.empty_plan();
  for (size_t k : weighted) Simulator::quantize_layer(all_plan, q.layers[k]);
  for (const auto &l : q.layers)
    if (l.op == Op::Softmax) all_plan.out_q[static_cast<size_t>(l.fp32_index)] = &l.output;

  std::vector<ImageOut> out(n);
  std::exception_ptr error;
  std::mutex mu;
  std::atomic<size_t> done{0};
  parallel_for(n, opt.threads, [&](size_t i) {
    try {
      const uint8_t *rgb = split.image(i);
      const auto chw = model::rgb_to_chw(rgb, g.input.h, g.input.w, g.input.c);
      std::vector<std::vector<float>> ft;
      std::vector<std::vector<int8_t>> qt;
      const auto fo = exec.run(chw.data(), &ft);
      const auto qo = engine.run(rgb, &qt);
      ImageOut &o = out[i];
      o.fp32_pred = argmax_first(fo);
      o.int8_pred = argmax_first(qo);
      o.margin = top2_margin(qo);
      o.layers.resize(nq);
      for (size_t k = 0; k < nq; ++k) {
        const auto &l = q.layers[k];
        const auto &fp = ft[static_cast<size_t>(l.fp32_index)];
        const auto &qv = qt[k];
        if (fp.size() != qv.size()) fail("internal: INT8 layer " + std::to_string(k) + " and its FP32 layer differ in size");
        LayerAcc &a = o.layers[k];
        const double s = l.output.scale;
        const int zp = l.output.zero_point;
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
      for (size_t j = 0; j < weighted.size(); ++j) {
        const auto f = static_cast<size_t>(weights_fp32_index(q.layers[weighted[j]]));
        o.single_pred.push_back(argmax_first(sim.run(f, f == 0 ? chw : ft[f - 1], single_plans[j])));
      }
      const auto so = sim.run(0, chw, all_plan);
      o.all_pred = argmax_first(so);
      const auto &ol = q.layers.back().output;
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
  const auto names = layer_names(q);
  for (size_t k = 0; k < nq; ++k) {
    const auto &l = q.layers[k];
    LayerStats st;
    st.index = static_cast<int>(k);
    st.name = names[k];
    st.op = l.op;
    st.fp32_index = l.fp32_index;
    st.activation = l.activation;
    st.input = l.input;
    st.output = l.output;
    st.calibrated_lo = (-128 - l.output.zero_point) * l.output.scale;
    st.calibrated_hi = (127 - l.output.zero_point) * l.output.scale;
    st.count_low_saturation = low_counts[k];
    st.softmax_ceiling = softmax[k];
    st.weighted = is_weighted(l.op);
    if (st.weighted) {
      const auto [lo, hi] = std::minmax_element(l.weight_scale.begin(), l.weight_scale.end());
      st.weight_scale_min = *lo;
      st.weight_scale_max = *hi;
      const size_t oc = l.weight_scale.size();
      st.weight_range.assign(oc, {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()});
      const size_t per = l.weight.size() / oc;
      for (size_t i = 0; i < l.weight.size(); ++i) {
        const size_t c = l.op == Op::DepthwiseConv2D ? i % oc : i / per;  // depthwise [1][K][K][C], else [OUT][...]
        const double v = l.weight[i] * l.weight_scale[c];
        st.weight_range[c].first = std::min(st.weight_range[c].first, v);
        st.weight_range[c].second = std::max(st.weight_range[c].second, v);
      }
    }
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
  for (size_t j = 0; j < weighted.size(); ++j) {
    const size_t same = agree([j](const ImageOut &o) { return o.single_pred[j]; });
    r.sensitivity.push_back({static_cast<int>(weighted[j]), names[weighted[j]],
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
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::ordered_json inspection_json(const Inspection &r) {
  using J = nlohmann::ordered_json;
  auto qp_json = [](const quant::QParams &p) { return J{{"scale", p.scale}, {"zero_point", p.zero_point}}; };
  J j;
  j["fp32_model"] = r.fp32_model;
  j["int8_model"] = r.int8_model;
  j["data"] = r.data;
  j["n_images"] = r.n_images;
  j["classes"] = r.classes;
  J layers = J::array();
  for (const auto &l : r.layers) {
    J e;
    e["index"] = l.index;
    e["name"] = l.name;
    e["op"] = model::op_name(l.op);
    e["fp32_index"] = l.fp32_index;
    e["activation"] = l.activation;
    e["input"] = qp_json(l.input);
    e["output"] = qp_json(l.output);
    if (l.weighted) {
      e["weight_scale"] = {{"min", l.weight_scale_min}, {"max", l.weight_scale_max}};
      J ranges = J::array();
      for (const auto &[lo, hi] : l.weight_range) ranges.push_back({lo, hi});
      e["weight_range_per_channel"] = std::move(ranges);
    }
    e["calibrated_range"] = {l.calibrated_lo, l.calibrated_hi};
    e["observed_range"] = {l.observed_lo, l.observed_hi};
    e["clipped_share"] = l.clipped_share();
    e["saturated_share"] = l.saturated_share();
    e["saturated_counts_low"] = l.count_low_saturation;  // false: -128 is the real 0 (ReLU floor), not counted
    e["saturation"] = l.softmax_ceiling ? "softmax_ceiling" : "clip";
    if (l.softmax_ceiling) e["saturation_note"] = "saturated at 1.0 (expected for softmax)";
    const double s = l.sqnr_db();
    e["sqnr_db"] = std::isfinite(s) ? J(s) : J(nullptr);
    e["sqnr_exact"] = l.noise == 0;
    e["values"] = l.values;
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  J sens = J::array();
  for (const auto &s : r.sensitivity)
    sens.push_back({{"layer", s.layer}, {"name", s.name}, {"agreement", s.agreement}, {"flipped", s.flipped}});
  j["sensitivity"] = std::move(sens);
  j["simulated_all_agreement"] = r.simulated_all_agreement;
  j["int8_agreement"] = r.int8_agreement;
  j["simulated_all_vs_int8"] = r.simulated_all_vs_int8;
  const double so = r.simulated_all_output_sqnr_db;
  j["simulated_all_output_sqnr_db"] = std::isfinite(so) ? J(so) : J(nullptr);
  J hist = J::array(), closest = J::array();
  for (const auto &[m, c] : r.margin_histogram) hist.push_back({{"margin", m}, {"count", c}});
  for (const auto &c : r.closest)
    closest.push_back(
        {{"file", c.file}, {"label", c.label}, {"fp32_pred", c.fp32_pred}, {"int8_pred", c.int8_pred}, {"margin", c.margin}});
  int ties = 0;
  for (const auto &[m, c] : r.margin_histogram) ties += m == 0 ? c : 0;
  j["margins"] = {{"histogram", std::move(hist)}, {"ties", ties}, {"closest", std::move(closest)}};
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
  std::snprintf(line, sizeof line, "%3s  %-9s %-16s %-5s %10s %10s %4s %17s %8s %8s %7s %s\n", "#", "layer", "op", "act",
                "in scale", "out scale", "zp", "weight scales", "SQNR dB", "clipped", "sat.", "alone: agreement (flipped)");
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
    std::snprintf(line, sizeof line, "%3d  %-9s %-16s %-5s %10.4g %10.4g %4d %17s %8s %7.3f%% %6.3f%% %s\n", l.index,
                  l.name.c_str(), model::op_name(l.op), l.activation.empty() ? "-" : l.activation.c_str(), l.input.scale,
                  l.output.scale, l.output.zero_point, ws, sq, 100.0 * l.clipped_share(), 100.0 * l.saturated_share(), se);
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
  std::snprintf(line, sizeof line,
                "\nagreement with FP32 on %zu images: INT8 engine %.2f%%, all layers simulated %.2f%% (simulation vs engine: "
                "%.2f%% of decisions, output SQNR %.1f dB)\n",
                r.n_images, 100.0 * r.int8_agreement, 100.0 * r.simulated_all_agreement, 100.0 * r.simulated_all_vs_int8,
                r.simulated_all_output_sqnr_db);
  out += line;
  if (worst && worst->flipped > 0) {
    std::snprintf(line, sizeof line, "most sensitive layer: %s (quantized alone: %.2f%% agreement, %d flipped)\n",
                  worst->name.c_str(), 100.0 * worst->agreement, worst->flipped);
    out += line;
  } else if (worst) {
    out += "no conv/dense layer quantized alone flips a decision\n";
  }
  if (!r.margin_histogram.empty()) {
    int small = 0;
    for (const auto &[m, c] : r.margin_histogram)
      if (m <= 2) small += c;
    std::snprintf(line, sizeof line,
                  "INT8 margins (top-1 - top-2, int8 steps): min %d, max %d; %d image(s) within 2 steps of a tie\n",
                  r.margin_histogram.front().first, r.margin_histogram.back().first, small);
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
    std::snprintf(line, sizeof line, "  margin %3d  %s (true %s, FP32 %s, INT8 %s%s)\n", c.margin, c.file.c_str(),
                  cls(c.label).c_str(), cls(c.fp32_pred).c_str(), cls(c.int8_pred).c_str(),
                  c.margin == 0 ? ": a tie, the first tied class" : "");
    out += line;
  }
  return out;
}

}  // namespace qp::inspect
