// The FlatBuffers assembly shared by the .tflite writers (see tflite_build.h).
#include "tflite/tflite_build.h"

#include <algorithm>

#include "common/error.h"

namespace qp::tflite {

TfliteBuilder::TfliteBuilder() { buffers_.push_back(fb::BufferBuilder(fbb_).Finish()); }

void TfliteBuilder::refuse(const std::string &what, const std::string &fix) const { fail(where_ + ": " + what, fix); }

uint32_t TfliteBuilder::buffer(const void *data, size_t n) {
  if (n == 0) return 0;
  fbb_.ForceVectorAlignment(n, 1, 16);  // the schema's force_align: TFLM reads int32 data in place
  const auto v = fbb_.CreateVector(static_cast<const uint8_t *>(data), n);
  fb::BufferBuilder b(fbb_);
  b.add_data(v);
  buffers_.push_back(b.Finish());
  return static_cast<uint32_t>(buffers_.size() - 1);
}

int TfliteBuilder::tensor(const std::string &name, const std::vector<int32_t> &shape, fb::TensorType type, uint32_t buf,
                         Off<fb::QuantizationParameters> q) {
  const auto sh = fbb_.CreateVector(shape);
  const auto nm = fbb_.CreateString(name);
  fb::TensorBuilder b(fbb_);
  b.add_shape(sh);
  b.add_type(type);
  b.add_buffer(buf);
  b.add_name(nm);
  if (!q.IsNull()) b.add_quantization(q);
  tensors_.push_back(b.Finish());
  return static_cast<int>(tensors_.size() - 1);
}

int TfliteBuilder::int32_constant(const std::string &name, const std::vector<int32_t> &values,
                                 const std::vector<int32_t> &shape) {
  return tensor(name, shape, fb::TensorType_INT32, buffer(values.data(), values.size() * sizeof(int32_t)));
}

void TfliteBuilder::op(fb::BuiltinOperator code, const std::vector<int> &in, int out, fb::BuiltinOptions type,
                      Off<void> options) {
  const auto it = std::find(codes_.begin(), codes_.end(), code);
  const auto index = static_cast<uint32_t>(it - codes_.begin());
  if (it == codes_.end()) codes_.push_back(code);
  const auto iv = fbb_.CreateVector(in);
  const auto ov = fbb_.CreateVector(std::vector<int32_t>{out});
  fb::OperatorBuilder b(fbb_);
  b.add_opcode_index(index);
  b.add_inputs(iv);
  b.add_outputs(ov);
  if (type != fb::BuiltinOptions_NONE) {
    b.add_builtin_options_type(type);
    b.add_builtin_options(options);
  }
  operators_.push_back(b.Finish());
}

std::vector<uint8_t> TfliteBuilder::finish(const std::map<std::string, std::string> &metadata, int output,
                                          const char *description, int (*version)(fb::BuiltinOperator)) {
  std::vector<Off<fb::Metadata>> meta;
  for (const auto &[key, value] : metadata) {
    const uint32_t b = buffer(value.data(), value.size());
    const auto name = fbb_.CreateString(key);
    fb::MetadataBuilder mb(fbb_);
    mb.add_name(name);
    mb.add_buffer(b);
    meta.push_back(mb.Finish());
  }
  std::vector<Off<fb::OperatorCode>> codes;
  for (const fb::BuiltinOperator c : codes_) {
    fb::OperatorCodeBuilder b(fbb_);
    b.add_deprecated_builtin_code(static_cast<int8_t>(std::min<int>(c, 127)));
    b.add_builtin_code(c);
    b.add_version(version(c));
    codes.push_back(b.Finish());
  }
  const auto tv = fbb_.CreateVector(tensors_);
  const auto iv = fbb_.CreateVector(std::vector<int32_t>{0});
  const auto ov = fbb_.CreateVector(std::vector<int32_t>{output});
  const auto opv = fbb_.CreateVector(operators_);
  const auto sname = fbb_.CreateString("main");
  fb::SubGraphBuilder sg(fbb_);
  sg.add_tensors(tv);
  sg.add_inputs(iv);
  sg.add_outputs(ov);
  sg.add_operators(opv);
  sg.add_name(sname);
  const auto subgraph = sg.Finish();
  const auto codes_v = fbb_.CreateVector(codes);
  const auto subgraphs = fbb_.CreateVector(std::vector<Off<fb::SubGraph>>{subgraph});
  const auto desc = fbb_.CreateString(description);
  const auto bufs = fbb_.CreateVector(buffers_);
  const auto metas = fbb_.CreateVector(meta);
  fb::ModelBuilder mb(fbb_);
  mb.add_version(3);
  mb.add_operator_codes(codes_v);
  mb.add_subgraphs(subgraphs);
  mb.add_description(desc);
  mb.add_buffers(bufs);
  mb.add_metadata(metas);
  fb::FinishModelBuffer(fbb_, mb.Finish());
  const uint8_t *p = fbb_.GetBufferPointer();
  std::vector<uint8_t> bytes(p, p + fbb_.GetSize());
  flatbuffers::Verifier v(bytes.data(), bytes.size());
  if (!fb::VerifyModelBuffer(v)) fail("internal: the TensorFlow Lite file qparity built does not pass the FlatBuffers verifier");
  return bytes;
}

}  // namespace qp::tflite
