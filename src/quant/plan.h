// The memory planner: one arena for every tensor of an INT8 model, shared by the host engines
// (Int8Engine) and the generated firmware (qp_model.c), so both lay out tensors by the same rule.
//
//   const auto plan = qp::quant::plan_arena(model, scratch_bytes_per_layer);
//   plan.arena_bytes;   // the peak: what the firmware allocates
//   plan.naive_bytes;   // every tensor in its own buffer
//
// A tensor lives from the layer that writes it to the last layer that reads it (the model's output to
// the end), so a residual shortcut keeps its input alive across its branch. A Flatten only aliases its
// input (same bytes). A layer's scratch lives only while that layer runs. Tensors whose lifetimes overlap
// never share bytes; placement is first fit, largest tensor first, 4-byte aligned.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/qmodel.h"

namespace qp::quant {

struct ArenaPlan {
  std::vector<uint32_t> tensor_offset, tensor_bytes;  // tensor 0 = the model input
  std::vector<int> layer_tensor;                      // which tensor holds layer k's output
  std::vector<std::vector<int>> layer_inputs;         // which tensors layer k reads
  std::vector<int> layer_scratch;                     // the tensor that is layer k's scratch (-1: none)
  std::vector<int> first_use, last_use;               // per tensor: the layers between which it is alive (-1: before layer 0)
  uint32_t arena_bytes = 0;                           // peak: the arena's size
  uint32_t naive_bytes = 0;                           // the sum of all tensors (no reuse)
};

// scratch_bytes: per layer, the scratch it needs (may be shorter than the layer count: 0 for the rest).
// `align` rounds each tensor's offset (4 for the firmware, 64 for host SIMD).
ArenaPlan plan_arena(const QModel &m, const std::vector<uint32_t> &scratch_bytes, uint32_t align = 4);

}  // namespace qp::quant
