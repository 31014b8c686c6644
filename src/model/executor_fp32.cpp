#include "model/executor_fp32.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace qp::model {
namespace {

void conv2d(const Layer &l, const std::vector<float> &in, std::vector<float> &out) {
  const int ic = l.in.c, ih = l.in.h, iw = l.in.w, oc = l.out.c, oh = l.out.h, ow = l.out.w, k = l.kernel, s = l.stride;
  const bool dw = l.op == Op::DepthwiseConv2D;
  const int ipg = dw ? 1 : ic;
  out.assign(static_cast<size_t>(oc) * oh * ow, 0.f);
  for (int o = 0; o < oc; ++o) {
    float *dst = &out[static_cast<size_t>(o) * oh * ow];
    std::fill(dst, dst + oh * ow, l.bias[static_cast<size_t>(o)]);
    for (int g = 0; g < ipg; ++g) {
      const int c = dw ? o : g;
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

void pool2d(const Layer &l, const std::vector<float> &in, std::vector<float> &out) {
  const int c = l.in.c, ih = l.in.h, iw = l.in.w, oh = l.out.h, ow = l.out.w, k = l.kernel, s = l.stride;
  out.assign(static_cast<size_t>(c) * oh * ow, 0.f);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        float acc = l.op == Op::MaxPool ? -std::numeric_limits<float>::infinity() : 0.f;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const float v = in[(static_cast<size_t>(ch) * ih + y * s + ky) * iw + x * s + kx];
            acc = l.op == Op::MaxPool ? std::max(acc, v) : acc + v;
          }
        out[(static_cast<size_t>(ch) * oh + y) * ow + x] = l.op == Op::MaxPool ? acc : acc / static_cast<float>(k * k);
      }
}

}  // namespace

std::vector<float> softmax(const std::vector<float> &logits) {
  std::vector<float> p(logits.size());
  if (logits.empty()) return p;
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += (p[i] = std::exp(logits[i] - m));
  for (auto &v : p) v = static_cast<float>(v / sum);
  return p;
}

std::vector<float> rgb_to_chw(const uint8_t *hwc, int h, int w, int c) {
  std::vector<float> x(static_cast<size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < w; ++xx)
      for (int ch = 0; ch < c; ++ch)
        x[(static_cast<size_t>(ch) * h + y) * w + xx] =
            static_cast<float>(hwc[(static_cast<size_t>(y) * w + xx) * c + ch]) / 255.f;
  return x;
}

Fp32Executor::Fp32Executor(const Graph &g) : g_(fold_for_inference(g)) {
  last_reader_.assign(g_.layers.size(), -1);
  for (size_t k = 0; k < g_.layers.size(); ++k)
    for (const int p : g_.layers[k].inputs)
      if (p >= 0) last_reader_[static_cast<size_t>(p)] = static_cast<int>(k);
}

std::vector<float> Fp32Executor::run_rgb(const uint8_t *hwc, std::vector<std::vector<float>> *trace) const {
  const auto x = rgb_to_chw(hwc, g_.input.h, g_.input.w, g_.input.c);
  return run(x.data(), trace);
}

std::vector<float> Fp32Executor::run(const float *chw, std::vector<std::vector<float>> *trace) const {
  const size_t L = g_.layers.size();
  const std::vector<float> x(chw, chw + g_.input.size());
  // vals[k]: layer k's output, released after its last reader (last_reader_) has run.
  std::vector<std::vector<float>> vals(L);
  auto input = [&](int p) -> const std::vector<float> & { return p < 0 ? x : vals[static_cast<size_t>(p)]; };
  if (trace) trace->clear();
  for (size_t k = 0; k < L; ++k) {
    const Layer &l = g_.layers[k];
    const std::vector<float> &in0 = input(l.inputs[0]);
    std::vector<float> &cur = vals[k];
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D: conv2d(l, in0, cur); break;
      case Op::MaxPool:
      case Op::AvgPool: pool2d(l, in0, cur); break;
      case Op::ReLU:
        cur = in0;
        for (auto &v : cur) v = std::max(v, 0.f);
        break;
      case Op::ReLU6:
        cur = in0;
        for (auto &v : cur) v = std::clamp(v, 0.f, 6.f);
        break;
      case Op::GlobalAvgPool: {
        const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
        cur.assign(static_cast<size_t>(l.in.c), 0.f);
        for (size_t c = 0; c < cur.size(); ++c) {
          double acc = 0;
          for (size_t i = 0; i < hw; ++i) acc += in0[c * hw + i];
          cur[c] = static_cast<float>(acc / static_cast<double>(hw));
        }
        break;
      }
      case Op::Flatten:
      case Op::Dropout: cur = in0; break;  // CHW order is already the flattened order
      case Op::Dense: {
        const size_t n = static_cast<size_t>(l.in.c);
        cur.assign(static_cast<size_t>(l.units), 0.f);
        for (size_t o = 0; o < cur.size(); ++o) {
          const float *w = &l.weight[o * n];
          float acc = l.bias[o];
          for (size_t i = 0; i < n; ++i) acc += w[i] * in0[i];
          cur[o] = acc;
        }
        break;
      }
      case Op::Softmax: cur = softmax(in0); break;
      case Op::BatchNorm: {
        cur = in0;
        const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
        for (size_t c = 0; c < static_cast<size_t>(l.in.c); ++c) {
          const float k2 = l.gamma[c] / std::sqrt(l.var[c] + l.eps);
          for (size_t i = 0; i < hw; ++i) cur[c * hw + i] = (cur[c * hw + i] - l.mean[c]) * k2 + l.beta[c];
        }
        break;
      }
      case Op::Add: {
        const std::vector<float> &in1 = input(l.inputs[1]);
        cur.resize(in0.size());
        for (size_t i = 0; i < cur.size(); ++i) cur[i] = in0[i] + in1[i];
        break;
      }
      case Op::Concat: {  // CHW: channel blocks one after the other
        cur.clear();
        cur.reserve(static_cast<size_t>(l.out.size()));
        for (const int p : l.inputs) cur.insert(cur.end(), input(p).begin(), input(p).end());
        break;
      }
    }
    if (trace) trace->push_back(cur);
    for (const int p : l.inputs)
      if (p >= 0 && last_reader_[static_cast<size_t>(p)] == static_cast<int>(k)) std::vector<float>().swap(vals[static_cast<size_t>(p)]);
  }
  return L ? vals[L - 1] : x;
}

}  // namespace qp::model
