// The FP32 reference executor: runs an IR graph on one image in plain C++ (no libtorch), NCHW floats.
// It is the host's FP32 truth for evaluation and the yardstick for quantization error.
//
//   qp::model::Fp32Executor exec(model_file.graph);
//   std::vector<float> probs = exec.run_rgb(hwc_rgb_bytes);   // pixels p/255, channels first
#pragma once
#include <cstdint>
#include <vector>

#include "model/ir.h"

namespace qp::model {

class Fp32Executor {
 public:
  explicit Fp32Executor(const Graph &g);  // folds BatchNorm/Dropout away; throws qp::Error on a bad graph

  // input: C*H*W floats, CHW. Returns the last layer's output. With `trace`, also every layer's output
  // in order (trace->size() == layers().size()).
  std::vector<float> run(const float *chw, std::vector<std::vector<float>> *trace = nullptr) const;

  // input: H*W*C bytes of interleaved pixels (as the data loader produces); to real values (Graph::input_real,
  // default p/255) and transposed.
  std::vector<float> run_rgb(const uint8_t *hwc, std::vector<std::vector<float>> *trace = nullptr) const;

  const Graph &graph() const { return g_; }

 private:
  Graph g_;
  std::vector<int> last_reader_;  // per layer: the last layer that reads its output (-1: none, the output)
};

// Numerically stable softmax of a vector.
std::vector<float> softmax(const std::vector<float> &logits);

// CHW floats from interleaved HWC pixel bytes: real[ch * 256 + p] (a Graph::input_real table), or p/255 when empty.
std::vector<float> rgb_to_chw(const uint8_t *hwc, int h, int w, int c, const std::vector<float> &real = {});

}  // namespace qp::model
