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

}  // namespace qp
