// One way to open a model file for every command: the format is decided by the file's content, not its
// extension (a TensorFlow Lite file carries "TFL3" at bytes 4..7; anything else is read as ONNX).
//
//   qp::quant::QModelFile f = qp::quant::load_int8_model("model.tflite");   // or a QDQ .onnx
//   qp::model::ModelFile g = qp::quant::load_fp32_model("model.onnx");
#pragma once
#include <string>

#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"

namespace qp::quant {

enum class ModelFormat { Onnx, Tflite };
// By content; a missing or unreadable file counts as ONNX (its reader names the problem).
ModelFormat model_format(const std::string &path);

// True when `path` is an INT8 model: a TensorFlow Lite file (qparity reads int8 ones) or a qparity QDQ ONNX.
bool is_int8_model(const std::string &path);

// An INT8 model: QDQ ONNX written by qparity (load_qdq_onnx) or a full-integer int8 TensorFlow Lite file
// (tflite::load_int8_tflite; class names from its metadata, else from labels.txt beside it, one per line and one
// per output). Throws qp::Error naming the file and the fix.
QModelFile load_int8_model(const std::string &path);

// An FP32 model (ONNX). A TensorFlow Lite file is refused with the fix (int8 ones are used as they are).
model::ModelFile load_fp32_model(const std::string &path);

// `qparity info` text for an INT8 model file of either format.
std::string describe_int8_file(const std::string &path);

}  // namespace qp::quant
