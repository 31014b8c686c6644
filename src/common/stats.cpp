#include "common/stats.h"

#include <algorithm>
#include <cmath>

namespace qp {

Interval wilson95(int64_t k, int64_t n) {
  if (n <= 0) return {0.0, 1.0};
  const double z = 1.959963984540054;
  const double p = static_cast<double>(k) / static_cast<double>(n);
  const double nn = static_cast<double>(n);
  const double denom = 1.0 + z * z / nn;
  const double centre = (p + z * z / (2.0 * nn)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z * z / (4.0 * nn * nn)) / denom;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n <= 0) return 1.0;
  const int64_t k = std::min(b, c);
  // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space for large n.
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                     std::lgamma(static_cast<double>(n - i) + 1) - static_cast<double>(n) * std::log(2.0));
  return std::min(1.0, 2.0 * tail);
}

double binomial_cdf(int64_t k, int64_t n, double p) {
  if (k < 0) return 0.0;
  if (k >= n) return 1.0;
  if (p <= 0.0) return 1.0;
  if (p >= 1.0) return 0.0;
  const double nn = static_cast<double>(n), lp = std::log(p), lq = std::log1p(-p);
  // Each term in log space (lgamma), so large n neither overflows the coefficient nor underflows p^i.
  double sum = 0;
  for (int64_t i = 0; i <= k; ++i) {
    const double ii = static_cast<double>(i);
    sum += std::exp(std::lgamma(nn + 1) - std::lgamma(ii + 1) - std::lgamma(nn - ii + 1) + ii * lp + (nn - ii) * lq);
  }
  return std::min(1.0, sum);
}

namespace {

// The p in [0, 1] where the decreasing function f(p) crosses `target`, by bisection to double precision.
template <class F>
double solve_decreasing(F f, double target) {
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 200 && hi - lo > 1e-15; ++it) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) > target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

Interval clopper_pearson95(int64_t k, int64_t n) {
  if (n <= 0) return {0.0, 1.0};
  k = std::clamp<int64_t>(k, 0, n);
  // P(X >= k | p) increases with p; 1 - P(X >= k | p) = P(X <= k - 1 | p) decreases.
  const double lo = k == 0 ? 0.0 : solve_decreasing([&](double p) { return binomial_cdf(k - 1, n, p); }, 0.975);
  const double hi = k == n ? 1.0 : solve_decreasing([&](double p) { return binomial_cdf(k, n, p); }, 0.025);
  return {lo, hi};
}

double clopper_pearson_upper95(int64_t k, int64_t n) {
  if (n <= 0) return 1.0;
  k = std::clamp<int64_t>(k, 0, n);
  if (k == n) return 1.0;
  return solve_decreasing([&](double p) { return binomial_cdf(k, n, p); }, 0.05);
}

}  // namespace qp
