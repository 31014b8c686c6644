// Dropout: training only (torch_model); the identity at inference, removed by model::fold_for_inference.
#include "common/error.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &) {}

void fp32(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) { out = *ins[0]; }

}  // namespace

extern const OpDef kDropout{.op = model::Op::Dropout, .name = "Dropout", .infer = infer, .fp32 = fp32};

}  // namespace qp::ops
