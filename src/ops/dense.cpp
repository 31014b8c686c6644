// Dense (fully connected): [out][in] weights over a flat input; INT8 through qp_fc_run_s8
// (src/runtime/qp_fc_s8.c), its columns in HWC order after a Flatten of a feature map.
#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

using model::Layer;
using model::Op;

void infer(Layer &l, ShapeArgs &a) {
  const model::Shape s = a.in[0];
  if (!a.flat[0]) fail(a.where + " needs a flat input", "insert 'flatten' or 'gap' before dense");
  if (l.units <= 0) fail(a.where + ": needs a positive number of units");
  check_activation({l.units, 1, 1}, a.where + " output");
  expect_size(l.weight, model::checked_element_count(std::vector<int64_t>{l.units, s.c}, a.where + " weight"), a.where + " weight",
              a.allocate);
  expect_size(l.bias, l.units, a.where + " bias", a.allocate);
  a.out = {l.units, 1, 1};
}

void fp32(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const size_t n = static_cast<size_t>(l.in.c);
  out.assign(static_cast<size_t>(l.units), 0.f);
  for (size_t o = 0; o < out.size(); ++o) {
    const float *w = &l.weight[o * n];
    float acc = l.bias[o];
    for (size_t i = 0; i < n; ++i) acc += w[i] * in[i];
    out[o] = acc;
  }
}

int64_t macs(const Layer &l) { return static_cast<int64_t>(l.in.c) * l.units; }

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  return qp_fc_run_s8(-l.input.zero_point, l.output.zero_point, l.act_min, l.act_max, l.multiplier.data(), l.shift.data(), l.in.c,
                      l.out.c, a.arena + a.in_off[0], l.weight.data(), l.bias.data(), a.out);
}

}  // namespace

extern const OpDef kDense{.op = Op::Dense, .name = "Dense", .infer = infer, .fp32 = fp32, .macs = macs, .fuses_activation = true,
                          .int8 = int8};

}  // namespace qp::ops
