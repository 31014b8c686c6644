// The libtorch twin of an IR graph: same layers, same parameter layout, so weights copy both ways
// without reshaping. forward() runs the graph's DAG (Add = elementwise sum, Concat = torch::cat along
// channels) in the IR's topological order. Only the training stage includes this header (libtorch is slow to compile).
#pragma once
#include <torch/torch.h>

#include "model/ir.h"

namespace qp::train {

class TorchNetImpl : public torch::nn::Module {
 public:
  explicit TorchNetImpl(const model::Graph &g);
  // Logits (the final Softmax of the graph is skipped unless with_softmax).
  torch::Tensor forward(torch::Tensor x, bool with_softmax = false);
  void load_from(const model::Graph &g);  // IR parameters -> module
  void store_to(model::Graph &g) const;   // module parameters (and BatchNorm statistics) -> IR

 private:
  model::Graph g_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::Linear> denses_;
  std::vector<torch::nn::BatchNorm2d> bns2d_;
  std::vector<torch::nn::BatchNorm1d> bns1d_;
  std::vector<int> slot_;         // per layer: index into its kind's vector, or -1
  std::vector<int> last_reader_;  // per layer: the last layer that reads its output (-1: none, the output)
};
TORCH_MODULE(TorchNet);

}  // namespace qp::train
