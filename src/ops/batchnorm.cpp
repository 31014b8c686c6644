// BatchNorm (per channel, inference statistics): folded into the conv/dense before it by
// model::fold_for_inference, so the executor and the quantizer never see one; evaluated here only for
// an unfolded graph.
#include <cmath>

#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

void infer(model::Layer &l, ShapeArgs &a) {
  const int c = a.in[0].c;
  expect_size(l.gamma, c, a.where + " gamma", a.allocate, 1.f);
  expect_size(l.beta, c, a.where + " beta", a.allocate);
  expect_size(l.mean, c, a.where + " mean", a.allocate);
  expect_size(l.var, c, a.where + " variance", a.allocate, 1.f);
}

void fp32(const model::Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  out = *ins[0];
  const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
  for (size_t c = 0; c < static_cast<size_t>(l.in.c); ++c) {
    const float k2 = l.gamma[c] / std::sqrt(l.var[c] + l.eps);
    for (size_t i = 0; i < hw; ++i) out[c * hw + i] = (out[c * hw + i] - l.mean[c]) * k2 + l.beta[c];
  }
}

}  // namespace

extern const OpDef kBatchNorm{.op = model::Op::BatchNorm, .name = "BatchNorm", .infer = infer, .fp32 = fp32};

}  // namespace qp::ops
