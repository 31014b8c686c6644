#include "model/layout.h"

#include <string>

#include "common/error.h"

namespace qp::model {

size_t chw_to_hwc_index(size_t i, const Shape &s) {
  const size_t hw = static_cast<size_t>(s.h) * static_cast<size_t>(s.w);
  return (i % hw) * static_cast<size_t>(s.c) + i / hw;
}

size_t hwc_to_chw_index(size_t i, const Shape &s) {
  const size_t c = static_cast<size_t>(s.c);
  return (i % c) * static_cast<size_t>(s.h) * static_cast<size_t>(s.w) + i / c;
}

void check_layout_size(size_t n, size_t blocks, const Shape &s, const char *what) {
  if (s.c < 1 || s.h < 1 || s.w < 1 || n != blocks * static_cast<size_t>(s.size()))
    fail(std::string("internal: layout conversion ") + what + " of " + std::to_string(n) + " elements as " +
         std::to_string(blocks) + " blocks of " + shape_str(s));
}

}  // namespace qp::model
