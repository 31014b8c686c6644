#include "quant/model_file.h"

#include "common/error.h"
#include "tflite/tflite_read.h"

namespace qp::quant {

ModelFormat model_format(const std::string &path) {
  return tflite::is_tflite_file(path) ? ModelFormat::Tflite : ModelFormat::Onnx;
}

bool is_int8_model(const std::string &path) {
  return model_format(path) == ModelFormat::Tflite || is_int8_onnx(path);
}

QModelFile load_int8_model(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite) return tflite::load_int8_tflite(path).file;
  return load_qdq_onnx(path);
}

model::ModelFile load_fp32_model(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite)
    fail("'" + path + "' is a TensorFlow Lite file; qparity reads int8 .tflite models only (FP32 .tflite is not supported yet)",
         "use the int8 model as it is (eval, firmware, device run take it), or quantize from the FP32 ONNX model");
  return model::load_onnx(path);
}

std::string describe_int8_file(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite) return tflite::describe_int8_tflite(tflite::load_int8_tflite(path));
  return describe_int8_model(load_qdq_onnx(path));
}

}  // namespace qp::quant
