// Pad: constant padding of H and W by Layer::pad_top/pad_left/pad_bottom/pad_right (the op's parameters; batch and
// channel padding are not an IR concept: readers refuse them). FP32 pads with 0; INT8 keeps its input's scale and
// zero point (TFLite's int8 PAD requires it) and pads with the zero point, the int8 image of 0
// (qp_pad_s8, src/runtime/qp_pad_s8.c).
#include <algorithm>

#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

using model::Layer;

void infer(Layer &l, ShapeArgs &a) {
  const model::Shape s = a.in[0];
  if (a.flat[0]) fail(a.where + " comes after Flatten/Dense", "pad feature maps only (H and W)");
  for (const int p : {l.pad_top, l.pad_left, l.pad_bottom, l.pad_right})
    if (p < 0 || p > model::kMaxWindow)
      fail(a.where + ": padding " + std::to_string(p) + " is outside 0.." + std::to_string(model::kMaxWindow),
           "qparity pads H and W by non-negative amounts (cropping is not supported)");
  a.out = {s.c, s.h + l.pad_top + l.pad_bottom, s.w + l.pad_left + l.pad_right};
  check_activation(a.out, a.where + " output");
}

void fp32(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const int ih = l.in.h, iw = l.in.w, oh = l.out.h, ow = l.out.w;
  out.assign(static_cast<size_t>(l.out.c) * oh * ow, 0.f);
  for (int c = 0; c < l.in.c; ++c)
    for (int y = 0; y < ih; ++y)
      std::copy_n(&in[(static_cast<size_t>(c) * ih + y) * iw], iw,
                  &out[(static_cast<size_t>(c) * oh + y + l.pad_top) * ow + l.pad_left]);
}

bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  ql.q.output = ql.q.input;  // TFLite's int8 PAD: output parameters = input parameters
  ql.pad_top = a.g.layers[a.k].pad_top;
  ql.pad_left = a.g.layers[a.k].pad_left;
  return true;
}

void check_int8(const quant::QModel &, const quant::QLayer &l, const std::string &where) {
  if (l.q.output.scale != l.q.input.scale || l.q.output.zero_point != l.q.input.zero_point)
    fail(where + ": its output scale/zero point differ from its input's", "int8 Pad keeps its input's quantization");
  if (l.out.c != l.in.c || l.pad_top < 0 || l.pad_left < 0 || l.out.h < l.in.h + l.pad_top || l.out.w < l.in.w + l.pad_left)
    fail(where + ": its padding does not fit its input and output shapes", "the model file is corrupt: re-quantize it");
}

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
  return qp_pad_s8(l.pad_top, l.pad_left, static_cast<int8_t>(l.q.input.zero_point), &in, a.arena + a.in_off[0], &out, a.out);
}

}  // namespace

extern const OpDef kPad{.op = model::Op::Pad, .name = "Pad", .infer = infer, .fp32 = fp32, .quantize = quantize,
                        .check_int8 = check_int8, .int8 = int8};

}  // namespace qp::ops
