// Add: the elementwise sum of two tensors of the same shape (a residual connection). INT8: TFLite's
// ADD (qp_add_run_s8, src/runtime/qp_add_s8.c) with parameters from quant::add_params; a ReLU/ReLU6
// that only it reads is fused into its clamp.
#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &a) {
  if (!(a.in[1] == a.in[0]) || a.flat[1] != a.flat[0])
    fail(a.where + " adds tensors of different shapes " + model::shape_str(a.in[0]) + " and " + model::shape_str(a.in[1]),
         "both branches of a residual block must end with the same shape (use a 1x1 projection on the shortcut)");
}

void fp32(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &a = *ins[0], &b = *ins[1];
  out.resize(a.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] + b[i];
}

// Output range observed at its output (or at the fused activation's); ADD parameters derived from both
// inputs' and the output's parameters.
bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  quantize_output_with_activation(a, ql);
  quant::derive_requantization(ql);
  return true;
}

void derive(quant::QLayer &l) {
  if (l.q.input_q.size() != 2) fail("internal: Add layer without both inputs' quantization");
  l.q.add = quant::add_params(l.q.input_q[0].scale, l.q.input_q[0].zero_point, l.q.input_q[1].scale, l.q.input_q[1].zero_point,
                              l.q.output.scale, l.q.output.zero_point, l.q.act_min, l.q.act_max);
}

void check_int8(const quant::QModel &m, const quant::QLayer &l, const std::string &where) {
  const model::Shape s0 = m.tensor_shape(l.inputs[0]);
  if (!(m.tensor_shape(l.inputs[1]) == s0 && l.out == s0))
    fail(where + " adds tensors of different shapes", "the model file is corrupt: re-quantize it");
}

qp_status_t int8(const Int8Args &a) {
  return qp_add_run_s8(&a.l.q.add, static_cast<int32_t>(a.l.out.size()), a.arena + a.in_off[0], a.arena + a.in_off[1], a.out);
}

}  // namespace

extern const OpDef kAdd{.op = model::Op::Add, .name = "Add", .min_inputs = 2, .max_inputs = 2, .infer = infer, .fp32 = fp32,
                        .fuses_activation = true, .quantize = quantize,
                        .derive = derive, .check_int8 = check_int8, .int8 = int8};

}  // namespace qp::ops
