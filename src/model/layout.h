// Tensor layout conversions between the FP32 IR / ONNX (NCHW: conv filters OIHW, depthwise filters
// [C][1][K][K], Dense columns in the CHW order of a flattened map) and the integer runtime (NHWC:
// conv filters OHWI, depthwise filters [1][K][K][C], Dense columns in HWC order). Written once here and
// used by the quantizer and the QDQ writer/reader; each pair is a pair of inverse permutations.
//
//   std::vector<int8_t> ohwi = qp::model::conv_oihw_to_ohwi(oihw, oc, ic, k);
//   oihw == qp::model::conv_ohwi_to_oihw(ohwi, oc, ic, k);   // always
//
// All of them are one permutation: `blocks` consecutive tensors of shape (c, h, w) each moved from CHW
// to HWC order (an OIHW filter is oc blocks of (ic, k, k); a depthwise filter one block of (c, k, k); a
// Dense weight matrix after a Flatten of map m is `units` rows, each one block of shape m).
#pragma once
#include <cstddef>
#include <vector>

#include "model/ir.h"

namespace qp::model {

// Position in HWC order of element i of a CHW tensor of shape s, and the inverse.
size_t chw_to_hwc_index(size_t i, const Shape &s);
size_t hwc_to_chw_index(size_t i, const Shape &s);

// Checks that a tensor of `n` elements holds `blocks` blocks of shape s (qp::Error otherwise: an
// internal error, the callers size their tensors from the same shapes).
void check_layout_size(size_t n, size_t blocks, const Shape &s, const char *what);

// `blocks` consecutive CHW tensors of shape s, each rearranged to HWC order (and back).
template <typename T>
std::vector<T> blocks_chw_to_hwc(const std::vector<T> &v, size_t blocks, const Shape &s) {
  check_layout_size(v.size(), blocks, s, "CHW -> HWC");
  const size_t n = static_cast<size_t>(s.size());
  std::vector<T> out(v.size());
  for (size_t b = 0; b < blocks; ++b)
    for (size_t i = 0; i < n; ++i) out[b * n + chw_to_hwc_index(i, s)] = v[b * n + i];
  return out;
}
template <typename T>
std::vector<T> blocks_hwc_to_chw(const std::vector<T> &v, size_t blocks, const Shape &s) {
  check_layout_size(v.size(), blocks, s, "HWC -> CHW");
  const size_t n = static_cast<size_t>(s.size());
  std::vector<T> out(v.size());
  for (size_t b = 0; b < blocks; ++b)
    for (size_t i = 0; i < n; ++i) out[b * n + i] = v[b * n + chw_to_hwc_index(i, s)];
  return out;
}

// Conv filters: OIHW <-> OHWI (oc output channels, ic input channels, k x k window).
template <typename T>
std::vector<T> conv_oihw_to_ohwi(const std::vector<T> &w, int oc, int ic, int k) {
  return blocks_chw_to_hwc(w, static_cast<size_t>(oc), Shape{ic, k, k});
}
template <typename T>
std::vector<T> conv_ohwi_to_oihw(const std::vector<T> &w, int oc, int ic, int k) {
  return blocks_hwc_to_chw(w, static_cast<size_t>(oc), Shape{ic, k, k});
}

// Depthwise filters: [C][1][K][K] <-> [1][K][K][C].
template <typename T>
std::vector<T> depthwise_ckk_to_kkc(const std::vector<T> &w, int c, int k) {
  return blocks_chw_to_hwc(w, 1, Shape{c, k, k});
}
template <typename T>
std::vector<T> depthwise_kkc_to_ckk(const std::vector<T> &w, int c, int k) {
  return blocks_hwc_to_chw(w, 1, Shape{c, k, k});
}

// Dense weights [units][map.size()] after a Flatten of a map: columns in CHW order <-> HWC order.
template <typename T>
std::vector<T> dense_columns_chw_to_hwc(const std::vector<T> &w, int units, const Shape &map) {
  return blocks_chw_to_hwc(w, static_cast<size_t>(units), map);
}
template <typename T>
std::vector<T> dense_columns_hwc_to_chw(const std::vector<T> &w, int units, const Shape &map) {
  return blocks_hwc_to_chw(w, static_cast<size_t>(units), map);
}

}  // namespace qp::model
