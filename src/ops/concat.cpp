// Concat: two or more tensors of the same height and width, one after the other along channels. INT8:
// TFLite's CONCATENATION (qp_concat_run_s8, src/runtime/qp_concat_s8.c), each input requantized to the
// output's parameters (quant::concat_input_params).
#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "quant/multiplier.h"

namespace qp::ops {
namespace {

void infer(model::Layer &, ShapeArgs &a) {
  const model::Shape s0 = a.in[0];
  int64_t c = 0;
  for (size_t j = 0; j < a.in.size(); ++j) {
    const model::Shape sj = a.in[j];
    if (sj.h != s0.h || sj.w != s0.w || a.flat[j] != a.flat[0])
      fail(a.where + " concatenates tensors of different sizes " + model::shape_str(s0) + " and " + model::shape_str(sj),
           "concatenated branches must keep the same height and width");
    c += sj.c;
  }
  if (c > model::kMaxActivationElements) fail(a.where + ": too many channels (" + std::to_string(c) + ")");
  a.out = {static_cast<int>(c), s0.h, s0.w};
}

void fp32(const model::Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  out.clear();  // CHW: channel blocks one after the other
  out.reserve(static_cast<size_t>(l.out.size()));
  for (const auto *in : ins) out.insert(out.end(), in->begin(), in->end());
}

// Output parameters from the observed range of its output; each input is requantized to them at run time.
bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  const auto [lo, hi] = a.range(a.k);
  ql.q.output = activation_params(lo, hi);
  return true;
}

void check_int8(const quant::QModel &m, const quant::QLayer &l, const std::string &where) {
  int64_t c = 0;
  for (const int p : l.inputs) {
    const model::Shape sj = m.tensor_shape(p);
    if (sj.h != l.out.h || sj.w != l.out.w) fail(where + " concatenates tensors of different sizes", "the model file is corrupt: re-quantize it");
    c += sj.c;
  }
  if (c != l.out.c)
    fail(where + ": its output has " + std::to_string(l.out.c) + " channels, its inputs " + std::to_string(c),
         "the model file is corrupt: re-quantize it");
}

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  std::vector<qp_concat_input_t> parts;
  for (size_t j = 0; j < l.inputs.size(); ++j) {
    qp_concat_input_t c =
        quant::concat_input_params(l.q.input_q[j].scale, l.q.input_q[j].zero_point, l.q.output.scale, l.q.output.zero_point);
    c.data = a.arena + a.in_off[j];
    c.channels = a.m.tensor_shape(l.inputs[j]).c;
    parts.push_back(c);
  }
  return qp_concat_run_s8(static_cast<int32_t>(parts.size()), parts.data(), l.out.h * l.out.w, l.q.output.zero_point, a.out);
}

}  // namespace

extern const OpDef kConcat{.op = model::Op::Concat, .name = "Concat", .min_inputs = 2, .max_inputs = -1, .infer = infer, .fp32 = fp32,
                           .quantize = quantize, .check_int8 = check_int8, .int8 = int8};

}  // namespace qp::ops
