// The op registry: everything qparity knows about an op that does not depend on a file format, in one
// table entry per op (one file per op under src/ops/). The IR (shape inference, MAC counts), the FP32
// executor, the quantizer and the host INT8 reference engine look an op up here instead of switching
// on it; the format readers/writers (onnx_io, qdq_onnx, torch_model, codegen) keep their own mapping.
//
//   const qp::ops::OpDef &d = qp::ops::op_def(qp::model::Op::Conv2D);
//   d.name;            // "Conv2D"
//   d.fp32(layer, inputs, out);
//
// Adding an op: see ARCHITECTURE.md, "Adding an op".
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/ir.h"
#include "quant/qmodel.h"

namespace qp::ops {

// Shape inference of one layer (called by model::infer_shapes once the edges are checked).
struct ShapeArgs {
  std::string where;              // "layer 3 (Conv2D)", for messages
  std::vector<model::Shape> in;   // each input's shape (in order of Layer::inputs)
  std::vector<bool> flat;         // each input: flat (after Flatten/GlobalAvgPool/Dense) rather than a feature map
  bool allocate = false;          // size empty parameter vectors (weights/biases 0, BatchNorm gamma/var 1)
  model::Shape out;               // starts as in[0]; the op sets its output shape
  bool out_flat = false;          // starts as flat[0]
};

// Quantization of one layer of the (folded) FP32 inference graph into one INT8 layer.
struct QuantArgs {
  const model::Graph &g;            // the inference graph
  size_t k;                         // the layer
  const quant::QuantOptions &opt;
  const quant::QModel &q;           // the INT8 layers made so far
  const std::vector<int> &fused;    // per FP32 layer: the activation fused into its output, or -1
  // The calibrated range of FP32 layer j's output, by the chosen observer (call once per layer).
  std::function<std::pair<double, double>(size_t)> range;
};

// One run of an INT8 layer on the host (reference kernels): input j is at arena + in_off[j].
struct Int8Args {
  const quant::QModel &m;
  const quant::QLayer &l;
  const int8_t *arena;
  std::span<const size_t> in_off;
  int8_t *out;
};

struct OpDef {
  model::Op op;
  const char *name;               // as op_name prints it
  int min_inputs = 1, max_inputs = 1;  // max_inputs -1: no upper bound
  // Checks the layer's parameters against its input shapes and sets args.out (and args.out_flat).
  void (*infer)(model::Layer &l, ShapeArgs &args) = nullptr;
  // FP32 evaluation: inputs as CHW floats in the order of Layer::inputs.
  void (*fp32)(const model::Layer &l, std::span<const std::vector<float> *const> in, std::vector<float> &out) = nullptr;
  // Multiply-accumulates of one inference (nullptr: 0).
  int64_t (*macs)(const model::Layer &l) = nullptr;
  // Activations: the name of the clamp when fused ("relu", "relu6") and the largest value it lets through.
  const char *fused_as = nullptr;
  double fused_max = 0;
  bool fuses_activation = false;  // an activation that is this layer's only reader is fused into it
  // Quantization: fills ql (inputs, input_q, shapes already set) and returns true, or returns false when
  // the layer becomes no INT8 layer (a fused activation: its output is its input's).
  bool (*quantize)(const QuantArgs &args, quant::QLayer &ql) = nullptr;
  // Recomputes the op's derived integers (multipliers, shifts, kernel parameters) from the layer's float32
  // scales and zero points, after the generic clamp (act_min/act_max): quant::derive_requantization.
  void (*derive)(quant::QLayer &l) = nullptr;
  // Checks an INT8 layer against its producers beyond the generic edge/shape checks of
  // quant::normalize (e.g. the shapes an Add or Concat reads); qp::Error naming `where`.
  void (*check_int8)(const quant::QModel &m, const quant::QLayer &l, const std::string &where) = nullptr;
  // The INT8 reference run (the C99 kernel); nullptr: nothing to compute (the output aliases the input).
  qp_status_t (*int8)(const Int8Args &args) = nullptr;
};

// The entry of `op`; qp::Error for an op no file registers (a bug).
const OpDef &op_def(model::Op op);
// The entry of `op`, or nullptr (e.g. an op number read from a corrupt file).
const OpDef *find_op(model::Op op);

// "expected 1" / "expected at least 2": the input count rule of an op, for messages.
std::string inputs_expected(const OpDef &d);
bool input_count_ok(const OpDef &d, size_t n);

}  // namespace qp::ops
