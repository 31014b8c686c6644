// MaxPool and AvgPool (square window; valid padding, or same with TFLite's split: a padded position is ignored by
// MaxPool and not counted by AvgPool, whose divisor is the window's in-bounds size, as TFLite's AVERAGE_POOL_2D and
// ONNX's AveragePool with count_include_pad = 0) and GlobalAvgPool; INT8 through qp_pool_max_s8, qp_pool_avg_s8 and
// qp_pool_global_avg_s8 (src/runtime/qp_pool_s8.c). Pooling keeps its input's quantization.
#include <algorithm>
#include <limits>

#include "common/error.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace qp::ops {
namespace {

using model::Layer;
using model::Op;

void infer_window(Layer &l, ShapeArgs &a) {
  const model::Shape s = a.in[0];
  if (a.flat[0]) fail(a.where + " comes after Flatten/Dense", "put pooling before flatten");
  int oh, ow;
  window_out(s.h, l.kernel, l.stride, l.padding, oh, l.pad_top, l.pad_bottom, a.where);
  window_out(s.w, l.kernel, l.stride, l.padding, ow, l.pad_left, l.pad_right, a.where);
  // 'same' pads fewer than k positions in all ((out - 1) * s < in), so every window holds an input value.
  a.out = {s.c, oh, ow};
}

void infer_global(Layer &, ShapeArgs &a) {
  if (a.flat[0]) fail(a.where + " comes after Flatten/Dense");
  a.out = {a.in[0].c, 1, 1};
  a.out_flat = true;
}

void fp32_window(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const bool max = l.op == Op::MaxPool;
  const int c = l.in.c, ih = l.in.h, iw = l.in.w, oh = l.out.h, ow = l.out.w, k = l.kernel, s = l.stride;
  out.assign(static_cast<size_t>(c) * oh * ow, 0.f);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        float acc = max ? -std::numeric_limits<float>::infinity() : 0.f;
        int count = 0;  // in-bounds positions: padding is ignored (max) and not counted (average)
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = y * s + ky - l.pad_top, ix = x * s + kx - l.pad_left;
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
            const float v = in[(static_cast<size_t>(ch) * ih + iy) * iw + ix];
            acc = max ? std::max(acc, v) : acc + v;
            ++count;
          }
        out[(static_cast<size_t>(ch) * oh + y) * ow + x] = max ? acc : acc / static_cast<float>(count);
      }
}

void fp32_global(const Layer &l, std::span<const std::vector<float> *const> ins, std::vector<float> &out) {
  const std::vector<float> &in = *ins[0];
  const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
  out.assign(static_cast<size_t>(l.in.c), 0.f);
  for (size_t c = 0; c < out.size(); ++c) {
    double acc = 0;
    for (size_t i = 0; i < hw; ++i) acc += in[c * hw + i];
    out[c] = static_cast<float>(acc / static_cast<double>(hw));
  }
}

bool quantize(const QuantArgs &, quant::QLayer &ql) {
  ql.q.output = ql.q.input;  // pooling keeps its input's parameters
  return true;
}

qp_status_t int8_window(const Int8Args &a) {
  const quant::QLayer &l = a.l;
  const qp_dims_t in = {1, l.in.h, l.in.w, l.in.c}, out = {1, l.out.h, l.out.w, l.out.c};
  const qp_pool_params_t p = {l.kernel, l.stride, -128, 127, l.pad_top, l.pad_left};
  const int8_t *x = a.arena + a.in_off[0];
  return l.op == Op::MaxPool ? qp_pool_max_s8(&p, &in, x, &out, a.out) : qp_pool_avg_s8(&p, &in, x, &out, a.out);
}

qp_status_t int8_global(const Int8Args &a) {
  const qp_dims_t in = {1, a.l.in.h, a.l.in.w, a.l.in.c};
  return qp_pool_global_avg_s8(-128, 127, &in, a.arena + a.in_off[0], a.out);
}

}  // namespace

extern const OpDef kMaxPool{.op = Op::MaxPool, .name = "MaxPool", .infer = infer_window, .fp32 = fp32_window, .quantize = quantize,
                            .int8 = int8_window};
extern const OpDef kAvgPool{.op = Op::AvgPool, .name = "AvgPool", .infer = infer_window, .fp32 = fp32_window, .quantize = quantize,
                            .int8 = int8_window};
extern const OpDef kGlobalAvgPool{.op = Op::GlobalAvgPool, .name = "GlobalAvgPool", .infer = infer_global, .fp32 = fp32_global,
                                  .quantize = quantize, .int8 = int8_global};

}  // namespace qp::ops
