#include "quant/model_file.h"

#include <filesystem>
#include <fstream>

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
  if (model_format(path) != ModelFormat::Tflite) return load_qdq_onnx(path);
  QModelFile f = tflite::load_int8_tflite(path).file;
  // No class names in the file: labels.txt beside it (one name per line, what 'qparity quantize --out x.tflite'
  // writes), when it names one class per output.
  const auto labels = std::filesystem::path(path).parent_path() / "labels.txt";
  std::ifstream in(labels);
  if (f.model.classes.empty() && in) {
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) names.push_back(line);
    }
    if (names.size() != static_cast<size_t>(f.model.layers.back().out.c))
      fail("'" + labels.string() + "' names " + std::to_string(names.size()) + " classes, but '" + path + "' has " +
               std::to_string(f.model.layers.back().out.c) + " outputs",
           "write one class name per output, in output order");
    f.model.classes = names;
  }
  return f;
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
