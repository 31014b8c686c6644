// Writing INT8 models as TensorFlow Lite files (FlatBuffers, schema version 3; qparity's own schema
// subset src/tflite/tflite_subset.fbs), for TensorFlow Lite Micro to load unmodified and compute the
// bytes qparity computes.
//
//   qp::tflite::save_int8_tflite(q, "model.tflite");                 // temp file + rename
//   qp::tflite::write_int8_model(q, "model.tflite", extra, force);    // .onnx or .tflite by extension
//
// One subgraph; int8 NHWC activations; buffer 0 empty; every constant tensor its own 16-byte aligned
// buffer. Ops: Conv2D -> CONV_2D (filter OHWI, per-channel scales on axis 0), DepthwiseConv2D ->
// DEPTHWISE_CONV_2D (filter [1,KH,KW,C*M], scales on axis 3), Dense -> FULLY_CONNECTED (one weight scale:
// per-tensor), Add -> ADD, Concat -> CONCATENATION (axis = channels), MaxPool/AvgPool -> MAX_POOL_2D /
// AVERAGE_POOL_2D, GlobalAvgPool -> AVERAGE_POOL_2D over the whole map (TFLite's rounded division, the
// arithmetic of qp_pool_global_avg_s8; MEAN rounds differently), Mean -> MEAN (axes [1,2]), Pad -> PAD,
// Flatten -> RESHAPE (new shape as an int32 constant and in the options), Softmax -> SOFTMAX (beta);
// fused activations NONE/RELU/RELU6; SAME/VALID padding where it equals the layer's pad_top/pad_left.
//
// Before writing, each layer's integers are recomputed the way TensorFlow Lite Micro prepares them
// from the file's float32 scales (multipliers, clamps of fused activations, ADD and SOFTMAX
// parameters); where they would differ from the QLayer's, or where TFLM's kernel computes something
// else (CONCATENATION copies bytes without requantizing; per-channel FULLY_CONNECTED), writing fails
// with a qp::Error naming the layer and what to change: a file is never written that decides differently.
//
// Metadata entries (each a Metadata table pointing to a buffer of UTF-8 bytes):
//   qparity.classes   class names, newline-separated, in output order
//   qparity.input     the input convention's stored form (quant/input_map.h: "range=0,1", mean/std)
//   qparity.input.description  the same in words, with the tensor, its scale and zero point, the pixel mapping
//   qparity.quant.*   the quantization options; plus the caller's extra entries (qparity.arch, ...)
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "quant/qmodel.h"

namespace qp::tflite {

// The .tflite bytes of an INT8 model. qp::Error (naming the layer) when TFLite Micro would not compute
// the model's bytes, or for a model the format cannot hold.
std::vector<uint8_t> int8_tflite_bytes(const quant::QModel &m, const std::map<std::string, std::string> &extra_metadata = {});

// Writes int8_tflite_bytes to `path` through a temporary file and a rename (after running the FlatBuffers
// verifier on the bytes).
void save_int8_tflite(const quant::QModel &m, const std::string &path,
                      const std::map<std::string, std::string> &extra_metadata = {});

// The float32 .tflite bytes of an FP32 graph (its inference form: BatchNorm folded, Dropout removed; NHWC, filters
// OHWI, depthwise [1,KH,KW,C*M], Dense columns after a flattened map in HWC order; a ReLU/ReLU6 fused into the conv,
// dense, add, concat or pooling layer it alone reads, else refused). Metadata: qparity.classes (one per line),
// qparity.arch, qparity.precision = fp32, plus `extra_metadata`. tflite_read's read_fp32_tflite reads it back.
std::vector<uint8_t> fp32_tflite_bytes(const model::Graph &g, const std::map<std::string, std::string> &extra_metadata = {});
// Writes fp32_tflite_bytes to `path` through a temporary file and a rename.
void save_fp32_tflite(const model::Graph &g, const std::string &path,
                      const std::map<std::string, std::string> &extra_metadata = {});

// "" when two FP32 graphs compute the same (classes, input, and per layer op, edges, shapes, windows, paddings,
// weights and biases bit for bit), else the first difference in words.
std::string fp32_graph_difference(const model::Graph &a, const model::Graph &b);

// Metadata qparity.input.description: the input tensor, its scale and zero point, and how pixels map to it.
std::string input_description(const quant::QModel &m);

// "" when two INT8 models compute the same bytes (same classes, input, and per layer op, activation, edges,
// shapes, windows, scales, zero points, weights, biases, multipliers, shifts, clamps, ADD and SOFTMAX
// parameters), else the first difference in words ("layer 3 Conv2D: multipliers differ").
std::string int8_model_difference(const quant::QModel &a, const quant::QModel &b);

// The format of an INT8 model file by its extension: ".onnx" (QDQ ONNX) or ".tflite". qp::Error for any
// other extension, naming `what` (e.g. "--out").
enum class Int8Format { QdqOnnx, Tflite };
Int8Format int8_format_for(const std::string &path, const std::string &what);

// Writes an INT8 model in the format its extension names (save_qdq_onnx or save_int8_tflite). An existing
// `path` is refused unless `force`. For .tflite, also writes the class names to labels.txt beside the
// model (one per line); an existing labels.txt with other contents is refused unless `force`.
// Returns the labels.txt path written ("" for .onnx).
std::string write_int8_model(const quant::QModel &m, const std::string &path,
                             const std::map<std::string, std::string> &extra_metadata, bool force);

}  // namespace qp::tflite
