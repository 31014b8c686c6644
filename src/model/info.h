// `qparity info MODEL`: a human-readable description of a model file.
#pragma once
#include <string>

#include "model/onnx_io.h"

namespace qp::model {

// Layer table (op, output shape, parameters, MACs; for a graph with branches each layer's inputs, "<- 3, 7"),
// totals, classes, file size and hash.
std::string describe_model(const ModelFile &m);

}  // namespace qp::model
