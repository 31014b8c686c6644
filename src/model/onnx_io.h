// Reading and writing FP32 models as ONNX (opset 13, standard ops) through libonnx and protobuf.
//
//   qp::model::save_onnx(graph, "model.onnx", {{"qparity.train.seed", "1"}});
//   qp::model::ModelFile m = qp::model::load_onnx("model.onnx");   // m.graph is ready to execute
//
// Written graphs: input "input" float32 [N,C,H,W] (pixels p/255), output "probs" [N,K] when the model
// ends in Softmax (else "logits"); ops Conv, Relu, Clip (ReLU6), MaxPool, AveragePool,
// GlobalAveragePool, Flatten, Gemm, Softmax, Add and Concat (axis 1): a layer's inputs are the tensors
// its IR producers wrote, so residual/concat graphs are DAGs of named tensors. BatchNorm is folded,
// Dropout dropped. Metadata keys:
//   qparity.classes   JSON array of class names, in output order
//   qparity.arch      the preset or spec the model was built from
//   qparity.input     the input convention, in words
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "model/ir.h"

namespace qp::model {

struct ModelFile {
  std::string path;
  Graph graph;  // inference graph (no Dropout; BatchNorm only if the file had unfused BatchNormalization)
  std::map<std::string, std::string> metadata;
  int64_t file_bytes = 0;
  std::string sha256;  // of the file's bytes
  int opset = 0;
  std::string producer;
};

// Writes the inference form of `g` (folded) and checks it with onnx's checker before renaming it into
// place. Throws qp::Error.
void save_onnx(const Graph &g, const std::string &path, const std::map<std::string, std::string> &extra_metadata = {});

// Serialized bytes of the inference form of `g` (what save_onnx writes).
std::string onnx_bytes(const Graph &g, const std::map<std::string, std::string> &extra_metadata = {});

// Reads an FP32 ONNX model. Clear qp::Error for: a missing file, a file that is not ONNX or is
// truncated, a model the checker rejects, an op qparity does not support (named, with the list), an
// INT8 (QDQ) model, an input that is not float32 [N,C,H,W] with square H = W, an Add of tensors of
// different shapes or of a constant, a Concat not along channels or of different H/W, a node reading a
// tensor no earlier node computed, and a node whose output nothing reads.
ModelFile load_onnx(const std::string &path);

}  // namespace qp::model
