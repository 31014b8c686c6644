// ReLU and ReLU6. In INT8 they are no layer of their own: each is fused into the conv/dense/add before
// it (when it is that layer's only reader) as the clamp act_min/act_max of its requantization.
#include <algorithm>
#include <limits>

#include "ops/registry.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &) {}

void fp32_relu(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  out = *ins[0];
  for (auto &v : out) v = std::max(v, 0.f);
}

void fp32_relu6(const model::Layer &, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  out = *ins[0];
  for (auto &v : out) v = std::clamp(v, 0.f, 6.f);
}

}  // namespace

extern const OpDef kReLU{.op = model::Op::ReLU, .name = "ReLU", .infer = infer, .fp32 = fp32_relu, .fused_as = "relu",
                         .fused_max = std::numeric_limits<double>::infinity()};
extern const OpDef kReLU6{.op = model::Op::ReLU6, .name = "ReLU6", .infer = infer, .fp32 = fp32_relu6, .fused_as = "relu6",
                          .fused_max = 6.0};

}  // namespace qp::ops
