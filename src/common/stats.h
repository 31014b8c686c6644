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

}  // namespace qp
