// The quantized model: every integer the runtime needs, derived from an FP32 IR graph and
// calibration statistics. Activations are NHWC int8 here (the runtime's layout); Dense weights that
// follow a Flatten are permuted from the FP32 graph's CHW order to HWC order accordingly.
//
//   qp::quant::QuantOptions opt;                      // per-channel weights, min/max calibration
//   qp::quant::QModel q = qp::quant::quantize_graph(fp32_graph, calib_split, opt);
//   qp::quant::Int8Engine engine(q);
//   std::vector<int8_t> scores = engine.run(rgb);      // int8 softmax output, conf = (s + 128) / 256
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "model/ir.h"
#include "qp_runtime.h"

namespace qp::quant {

enum class WeightMode { PerChannel, PerTensor };
enum class CalibMode { MinMax, Percentile, Mse };

struct QuantOptions {
  WeightMode weights = WeightMode::PerChannel;
  CalibMode calibration = CalibMode::MinMax;
  double percentile = 99.99;  // for CalibMode::Percentile
  int calib_count = 200;      // calibration images, stratified by class, seeded
  uint64_t seed = 1;
  int threads = 0;
};

struct QParams {
  double scale = 1.0;
  int32_t zero_point = 0;
};

struct QLayer {
  model::Op op = model::Op::Flatten;  // Conv2D, DepthwiseConv2D, Dense, MaxPool, AvgPool, GlobalAvgPool, Flatten, Softmax
  std::string activation;             // "", "relu" or "relu6" (fused into the clamp)
  model::Shape in, out;               // the FP32 graph's CHW shapes
  int kernel = 0, stride = 1, pad_top = 0, pad_left = 0;
  QParams input, output;
  std::vector<int8_t> weight;        // Conv OHWI, depthwise [1][KH][KW][C], Dense [OUT][IN] (IN in HWC order)
  std::vector<double> weight_scale;  // one per output channel (equal values when per-tensor)
  std::vector<int32_t> bias;         // scale input_scale * weight_scale[c], zero point 0
  std::vector<int32_t> multiplier, shift;
  int32_t act_min = -128, act_max = 127;
  qp_softmax_params_t softmax{0, 0, 0};
  int fp32_index = -1;  // the FP32 layer whose output this layer's output corresponds to
};

struct QModel {
  std::vector<std::string> classes;
  model::Shape input{3, 32, 32};
  QParams input_params{static_cast<float>(1.0 / 255.0), -128};  // q = p - 128; every scale is float32-exact
  std::vector<QLayer> layers;
  QuantOptions options;
  int64_t int8_parameter_bytes() const;  // int8 weights + int32 biases
};

// Quantizes an FP32 graph (BatchNorm folded, Dropout dropped) with calibration images drawn from
// `calib` (stratified by class, seeded). Throws qp::Error, e.g. when a layer's int32 accumulator
// could overflow for some input (worst case from the weights and zero points).
QModel quantize_graph(const model::Graph &fp32, const data::Split &calib, const QuantOptions &opt);

// When `prev` is a Flatten of a feature map (H or W > 1), the Dense layer after it sees its inputs in
// HWC order while the FP32/ONNX graph flattens CHW: returns true and the map's shape.
bool flattens_map(const QLayer *prev, model::Shape *map);

// Position in HWC order of element i of a CHW-flattened map of shape s.
size_t chw_to_hwc(size_t i, const model::Shape &s);

// Recomputes the derived integers (multipliers, shifts, softmax parameters, clamps) of a layer from
// its float32 scales, zero points and activation: what the quantizer computes and what reading a
// model file rebuilds, bit for bit.
void derive_requantization(QLayer &l);

// The worst-case |accumulator| of a conv/dense output channel: |bias| + sum |w| * 255.
int64_t worst_case_accumulator(const QLayer &l, int channel);

// Which kernels run a QModel on the host. Reference: the C99 kernels of src/runtime (the numeric
// specification). Optimized: conv and dense as patch gather + u8 x s8 dot products (AVX-512 VNNI
// when the CPU has it), the offsets folded in through precomputed weight sums; every other op runs
// the reference kernel. Both give identical bytes
// (tested on every image of the synthetic test set).
enum class Backend { Reference, Optimized };

// Runs a QModel on one image; all activations live in one arena sized at construction (two
// ping-pong buffers of the largest activation, plus the largest conv patch).
class Int8Engine {
 public:
  explicit Int8Engine(const QModel &m, Backend backend = Backend::Optimized);
  // rgb: H*W*3 bytes, HWC. Returns the last layer's int8 output; with `trace`, every layer's output.
  std::vector<int8_t> run(const uint8_t *rgb, std::vector<std::vector<int8_t>> *trace = nullptr) const;
  size_t arena_bytes() const { return 2 * buffer_ + patch_; }

  Backend backend() const { return backend_; }

 private:
  const QModel &m_;
  Backend backend_;
  size_t buffer_ = 0;
  size_t patch_ = 0;                    // largest padded conv patch / dense input, optimized backend
  std::vector<struct OptWeights> opt_;  // per layer (empty for layers without weights)
};

// Weights of one conv/dense layer laid out for the optimized kernels: each output channel's row
// zero-padded to a multiple of 64 bytes, and its sum.
struct OptWeights {
  std::vector<int8_t> w;
  size_t row = 0;  // padded row length
  std::vector<int32_t> wsum;
};
OptWeights pack_opt_weights(const QLayer &l);

// sum u[i] * w[i] over n (a multiple of 64) with the fastest kernel the CPU has (AVX-512 VNNI), or
// the portable loop when allow_simd is false; both give the same int32.
int32_t opt_dot_u8s8(const uint8_t *u, const int8_t *w, size_t n, bool allow_simd);

// The optimized conv/dense kernels (engine_opt.cpp). `scratch` holds at least ow.row bytes.
void conv_opt_s8(const QLayer &l, const OptWeights &ow, const int8_t *in, int8_t *out, uint8_t *scratch);
void fc_opt_s8(const QLayer &l, const OptWeights &ow, const int8_t *in, int8_t *out, uint8_t *scratch);

}  // namespace qp::quant
