// Softmax over a flat vector (the classifier's last layer). INT8: TFLite's integer softmax
// (qp_softmax_run_s8, src/runtime/qp_softmax_s8.c), output scale 1/256, zero point -128.
#include "common/error.h"
#include "model/executor_fp32.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &a) {
  if (!a.flat[0]) fail(a.where + " needs a flat input", "softmax goes after the last dense layer");
}

void fp32(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  out = model::softmax(*ins[0]);
}

bool quantize(const QuantArgs &, quant::QLayer &ql) {
  ql.output = {1.0 / 256.0, -128};
  quant::derive_requantization(ql);
  return true;
}

void derive(quant::QLayer &l) {
  const auto sp = quant::softmax_params(l.input.scale);
  l.softmax = {sp.input_multiplier, sp.input_left_shift, sp.diff_min};
}

qp_status_t int8(const Int8Args &a) { return qp_softmax_run_s8(&a.l.softmax, a.l.out.c, a.arena + a.in_off[0], a.out); }

}  // namespace

extern const OpDef kSoftmax{.op = model::Op::Softmax, .name = "Softmax", .infer = infer, .fp32 = fp32, .quantize = quantize,
                            .derive = derive, .int8 = int8};

}  // namespace qp::ops
