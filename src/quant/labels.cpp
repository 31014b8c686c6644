#include "quant/labels.h"

#include "common/error.h"

namespace qp::quant {

std::string format_layer_label(int index, const std::string &op, const std::string &activation, const std::vector<int> &inputs,
                               const std::string &tensor) {
  std::string n = std::to_string(index) + " " + op + (activation.empty() ? "" : "+" + activation);
  // A chain node (reads the layer before it; layer 0 reads the image) needs no edges; any other node
  // names its producers, so a residual branch can be followed from the label alone.
  const bool chain = inputs.empty() || (inputs.size() == 1 && inputs[0] == index - 1);
  if (!chain) {
    n += " <-";
    for (size_t j = 0; j < inputs.size(); ++j)
      n += (j ? "," : " ") + (inputs[j] < 0 ? std::string("in") : std::to_string(inputs[j]));
  }
  if (!tensor.empty()) n += " '" + model::short_tensor_name(tensor) + "'";
  return n;
}

std::string layer_label(const QModel &m, size_t k) {
  if (k >= m.layers.size())
    fail("internal: layer " + std::to_string(k) + " asked for a label, but the model has " + std::to_string(m.layers.size()) +
         " layers");
  const QLayer &l = m.layers[k];
  return format_layer_label(static_cast<int>(k), model::op_name(l.op), l.q.activation, l.inputs, l.q.name);
}

std::vector<std::string> layer_labels(const QModel &m) {
  std::vector<std::string> v;
  v.reserve(m.layers.size());
  for (size_t k = 0; k < m.layers.size(); ++k) v.push_back(layer_label(m, k));
  return v;
}

}  // namespace qp::quant
