// Internal to src/tflite: the FlatBuffers assembly both .tflite writers share (tflite_write.cpp for INT8
// QModels, tflite_write_fp32.cpp for FP32 graphs): buffers (buffer 0 the empty sentinel, constants 16-byte
// aligned), tensors, operators with their operator-code table, and the final Model table (one subgraph
// "main", metadata entries as buffers, FlatBuffers verifier). Each writer derives from TfliteBuilder and
// adds its own layer mapping.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tflite/tflite_subset_generated.h"

namespace qp::tflite {

using Fbb = flatbuffers::FlatBufferBuilder;
template <typename T>
using Off = flatbuffers::Offset<T>;

class TfliteBuilder {
 protected:
  TfliteBuilder();  // adds buffer 0, the empty sentinel

  Fbb fbb_{1 << 16};
  std::vector<Off<fb::Buffer>> buffers_;
  std::vector<Off<fb::Tensor>> tensors_;
  std::vector<Off<fb::Operator>> operators_;
  std::vector<fb::BuiltinOperator> codes_;  // opcode index -> builtin code
  std::string where_;                       // "layer 3 (Conv2D+relu)": what refuse() names

  [[noreturn]] void refuse(const std::string &what, const std::string &fix) const;

  // A buffer holding n bytes (the sentinel 0 when n == 0), 16-byte aligned: TFLM reads int32 data in place.
  uint32_t buffer(const void *data, size_t n);
  int tensor(const std::string &name, const std::vector<int32_t> &shape, fb::TensorType type, uint32_t buf,
             Off<fb::QuantizationParameters> q = 0);
  int int32_constant(const std::string &name, const std::vector<int32_t> &values, const std::vector<int32_t> &shape);
  void op(fb::BuiltinOperator code, const std::vector<int> &in, int out, fb::BuiltinOptions type, Off<void> options);

  // The verified file: metadata buffers, operator codes (version(code) each), the subgraph with input tensor 0
  // and output tensor `output`, the Model table with `description`.
  std::vector<uint8_t> finish(const std::map<std::string, std::string> &metadata, int output, const char *description,
                              int (*version)(fb::BuiltinOperator));
};

}  // namespace qp::tflite
