// ReLU and ReLU6. In INT8 they are no layer of their own: each is fused into the conv/dense/add before
// it (when it is that layer's only reader) as the clamp act_min/act_max of its requantization.
#include <algorithm>
#include <limits>

#include "common/error.h"
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

// No INT8 layer: fused into the conv/dense/add before it (that op's rule sets the clamp), which it must
// be the only reader of.
bool quantize(const QuantArgs &a, quant::QLayer &) {
  const model::Layer &l = a.g.layers[a.k];
  const int p = l.inputs[0];
  if (p < 0 || a.fused[static_cast<size_t>(p)] != static_cast<int>(a.k))
    fail(std::string("layer ") + std::to_string(a.k) + " (" + model::op_name(l.op) +
             ") does not follow a conv, dense or add layer that only it reads",
         "INT8 fuses activations into the conv/dense/add before them");
  return false;
}

}  // namespace

extern const OpDef kReLU{.op = model::Op::ReLU, .name = "ReLU", .infer = infer, .fp32 = fp32_relu, .fused_as = "relu",
                         .fused_max = std::numeric_limits<double>::infinity(), .quantize = quantize};
extern const OpDef kReLU6{.op = model::Op::ReLU6, .name = "ReLU6", .infer = infer, .fp32 = fp32_relu6, .fused_as = "relu6",
                          .fused_max = 6.0, .quantize = quantize};

}  // namespace qp::ops
