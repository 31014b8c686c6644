// One way to open a model file for every command: the format is decided by the file's content, not its
// extension (a TensorFlow Lite file carries "TFL3" at bytes 4..7; anything else is read as ONNX).
//
//   qp::quant::QModelFile f = qp::quant::load_int8_model("model.tflite");   // or a QDQ .onnx
//   qp::model::ModelFile g = qp::quant::load_fp32_model("model.onnx");
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"

namespace qp::quant {

enum class ModelFormat { Onnx, Tflite };
// By content; a missing or unreadable file counts as ONNX (its reader names the problem).
ModelFormat model_format(const std::string &path);

// True when `path` is an INT8 model: a TensorFlow Lite file that is not float32 throughout, or a qparity QDQ ONNX.
bool is_int8_model(const std::string &path);

// An INT8 model: QDQ ONNX written by qparity (load_qdq_onnx) or a full-integer int8 TensorFlow Lite file
// (tflite::load_int8_tflite; class names from its metadata, else from labels.txt beside it, one per line and one
// per output). Throws qp::Error naming the file and the fix.
QModelFile load_int8_model(const std::string &path);

// The input convention and class names a command line gives for an INT8 model (--input-range/--mean/--std,
// --classes; cli/input_options.h): what a foreign .tflite does not state. Empty: not given.
struct InputOverride {
  std::optional<InputConvention> convention;  // checked against the model's channels when applied
  std::vector<std::string> classes;           // checked against the model's outputs when applied
};

// Applies `o` to a loaded INT8 model, the one rule of eval, firmware, device run and verify's triage:
// - a convention that contradicts the non-default one the file states is refused; one the file does not state
//   makes another model: f.sha256 becomes SHA-256 of "<file sha256> input <convention>", so the firmware's
//   HELLO, device.json and the host's results.json name the model and the convention together (a device built
//   with another convention is refused as another model);
// - none given for a .tflite that states none (not written by qparity): the default 0,1 (pixel/255) is used and
//   said on stderr, unless the file's input quantization shows another range: when 0..1 would use under 64 of the
//   256 input codes or be clipped, a qp::Error names the range the input tensor holds (e.g. --input-range 0,255);
// - classes replace the model's after a count check.
void apply_input_override(QModelFile &f, const InputOverride &o);
QModelFile load_int8_model(const std::string &path, const InputOverride &o);

// An FP32 model: ONNX, or a float32 TensorFlow Lite file (tflite::load_fp32_tflite). An int8 .tflite is refused with
// the fix (int8 ones are used as they are).
model::ModelFile load_fp32_model(const std::string &path);

// `qparity info` text for an INT8 model file of either format.
std::string describe_int8_file(const std::string &path);

}  // namespace qp::quant
