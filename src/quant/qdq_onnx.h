// INT8 models as ONNX in QDQ form: float activations wrapped in QuantizeLinear/DequantizeLinear,
// int8 weights (per-channel scales, axis 0) and int32 biases behind DequantizeLinear, standard float
// ops between (Conv, Gemm, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Flatten, Softmax, and
// Add / Concat(axis 1) between the dequantized outputs of their producers, requantized by the
// QuantizeLinear after them), opset 13 - so ONNX Runtime and Netron load it. Everything the integer
// runtime needs is rebuilt from the file bit for bit: weights, biases, float32 scales and zero points
// are stored exactly, the layer list (op, fused activation, window, stride, padding, shapes and the
// producers each layer reads, "inputs") is in metadata "qparity.int8.layers", and multipliers, shifts
// and ADD parameters are recomputed by derive_requantization. Weights are converted between the
// file's NCHW layouts and the runtime's NHWC ones by model/layout.h.
#pragma once
#include <map>
#include <string>

#include "quant/qmodel.h"

namespace qp::quant {

struct QModelFile {
  std::string path;
  QModel model;
  std::map<std::string, std::string> metadata;
  int64_t file_bytes = 0;
  std::string sha256;
};

// Writes the model (checked by onnx's checker first). `extra_metadata` is added to the metadata.
void save_qdq_onnx(const QModel &m, const std::string &path, const std::map<std::string, std::string> &extra_metadata = {});

// True when the ONNX file at `path` parses and is a qparity INT8 model (metadata qparity.precision = int8).
bool is_int8_onnx(const std::string &path);

// Reads a model written by save_qdq_onnx. qp::Error for anything else (an FP32 model: "quantize it
// first"; a foreign QDQ model; a missing or inconsistent tensor; layers whose edges do not point to
// earlier layers or whose shapes do not fit (Add: same shapes, Concat: same height and width); graph
// nodes that differ from the metadata - op, inputs, attributes - or that no layer accounts for).
QModelFile load_qdq_onnx(const std::string &path);

// `qparity info` for an INT8 model: per-layer scales and zero points, parameter bytes FP32 vs INT8
// and the compression ratio, file size and hash.
std::string describe_int8_model(const QModelFile &f);

}  // namespace qp::quant
