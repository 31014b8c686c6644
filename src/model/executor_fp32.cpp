#include "model/executor_fp32.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "ops/registry.h"

namespace qp::model {

std::vector<float> softmax(const std::vector<float> &logits) {
  std::vector<float> p(logits.size());
  if (logits.empty()) return p;
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += (p[i] = std::exp(logits[i] - m));
  for (auto &v : p) v = static_cast<float>(v / sum);
  return p;
}

std::vector<float> rgb_to_chw(const uint8_t *hwc, int h, int w, int c, const std::vector<float> &real) {
  if (!real.empty() && real.size() != static_cast<size_t>(c) * 256)
    fail("internal: the input value table has " + std::to_string(real.size()) + " entries for " + std::to_string(c) +
         " channel(s)");
  std::vector<float> x(static_cast<size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < w; ++xx)
      for (int ch = 0; ch < c; ++ch) {
        const uint8_t p = hwc[(static_cast<size_t>(y) * w + xx) * c + ch];
        x[(static_cast<size_t>(ch) * h + y) * w + xx] =
            real.empty() ? static_cast<float>(p) / 255.f : real[static_cast<size_t>(ch) * 256 + p];
      }
  return x;
}

Fp32Executor::Fp32Executor(const Graph &g) : g_(fold_for_inference(g)) {
  last_reader_.assign(g_.layers.size(), -1);
  for (size_t k = 0; k < g_.layers.size(); ++k)
    for (const int p : g_.layers[k].inputs)
      if (p >= 0) last_reader_[static_cast<size_t>(p)] = static_cast<int>(k);
}

std::vector<float> Fp32Executor::run_rgb(const uint8_t *hwc, std::vector<std::vector<float>> *trace) const {
  const auto x = rgb_to_chw(hwc, g_.input.h, g_.input.w, g_.input.c, g_.input_real);
  return run(x.data(), trace);
}

std::vector<float> Fp32Executor::run(const float *chw, std::vector<std::vector<float>> *trace) const {
  const size_t L = g_.layers.size();
  const std::vector<float> x(chw, chw + g_.input.size());
  // vals[k]: layer k's output, released after its last reader (last_reader_) has run.
  std::vector<std::vector<float>> vals(L);
  auto input = [&](int p) -> const std::vector<float> & { return p < 0 ? x : vals[static_cast<size_t>(p)]; };
  if (trace) trace->clear();
  std::vector<const std::vector<float> *> ins;
  for (size_t k = 0; k < L; ++k) {
    const Layer &l = g_.layers[k];
    std::vector<float> &cur = vals[k];
    // The op's FP32 rule (src/ops/<op>.cpp).
    ins.clear();
    for (const int p : l.inputs) ins.push_back(&input(p));
    ops::op_def(l.op).fp32(l, ins, cur);
    if (trace) trace->push_back(cur);
    for (const int p : l.inputs)
      if (p >= 0 && last_reader_[static_cast<size_t>(p)] == static_cast<int>(k)) std::vector<float>().swap(vals[static_cast<size_t>(p)]);
  }
  return L ? vals[L - 1] : x;
}

}  // namespace qp::model
