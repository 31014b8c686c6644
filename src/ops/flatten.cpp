// Flatten: a feature map as a vector. FP32 (CHW) and INT8 (HWC) data are already in their flattened
// order, so it computes nothing: its INT8 output aliases its input (quant/plan) and the Dense after it
// takes its columns in HWC order (quant::flattens_map).
#include "ops/registry.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &a) {
  a.out = {static_cast<int>(a.in[0].size()), 1, 1};
  a.out_flat = true;
}

void fp32(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) { out = *ins[0]; }

bool quantize(const QuantArgs &, quant::QLayer &ql) {
  ql.q.output = ql.q.input;
  return true;
}

}  // namespace

extern const OpDef kFlatten{.op = model::Op::Flatten, .name = "Flatten", .infer = infer, .fp32 = fp32, .quantize = quantize};

}  // namespace qp::ops
