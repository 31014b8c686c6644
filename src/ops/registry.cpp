#include "ops/registry.h"

#include <array>

#include "common/error.h"

namespace qp::ops {

// One line per op: the entry its file under src/ops/ defines.
extern const OpDef kConv2D, kDepthwiseConv2D;      // conv2d.cpp
extern const OpDef kBatchNorm;                     // batchnorm.cpp
extern const OpDef kReLU, kReLU6;                  // activation.cpp
extern const OpDef kMaxPool, kAvgPool, kGlobalAvgPool;  // pool.cpp
extern const OpDef kFlatten;                       // flatten.cpp
extern const OpDef kDense;                         // dense.cpp
extern const OpDef kDropout;                       // dropout.cpp
extern const OpDef kSoftmax;                       // softmax.cpp
extern const OpDef kAdd;                           // add.cpp
extern const OpDef kConcat;                        // concat.cpp
extern const OpDef kPad;                           // pad.cpp
extern const OpDef kMean;                          // mean.cpp

namespace {

const OpDef *const kAll[] = {&kConv2D, &kDepthwiseConv2D, &kBatchNorm, &kReLU,    &kReLU6, &kMaxPool, &kAvgPool,
                             &kGlobalAvgPool, &kFlatten, &kDense, &kDropout, &kSoftmax, &kAdd, &kConcat,
                             &kPad,     &kMean};
constexpr size_t kTableSize = 64;

// The table indexed by the op's number; built on first use.
const std::array<const OpDef *, kTableSize> &table() {
  static const std::array<const OpDef *, kTableSize> t = [] {
    std::array<const OpDef *, kTableSize> a{};
    for (const OpDef *d : kAll) {
      const auto i = static_cast<size_t>(d->op);
      if (i >= kTableSize || a[i] != nullptr) fail(std::string("internal: op ") + d->name + " is registered twice or out of range");
      a[i] = d;
    }
    return a;
  }();
  return t;
}

}  // namespace

const OpDef *find_op(model::Op op) {
  const auto i = static_cast<size_t>(op);
  return i < kTableSize ? table()[i] : nullptr;
}

const OpDef &op_def(model::Op op) {
  const OpDef *d = find_op(op);
  if (d == nullptr) fail("internal: op number " + std::to_string(static_cast<int>(op)) + " has no entry in src/ops/registry.cpp");
  return *d;
}

std::string inputs_expected(const OpDef &d) {
  if (d.max_inputs < 0) return "at least " + std::to_string(d.min_inputs);
  if (d.min_inputs == d.max_inputs) return std::to_string(d.min_inputs);
  return std::to_string(d.min_inputs) + " to " + std::to_string(d.max_inputs);
}

bool input_count_ok(const OpDef &d, size_t n) {
  return n >= static_cast<size_t>(d.min_inputs) && (d.max_inputs < 0 || n <= static_cast<size_t>(d.max_inputs));
}

}  // namespace qp::ops
