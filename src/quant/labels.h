// One label per graph node, the same in every stage that names a layer (firmware comments, verify's
// triage, device triage, inspect, the report):
//
//   quant::layer_label(q, 3)   // "3 Conv2D+relu"          (reads the layer before it: no inputs shown)
//   quant::layer_label(q, 7)   // "7 Add+relu <- 3,6"       (a DAG node names its producers)
//   quant::layer_label(q, 0)   // "0 Conv2D"; a first layer reading the image is the chain case too
//   quant::layer_label(q, 5)   // "5 Conv2D <- in"          (reads the graph input out of order)
//   quant::layer_label(r, 2)   // "2 Conv2D+relu 'model/activation_1/Relu'"  (an imported model: its output tensor's
//                              //  name in the file, short_tensor_name)
//
// The index is the QModel layer index (the trace order, topological), the op is model::op_name, the
// activation the one fused into it.
#pragma once
#include <string>
#include <vector>

#include "quant/qmodel.h"

namespace qp::quant {

// The label from its parts, for readers that only have a file (inspection.json, verdict.json):
// `inputs` are producer indices (model::kGraphInput = -1 for the image); empty = the previous layer; `tensor` the
// output tensor's name in the model file (Layer::q.name; empty: none), shown as model::short_tensor_name gives it.
std::string format_layer_label(int index, const std::string &op, const std::string &activation, const std::vector<int> &inputs,
                               const std::string &tensor = "");


// The label of QModel layer k ("3 Conv2D+relu", "7 Add+relu <- 3,6"). Throws qp::Error when k is out of range.
std::string layer_label(const QModel &m, size_t k);

// Every layer's label, in layer (trace) order.
std::vector<std::string> layer_labels(const QModel &m);

}  // namespace qp::quant
