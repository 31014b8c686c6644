// Softmax over a flat vector (the classifier's last layer), of beta * x (Layer::softmax_beta, TFLite's SOFTMAX
// beta; 1 by default). INT8: TFLite's integer softmax (qp_softmax_run_s8, src/runtime/qp_softmax_s8.c) with
// parameters from beta * input_scale, output scale 1/256, zero point -128.
#include <cmath>

#include "common/error.h"
#include "model/executor_fp32.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

void infer(model::Layer &l, ShapeArgs &a) {
  if (!a.flat[0]) fail(a.where + " needs a flat input", "softmax goes after the last dense layer");
  if (!(l.softmax_beta > 0.f) || !std::isfinite(l.softmax_beta))
    fail(a.where + ": beta " + std::to_string(l.softmax_beta) + " is not a finite positive number");
}

void fp32(const model::Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  if (l.softmax_beta == 1.f) {
    out = model::softmax(*ins[0]);
    return;
  }
  std::vector<float> x = *ins[0];
  for (float &v : x) v *= l.softmax_beta;
  out = model::softmax(x);
}

bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  ql.softmax_beta = a.g.layers[a.k].softmax_beta;
  ql.q.output = {1.0 / 256.0, -128};
  quant::derive_requantization(ql);
  return true;
}

void derive(quant::QLayer &l) {
  const auto sp = quant::softmax_params(l.q.input.scale, l.softmax_beta);
  l.q.softmax = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
}

qp_status_t int8(const Int8Args &a) {
  return qp_softmax_run_s8(&a.l.q.softmax, a.l.out.c, a.arena + a.in_off[0], a.out);
}

}  // namespace

extern const OpDef kSoftmax{.op = model::Op::Softmax, .name = "Softmax", .infer = infer, .fp32 = fp32, .quantize = quantize,
                            .derive = derive, .int8 = int8};

}  // namespace qp::ops
