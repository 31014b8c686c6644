// Dense (fully connected): [out][in] weights over a flat input; INT8 through qp_fc_run_s8
// (src/runtime/qp_fc_s8.c), its columns in HWC order after a Flatten of a feature map.
#include <algorithm>

#include "common/error.h"
#include "model/layout.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

using model::Layer;
using model::Op;

void infer(Layer &l, ShapeArgs &a) {
  const model::Shape s = a.in[0];
  if (!a.flat[0]) fail(a.where + " needs a flat input", "insert 'flatten' or 'gap' before dense");
  if (l.units <= 0) fail(a.where + ": needs a positive number of units");
  check_activation({l.units, 1, 1}, a.where + " output");
  expect_size(l.weight, model::checked_element_count(std::vector<int64_t>{l.units, s.c}, a.where + " weight"), a.where + " weight",
              a.allocate);
  expect_size(l.bias, l.units, a.where + " bias", a.allocate);
  a.out = {l.units, 1, 1};
}

void fp32(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const size_t n = static_cast<size_t>(l.in.c);
  out.assign(static_cast<size_t>(l.units), 0.f);
  for (size_t o = 0; o < out.size(); ++o) {
    const float *w = &l.weight[o * n];
    float acc = l.bias[o];
    for (size_t i = 0; i < n; ++i) acc += w[i] * in[i];
    out[o] = acc;
  }
}

int64_t macs(const Layer &l) { return static_cast<int64_t>(l.in.c) * l.units; }

// Weights [out][in], per-channel scales, a following ReLU/ReLU6 fused (op_util: quantize_weighted); after
// a Flatten of a C x H x W map the columns move from CHW to HWC order (the INT8 data's order).
bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  const Layer &l = a.g.layers[a.k];
  quantize_weighted(a, ql, [&](std::vector<int8_t> w) {
    model::Shape map;
    if (quant::flattens_map(ql.inputs[0] < 0 ? nullptr : &a.q.layers[static_cast<size_t>(ql.inputs[0])], &map))
      return model::dense_columns_chw_to_hwc(w, l.out.c, map);
    return w;
  });
  return true;
}

// TFLite's FULLY_CONNECTED with one weight scale (per-tensor: every channel's scale equal) takes its multiplier
// from the float32 product of the input and weight scales (GetQuantizedConvolutionMultipler), not from their
// product in double as Conv2D and per-channel weights do; so a per-tensor Dense layer computes TFLite's bytes.
void derive(quant::QLayer &l) {
  derive_weighted(l);
  const auto &s = l.q.weight_scale;
  if (s.empty() || !std::all_of(s.begin(), s.end(), [&](double v) { return v == s[0]; })) return;
  const float product = static_cast<float>(l.q.input.scale) * static_cast<float>(s[0]);
  const auto m = quant::quantize_multiplier(static_cast<double>(product) / l.q.output.scale);
  if (m.shift > 30 || m.shift < -31) fail("requantization shift " + std::to_string(m.shift) + " is out of range [-31, 30]");
  std::fill(l.q.multiplier.begin(), l.q.multiplier.end(), m.multiplier);
  std::fill(l.q.shift.begin(), l.q.shift.end(), m.shift);
}

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  return qp_fc_run_s8(-l.q.input.zero_point, l.q.output.zero_point, l.q.act_min, l.q.act_max, l.q.multiplier.data(),
                      l.q.shift.data(), l.in.c, l.out.c, a.arena + a.in_off[0], l.q.weight.data(), l.q.bias.data(), a.out);
}

}  // namespace

extern const OpDef kDense{.op = Op::Dense, .name = "Dense", .infer = infer, .fp32 = fp32, .macs = macs, .fuses_activation = true,
                          .quantize = quantize,
    .derive = derive, .int8 = int8};

}  // namespace qp::ops
