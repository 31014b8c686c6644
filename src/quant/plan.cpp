#include "quant/plan.h"

#include <algorithm>

#include "common/error.h"

namespace qp::quant {

ArenaPlan plan_arena(const QModel &m, const std::vector<uint32_t> &scratch_bytes, uint32_t align) {
  if (align == 0 || (align & (align - 1)) != 0) fail("internal: arena alignment must be a power of two");
  ArenaPlan p;
  const size_t L = m.layers.size();
  auto new_tensor = [&](uint32_t bytes, int first) {
    p.tensor_bytes.push_back(bytes);
    p.first_use.push_back(first);
    p.last_use.push_back(first);
    return static_cast<int>(p.tensor_bytes.size()) - 1;
  };
  new_tensor(static_cast<uint32_t>(m.input.size()), -1);
  auto tensor_of = [&](int producer) { return producer < 0 ? 0 : p.layer_tensor[static_cast<size_t>(producer)]; };
  for (size_t k = 0; k < L; ++k) {
    const auto &l = m.layers[k];
    std::vector<int> ins;
    if (l.inputs.empty()) {
      ins.push_back(tensor_of(static_cast<int>(k) - 1));
    } else {
      for (const int pr : l.inputs) {
        if (pr >= static_cast<int>(k)) fail("internal: layer " + std::to_string(k) + " reads a later layer");
        ins.push_back(tensor_of(pr));
      }
    }
    for (const int t : ins) p.last_use[static_cast<size_t>(t)] = std::max(p.last_use[static_cast<size_t>(t)], static_cast<int>(k));
    p.layer_inputs.push_back(ins);
    // A Flatten of NHWC data is the same bytes: it aliases its input.
    p.layer_tensor.push_back(l.op == model::Op::Flatten ? ins[0] : new_tensor(static_cast<uint32_t>(l.out.size()), static_cast<int>(k)));
  }
  // The model's output stays live until it is copied out.
  const int out_t = L ? p.layer_tensor.back() : 0;
  p.last_use[static_cast<size_t>(out_t)] = static_cast<int>(L);
  for (size_t k = 0; k < L; ++k) {
    const uint32_t s = k < scratch_bytes.size() ? scratch_bytes[k] : 0;
    p.layer_scratch.push_back(s == 0 ? -1 : new_tensor(s, static_cast<int>(k)));
  }
  const size_t T = p.tensor_bytes.size();
  std::vector<size_t> order(T);
  for (size_t i = 0; i < T; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p.tensor_bytes[a] > p.tensor_bytes[b]; });
  p.tensor_offset.assign(T, 0);
  std::vector<bool> placed(T, false);
  uint64_t peak = 0, naive = 0;
  const uint32_t mask = align - 1;
  for (size_t t : order) {
    // Intervals already taken by placed tensors alive at the same time, sorted by offset.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t u = 0; u < T; ++u)
      if (placed[u] && p.first_use[u] <= p.last_use[t] && p.first_use[t] <= p.last_use[u])
        busy.emplace_back(p.tensor_offset[u], uint64_t{p.tensor_offset[u]} + p.tensor_bytes[u]);
    std::sort(busy.begin(), busy.end());
    uint64_t off = 0;
    for (const auto &[b, e] : busy) {
      if (off + p.tensor_bytes[t] <= b) break;
      off = std::max(off, (e + mask) & ~uint64_t{mask});
    }
    if (off + p.tensor_bytes[t] > 0xffffffffu) fail("the model's tensors need more than 4 GiB of arena");
    p.tensor_offset[t] = static_cast<uint32_t>(off);
    placed[t] = true;
    peak = std::max(peak, off + p.tensor_bytes[t]);
    naive += p.tensor_bytes[t];
  }
  peak = (peak + mask) & ~uint64_t{mask};
  if (peak > 0xffffffffu || naive > 0xffffffffu) fail("the model's tensors need more than 4 GiB of arena");
  p.arena_bytes = static_cast<uint32_t>(peak);
  p.naive_bytes = static_cast<uint32_t>(naive);
  return p;
}

}  // namespace qp::quant
