// A minimal parallel loop for the host stages: fn(i) for every i in [0, n), spread over `threads`
// worker threads (0 = all cores). Items are claimed one at a time, so uneven items balance; each fn(i)
// must write only its own outputs. Exceptions thrown by fn are not caught: callers catch per item.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace qp {

inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

template <typename Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  const size_t t = std::min<size_t>(static_cast<size_t>(resolve_threads(threads)), std::max<size_t>(n, 1));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  if (t <= 1) return worker();
  std::vector<std::thread> pool;
  for (size_t k = 0; k < t; ++k) pool.emplace_back(worker);
  for (auto &th : pool) th.join();
}

}  // namespace qp
