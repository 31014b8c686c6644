// Mean over H and W (TFLite's MEAN with axes {1, 2}, ONNX's ReduceMean over axes {2, 3}); keep_dims: the output is a
// 1x1xC map (true) or a flat vector of C (false), the same bytes either way. FP32: the average. INT8: its own output
// parameters (the calibrated range of the means, narrower than the input's) and TFLite's integer arithmetic
// (qp_mean_s8, src/runtime/qp_mean_s8.c): multiplier input_scale / output_scale with 1/(H*W) folded in, double
// rounding. Unlike GlobalAvgPool (TFLite's AVERAGE_POOL_2D over the whole map: one rounded division, input
// parameters kept), the result can differ by one step, so the two ops stay apart.
#include <cmath>

#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

using model::Layer;

void infer(Layer &l, ShapeArgs &a) {
  if (a.flat[0]) fail(a.where + " comes after Flatten/Dense", "take the mean of a feature map");
  if (static_cast<int64_t>(a.in[0].h) * a.in[0].w > 16777215) fail(a.where + ": the map has 2^24 or more positions");
  a.out = {a.in[0].c, 1, 1};
  a.out_flat = !l.keep_dims;
}

void fp32(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
  out.assign(static_cast<size_t>(l.in.c), 0.f);
  for (size_t c = 0; c < out.size(); ++c) {
    double acc = 0;
    for (size_t i = 0; i < hw; ++i) acc += in[c * hw + i];
    out[c] = static_cast<float>(acc / static_cast<double>(hw));
  }
}

bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  const auto [lo, hi] = a.range(a.k);
  ql.q.output = activation_params(lo, hi);
  ql.keep_dims = a.g.layers[a.k].keep_dims;
  quant::derive_requantization(ql);
  return true;
}

// TFLite's QuantizeMultiplier of input_scale / output_scale (the kernel folds 1/(H*W) into it).
void derive(quant::QLayer &l) {
  const auto m = quant::quantize_multiplier(l.q.input.scale / l.q.output.scale);
  if (m.shift > 30 || m.shift < -31) fail("Mean: requantization shift " + std::to_string(m.shift) + " is out of range [-31, 30]");
  l.q.multiplier = {m.multiplier};
  l.q.shift = {m.shift};
}

void check_int8(const quant::QModel &, const quant::QLayer &l, const std::string &where) {
  if (!(l.out == model::Shape{l.in.c, 1, 1}))
    fail(where + ": its output shape is not one value per input channel", "the model file is corrupt: re-quantize it");
}

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  const qp_mean_params_t p = {-l.q.input.zero_point, l.q.output.zero_point, l.q.multiplier.at(0), l.q.shift.at(0)};
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c};
  return qp_mean_s8(&p, &in, a.arena + a.in_off[0], a.out);
}

}  // namespace

extern const OpDef kMean{.op = model::Op::Mean, .name = "Mean", .infer = infer, .fp32 = fp32, .quantize = quantize,
                         .derive = derive, .check_int8 = check_int8, .int8 = int8};

}  // namespace qp::ops
