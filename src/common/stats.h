// Small statistics used by evaluation and validation.
#pragma once
#include <cstdint>

namespace qp {

struct Interval {
  double lo;
  double hi;
};

// Wilson score interval for k successes in n trials at 95% (z = 1.959964). n == 0 gives [0, 1].
Interval wilson95(int64_t k, int64_t n);

// McNemar's exact test on paired decisions: b = pairs right under A only, c = right under B only.
// Two-sided p-value from the binomial(b + c, 1/2) distribution; 1.0 when b + c == 0.
double mcnemar_exact_p(int64_t b, int64_t c);

// P(X <= k) for X ~ Binomial(n, p), summed in log space (exact to double rounding for n up to millions).
double binomial_cdf(int64_t k, int64_t n, double p);

// Exact (Clopper-Pearson) two-sided 95% interval for a binomial proportion with k events in n trials:
// lo solves P(X >= k | lo) = 0.025 (0 when k == 0), hi solves P(X <= k | hi) = 0.025 (1 when k == n),
// found by bisection on the binomial tails. n == 0 gives [0, 1].
Interval clopper_pearson95(int64_t k, int64_t n);

// One-sided exact 95% upper bound: the p that solves P(X <= k | p) = 0.05 (1 when k == n or n == 0).
// With k == 0 this is 1 - 0.05^(1/n): 0 mismatches in 50 images bound the rate below 5.8%. n <= 0 gives 1,
// not NaN: no trial rules out any rate. The one definition (verify's verdict, the report, the pipeline summary);
// increasing in k, decreasing in n (tests/test_common.cpp).
double clopper_pearson_upper95(int64_t k, int64_t n);

}  // namespace qp
