#include "quant/model_file.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/sha256.h"
#include "quant/input_map.h"
#include "tflite/tflite_read.h"

namespace qp::quant {

ModelFormat model_format(const std::string &path) {
  return tflite::is_tflite_file(path) ? ModelFormat::Tflite : ModelFormat::Onnx;
}

bool is_int8_model(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite) return !tflite::is_fp32_tflite_file(path);  // FP32 .tflite: an FP32 model
  return is_int8_onnx(path);
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

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// A .tflite that states no convention, run with the default 0,1: refused when its input quantization shows
// another range (0..1 would use under 64 input codes, or be clipped), else said on stderr.
void check_default_convention(const QModelFile &f) {
  const QParams q = f.model.input_params();
  const double span = std::round(1.0 / static_cast<double>(q.scale));  // codes from real 0 to real 1
  const double s = static_cast<double>(q.scale);
  const double lo = s * (-128.0 - q.zero_point), hi = s * (127.0 - q.zero_point);
  if (span < 64 || q.zero_point + span > 128)
    fail("'" + f.path + "' states no input convention and its input (scale " + num(q.scale) + ", zero point " +
             std::to_string(q.zero_point) + ") holds reals " + num(lo) + ".." + num(hi) +
             ", which the default --input-range 0,1 (pixel/255) does not fit",
         "pass the convention the model was trained with, e.g. --input-range " + num(lo) + "," + num(hi) +
             (std::round(lo) == lo && std::round(hi) == hi ? "" : " (or the round range it stands for, e.g. -1,1)") +
             ", with --mean/--std if it normalizes");
  std::fprintf(stderr, "note: '%s' states no input convention; using the default --input-range 0,1 (pixel/255)\n",
               f.path.c_str());
}

}  // namespace

void apply_input_override(QModelFile &f, const InputOverride &o) {
  const int outputs = f.model.layers.back().out.c;
  if (!o.classes.empty()) {
    if (static_cast<int>(o.classes.size()) != outputs)
      fail("the class names (--classes, else labels.txt beside the model) are " + std::to_string(o.classes.size()) +
               " classes but '" + f.path + "' outputs " +
               std::to_string(outputs) + " scores",
           "pass --classes with " + std::to_string(outputs) + " names in output order");
    f.model.classes = o.classes;
  }
  const bool tflite = model_format(f.path) == ModelFormat::Tflite;
  const bool stated = tflite ? f.metadata.count("qparity.input") > 0 : true;  // a QDQ file omits the default
  if (!o.convention) {
    if (!stated) check_default_convention(f);
    return;
  }
  const InputConvention &ic = *o.convention;
  check_convention(ic, f.model.input.c);
  if (ic == f.model.convention) return;
  if (!f.model.convention.is_default() || (tflite && stated))
    fail("'" + f.path + "' states its input convention (" + convention_to_string(f.model.convention) + ") but the options say " +
             convention_to_string(ic),
         "drop --input-range/--mean/--std for this model (it carries its own), or pass the ones it states");
  f.model.convention = ic;
  const std::string id = f.sha256 + " input " + convention_to_string(ic);
  f.sha256 = sha256_hex(id.data(), id.size());
}

QModelFile load_int8_model(const std::string &path, const InputOverride &o) {
  QModelFile f = load_int8_model(path);
  apply_input_override(f, o);
  return f;
}

model::ModelFile load_fp32_model(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite) {
    if (tflite::is_fp32_tflite_file(path)) return tflite::load_fp32_tflite(path);
    tflite::load_int8_tflite(path);  // an unreadable file fails here with the reader's message
    fail("'" + path + "' is an int8 TensorFlow Lite file, not an FP32 model",
         "use the int8 model as it is (eval, firmware, device run take it), or quantize from the FP32 model (.onnx or "
         "float32 .tflite)");
  }
  return model::load_onnx(path);
}

std::string describe_int8_file(const std::string &path) {
  if (model_format(path) == ModelFormat::Tflite) return tflite::describe_int8_tflite(tflite::load_int8_tflite(path));
  return describe_int8_model(load_qdq_onnx(path));
}

}  // namespace qp::quant
