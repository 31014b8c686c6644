// Conv2D and DepthwiseConv2D (depth multiplier M >= 1: C*M outputs, output c*M+m reads input c, as TFLite's
// DEPTHWISE_CONV_2D and ONNX's Conv with group = C): NCHW FP32, OIHW weights ([C*M][1][K][K] depthwise);
// INT8 through qp_conv_run_s8 / qp_dwconv_run_s8 (src/runtime/qp_conv_s8.c).
#include "common/error.h"
#include "model/layout.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

using model::Layer;
using model::Op;

void infer(Layer &l, ShapeArgs &a) {
  const model::Shape s = a.in[0];
  if (a.flat[0]) fail(a.where + " comes after Flatten/Dense", "put convolutions before flatten");
  const bool dw = l.op == Op::DepthwiseConv2D;
  int oh, ow;
  window_out(s.h, l.kernel, l.stride, l.padding, oh, l.pad_top, l.pad_bottom, a.where);
  window_out(s.w, l.kernel, l.stride, l.padding, ow, l.pad_left, l.pad_right, a.where);
  if (dw && (l.depth_multiplier < 1 || l.depth_multiplier > 256))
    fail(a.where + ": depth multiplier " + std::to_string(l.depth_multiplier) + " is outside 1..256");
  const int64_t dw_oc = static_cast<int64_t>(s.c) * l.depth_multiplier;
  if (dw && dw_oc > model::kMaxActivationElements) fail(a.where + ": too many output channels");
  const int oc = dw ? static_cast<int>(dw_oc) : l.units;
  if (dw) l.units = oc;
  if (oc <= 0) fail(a.where + ": needs a positive number of filters");
  check_activation({oc, oh, ow}, a.where + " output");
  const int64_t wdims[] = {oc, dw ? 1 : s.c, l.kernel, l.kernel};
  expect_size(l.weight, model::checked_element_count(wdims, a.where + " weight"), a.where + " weight", a.allocate);
  expect_size(l.bias, oc, a.where + " bias", a.allocate);
  a.out = {oc, oh, ow};
}

void fp32(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const int ic = l.in.c, ih = l.in.h, iw = l.in.w, oc = l.out.c, oh = l.out.h, ow = l.out.w, k = l.kernel, s = l.stride;
  const bool dw = l.op == Op::DepthwiseConv2D;
  const int ipg = dw ? 1 : ic, mult = dw ? oc / ic : 1;
  out.assign(static_cast<size_t>(oc) * oh * ow, 0.f);
  for (int o = 0; o < oc; ++o) {
    float *dst = &out[static_cast<size_t>(o) * oh * ow];
    std::fill(dst, dst + oh * ow, l.bias[static_cast<size_t>(o)]);
    for (int g = 0; g < ipg; ++g) {
      const int c = dw ? o / mult : g;
      const float *src = &in[static_cast<size_t>(c) * ih * iw];
      for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; ++kx) {
          const float wv = l.weight[((static_cast<size_t>(o) * ipg + g) * k + ky) * k + kx];
          for (int y = 0; y < oh; ++y) {
            const int sy = y * s + ky - l.pad_top;
            if (sy < 0 || sy >= ih) continue;
            const float *row = src + static_cast<size_t>(sy) * iw;
            float *drow = dst + static_cast<size_t>(y) * ow;
            for (int x = 0; x < ow; ++x) {
              const int sx = x * s + kx - l.pad_left;
              if (sx >= 0 && sx < iw) drow[x] += wv * row[sx];
            }
          }
        }
    }
  }
}

int64_t macs(const Layer &l) {
  return l.op == Op::Conv2D ? l.out.size() * l.in.c * l.kernel * l.kernel : l.out.size() * l.kernel * l.kernel;
}

// Weights OIHW -> OHWI (depthwise [C*M][1][K][K] -> [1][K][K][C*M]), per-channel scales; a following
// ReLU/ReLU6 fused (op_util: quantize_weighted).
bool quantize(const QuantArgs &a, quant::QLayer &ql) {
  const Layer &l = a.g.layers[a.k];
  quantize_weighted(a, ql, [&](std::vector<int8_t> w) {
    return l.op == Op::Conv2D ? model::conv_oihw_to_ohwi(w, l.out.c, l.in.c, l.kernel) : model::depthwise_ckk_to_kkc(w, l.out.c, l.kernel);
  });
  return true;
}

// A depthwise layer read from a file: C*M outputs for C inputs.
void check_int8(const quant::QModel &, const quant::QLayer &l, const std::string &where) {
  if (l.op == Op::DepthwiseConv2D && (l.in.c < 1 || l.out.c % l.in.c != 0))
    fail(where + ": " + std::to_string(l.out.c) + " output channels are not a multiple of the " + std::to_string(l.in.c) +
             " input channels (depth multiplier)",
         "the model file is corrupt: re-quantize it");
}

qp_status_t int8(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
  const qp_conv_params_t p = {
      -l.q.input.zero_point, l.q.output.zero_point, l.stride, l.pad_top, l.pad_left, l.q.act_min, l.q.act_max};
  const qp_dims_t f = l.op == Op::Conv2D ? qp_dims_t{l.out.c, l.kernel, l.kernel, l.in.c}
                                         : qp_dims_t{1, l.kernel, l.kernel, l.out.c};  // depthwise [1][K][K][C*M]
  const int8_t *x = a.arena + a.in_off[0];
  return l.op == Op::Conv2D ? qp_conv_run_s8(&p, l.q.multiplier.data(), l.q.shift.data(), &in, x, &f, l.q.weight.data(),
                                             l.q.bias.data(), &out, a.out)
                            : qp_dwconv_run_s8(&p, l.q.multiplier.data(), l.q.shift.data(), &in, x, &f, l.q.weight.data(),
                                               l.q.bias.data(), &out, a.out);
}

}  // namespace

extern const OpDef kConv2D{.op = Op::Conv2D, .name = "Conv2D", .infer = infer, .fp32 = fp32, .macs = macs,
                           .fuses_activation = true, .quantize = quantize,
    .derive = derive_weighted, .int8 = int8};
extern const OpDef kDepthwiseConv2D{.op = Op::DepthwiseConv2D, .name = "DepthwiseConv2D", .infer = infer, .fp32 = fp32,
                                    .macs = macs, .fuses_activation = true, .quantize = quantize,
    .derive = derive_weighted, .check_int8 = check_int8, .int8 = int8};

}  // namespace qp::ops
