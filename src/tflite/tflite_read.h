// Reading TensorFlow Lite files (FlatBuffers, schema version 3, through qparity's own schema subset
// src/tflite/tflite_subset.fbs): a full-integer int8 model becomes a quant::QModel whose integers are
// the ones TensorFlow Lite (Micro) computes with.
//
//   qp::tflite::Int8Tflite t = qp::tflite::load_int8_tflite("model.tflite");
//   qp::quant::Int8Engine engine(t.file.model);
//   engine.run_int8(input_tensor);          // the bytes TFLite Micro's reference kernels compute
//   t.layer_tensor[k];                        // the TFLite tensor layer k's output is
//
// The file is untrusted: the FlatBuffers verifier runs on every buffer first, then every index (opcode,
// tensor, buffer), shape, buffer length and quantization array is checked before it is used; anything
// else is a qp::Error naming the file, the operator (index and op) or tensor, and what qparity supports.
//
// Mapping (the QModel is NHWC like TFLite, so weights keep their bytes): CONV_2D -> Conv2D (filter OHWI,
// per-channel or per-tensor scales on axis 0), DEPTHWISE_CONV_2D -> DepthwiseConv2D (filter [1,K,K,C*M], depth
// multiplier M = output / input channels, scales on axis 3), FULLY_CONNECTED -> Dense (weights [OUT][IN], IN in the
// NHWC flatten order; a Flatten is inserted when its input is a feature map), ADD -> Add, CONCATENATION (channels,
// inputs quantized as the output) -> Concat, AVERAGE_POOL_2D -> AvgPool (GlobalAvgPool when the window is the whole
// unpadded map), MAX_POOL_2D -> MaxPool, MEAN over H and W -> Mean (keep_dims), PAD / PADV2 (H and W, the zero
// point) -> Pad, RESHAPE to [1, N] -> Flatten, SOFTMAX -> Softmax (beta); QUANTIZE of a float32 graph input and
// DEQUANTIZE to a float32 graph output at the edges (the QModel is the int8 part between). Fused activations
// NONE, RELU, RELU6 (TFLite's clamp); SAME/VALID padding by TFLite's rule (the odd pixel bottom/right); square
// windows, equal strides, dilation 1. Multipliers, shifts and ADD/SOFTMAX/MEAN parameters are recomputed by
// quant::derive_requantization from the file's float32 scales, as TFLite does at Prepare.
//
// Metadata: entries whose buffer holds text are kept in QModelFile::metadata (trailing NULs dropped);
// "qparity.classes" (class names, one per line: what tflite_write writes) sets the model's classes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/onnx_io.h"
#include "quant/qdq_onnx.h"

namespace qp::tflite {

// True when the bytes are a TensorFlow Lite model: the FlatBuffers file identifier "TFL3" at bytes 4..7.
bool is_tflite_bytes(const uint8_t *data, size_t size);
// The same for a file's first 8 bytes (false when it cannot be read).
bool is_tflite_file(const std::string &path);

// An int8 TFLite model as a QModel, with where each layer came from.
struct Int8Tflite {
  quant::QModelFile file;               // the model, the file's text metadata, size and sha256
  std::vector<int> layer_tensor;        // per QLayer: the TFLite tensor its output is (-1: a Flatten qparity inserted)
  std::vector<int> layer_operator;      // per QLayer: the TFLite operator it comes from (-1: inserted)
  int input_tensor = -1;                // the int8 tensor the QModel's input is
  int output_tensor = -1;               // the int8 tensor the QModel's output is
  std::vector<std::string> operators;   // per TFLite operator: its op name ("CONV_2D", ...)
  std::string description;              // Model.description
};

// Reads an int8 model from memory; `name` names it in messages. Throws qp::Error.
Int8Tflite read_int8_tflite(const uint8_t *data, size_t size, const std::string &name);
// Reads the file at `path` (at most 1 GiB). Throws qp::Error.
Int8Tflite load_int8_tflite(const std::string &path);

// FP32 models (float32 throughout, the same operators without QUANTIZE/DEQUANTIZE) as qparity's FP32 graph, with
// the same checks: activations NHWC -> NCHW, CONV_2D filters OHWI -> OIHW, DEPTHWISE_CONV_2D [1,KH,KW,C*M] ->
// [C*M][1][KH][KW], FULLY_CONNECTED columns after a flattened map HWC -> CHW (model/layout.h), fused RELU/RELU6 as
// ReLU/ReLU6 layers. A mixed float/int8 (hybrid) model is refused; so is an int8 model (read_int8_tflite reads it).
model::ModelFile read_fp32_tflite(const uint8_t *data, size_t size, const std::string &name);
model::ModelFile load_fp32_tflite(const std::string &path);
// True when the bytes/file are a TFLite model the FlatBuffers verifier accepts whose input is float32 and whose
// first operator is not a QUANTIZE (an FP32 model; false for int8 ones and for anything unreadable).
bool is_fp32_tflite_bytes(const uint8_t *data, size_t size);
bool is_fp32_tflite_file(const std::string &path);

// `qparity info` for an int8 TFLite model: operators with their TFLite tensors, scales and zero points,
// weights, MACs, parameter bytes and the arena the memory planner lays out.
std::string describe_int8_tflite(const Int8Tflite &t);

}  // namespace qp::tflite
