// Add: the elementwise sum of two tensors of the same shape (a residual connection). INT8: TFLite's
// ADD (qp_add_run_s8, src/runtime/qp_add_s8.c) with parameters from quant::add_params; a ReLU/ReLU6
// that only it reads is fused into its clamp.
#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"

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

qp_status_t int8(const Int8Args &a) {
  return qp_add_run_s8(&a.l.add, static_cast<int32_t>(a.l.out.size()), a.arena + a.in_off[0], a.arena + a.in_off[1], a.out);
}

}  // namespace

extern const OpDef kAdd{.op = model::Op::Add, .name = "Add", .min_inputs = 2, .max_inputs = 2, .infer = infer, .fp32 = fp32,
                        .fuses_activation = true, .int8 = int8};

}  // namespace qp::ops
