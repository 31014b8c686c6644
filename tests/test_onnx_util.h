// ONNX protobuf helpers for tests that craft model files: read a model, change one thing, write it.
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <string>

#include "data/image_io.h"

namespace qp::test {

inline onnx::ModelProto read_proto(const std::string &path) {
  const auto bytes = data::read_file_bytes(path);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  return m;
}

inline void write_proto(const onnx::ModelProto &m, const std::string &path) {
  std::string s;
  m.SerializeToString(&s);
  std::ofstream(path, std::ios::binary) << s;
}

}  // namespace qp::test
