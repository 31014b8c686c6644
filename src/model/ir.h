// qparity's model description (the IR): a graph of layers (nodes) with their FP32 parameters, kept in
// topological order. Each layer produces one tensor; `inputs` names the layers whose outputs it reads
// (-1 = the graph input), so residual branches (Add) and concatenations (Concat) are explicit edges.
// The graph's output is the last layer's output. The tensors themselves are first-class entries of
// Graph::tensors (name from the model file, shape, element type, optional quantization): tensor 0 is
// the graph input, tensor k + 1 layer k's output (tensor_id). The INT8 model (quant::QModel) is a Graph
// too: its nodes carry their integers (Layer::q), its tensors are int8 with quantization.
//
//   qp::model::Graph g = qp::model::graph_from_spec("rps-cnn", {"rock", "paper", "scissors"});
//   qp::model::param_count(g);   // 89379
//   qp::model::mac_count(g);     // 2867392
//
// Layout: tensors are NCHW (as in ONNX and libtorch); conv weights OIHW, dense weights [out][in].
// The INT8 stages convert to their own layout; this IR is the FP32 truth they start from.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qp_runtime.h"  // the INT8 node's ADD and SOFTMAX parameter structs

namespace qp::model {

enum class Op {
  Conv2D,
  DepthwiseConv2D,  // depth multiplier M >= 1 (Layer::depth_multiplier): C*M outputs, output c*M+m reads input c
  BatchNorm,        // folded into the conv/dense before it on export
  ReLU,
  ReLU6,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  Flatten,
  Dense,
  Dropout,  // training only; the identity at inference
  Softmax,
  Add,     // elementwise sum of two tensors of the same shape (a residual connection)
  Concat,  // concatenation of two or more tensors along channels (same H and W)
  Pad,     // constant padding of H and W (Layer::pad_*: the parameters); 0 in FP32, the zero point in INT8
  Mean,    // mean over H and W (TFLite MEAN, ONNX ReduceMean axes [2,3]); Layer::keep_dims
};

const char *op_name(Op op);

enum class Padding { Same, Valid };

struct Shape {  // one sample, CHW; after Flatten/Dense: c = features, h = w = 1
  int c = 0, h = 0, w = 0;
  int64_t size() const { return static_cast<int64_t>(c) * h * w; }
  bool operator==(const Shape &) const = default;
};

// The graph input as a producer index in Layer::inputs.
constexpr int kGraphInput = -1;

// A tensor's id from its producer (a layer index or kGraphInput): 0 for the graph input, k + 1 for layer k's output.
constexpr int tensor_id(int producer) { return producer + 1; }

// Affine quantization of a tensor: real = scale * (q - zero_point). Per tensor (one scale) for activations, as
// TensorFlow Lite's int8 activations; per-channel weight scales stay with the node that holds the weights.
struct QParams {
  double scale = 1.0;
  int32_t zero_point = 0;
  bool operator==(const QParams &) const = default;
};

// The input quantization of qparity's own models (pixels 0..255 as p / 255): q = p - 128, the scale float32-exact.
constexpr QParams kOwnInputParams{static_cast<double>(static_cast<float>(1.0 / 255.0)), -128};

// The input convention of a model: the real range pixels 0..255 map onto, then an optional per-channel mean/std
// (quant/input_map.h turns it into the pixel tables).
struct InputConvention {
  double lo = 0.0, hi = 1.0;        // the real range that pixels 0..255 map onto (lo < hi)
  std::vector<double> mean, stdev;  // per channel (or one value for all), applied after the range; empty: none
  bool is_default() const { return lo == 0.0 && hi == 1.0 && mean.empty() && stdev.empty(); }
  bool operator==(const InputConvention &) const = default;
};

// How an INT8 model was quantized (quant::quantize_graph's options; recorded in its files).
enum class WeightMode { PerChannel, PerTensor };
enum class CalibMode { MinMax, Percentile, Mse };
struct QuantOptions {
  WeightMode weights = WeightMode::PerChannel;
  bool dense_per_tensor = false;  // Dense layers per-tensor whatever `weights` says (TFLite Micro's int8 FULLY_CONNECTED)
  CalibMode calibration = CalibMode::MinMax;
  double percentile = 99.99;  // for CalibMode::Percentile
  int calib_count = 200;      // calibration images, stratified by class, seeded
  uint64_t seed = 1;
  int threads = 0;
  InputConvention convention;  // the FP32 model's input convention (--input-range, --mean/--std): calibration and the file
};

enum class DType { Float32, Int8 };
const char *dtype_name(DType t);  // "float32", "int8"

struct Tensor {
  // The name the model file gives it (ONNX value name, TensorFlow Lite tensor name), cleaned by clean_tensor_name;
  // empty when the model has none (graphs built from a spec, qparity's own training).
  std::string name;
  Shape shape;
  DType dtype = DType::Float32;
  std::optional<QParams> quant;  // set on the INT8 model's tensors
};

// A tensor name from an untrusted file made safe to print in text, JSON and HTML labels: bytes outside printable ASCII
// become '?', and a name over kMaxTensorName bytes is cut there with "..." at its end.
constexpr size_t kMaxTensorName = 120;
std::string clean_tensor_name(std::string_view raw);

// A tensor name as labels and tables show it: up to its first ';' (TFLite's converter joins the names of fused ops with
// it), at most kShortTensorName bytes ("..." where cut).
constexpr size_t kShortTensorName = 48;
std::string short_tensor_name(const std::string &name);
// The same as the last column of a table row: "  'short name'", or "" for a tensor without a name.
std::string tensor_name_column(const std::string &name);

// The names qparity's own writers give tensors that have none: "input", "probs", "logits", "l<k>_<Op>_out" (ONNX) and
// "l<k>.<Op>" (TensorFlow Lite). Reading a file qparity wrote, such a name is read back as no name, so a model
// without names stays without them through its files.
bool is_generated_tensor_name(std::string_view name);
// True when a name starts as every per-layer name qparity's writers make does ("l<k>_" or "l<k>.": values and
// initializers of layer k), whatever follows.
bool has_layer_name_prefix(std::string_view name);

// What a node of the INT8 model carries beyond the FP32 node (Layer::q; an FP32 graph leaves it empty): its integers
// (int8 weights in the runtime's layout, int32 biases, requantization multipliers and shifts, clamps, the Add and
// Softmax parameters), the activation fused into its clamp, and its tensors' quantization as the kernels read it.
// The quantizer derives it; reading an INT8 file rebuilds it (quant::derive_requantization), bit for bit.
struct Int8Node {
  std::string activation;            // "", "relu" or "relu6" (fused into the clamp)
  QParams input, output;             // input: the first input's quantization
  std::vector<QParams> input_q;      // every input's quantization (input_q[0] == input); quant::normalize fills it
  qp_add_params_t add{};             // Add: TFLite's ADD parameters, derived from input_q, output and the clamp
  std::vector<int8_t> weight;        // Conv OHWI, depthwise [1][KH][KW][C*M], Dense [OUT][IN] (IN in HWC order)
  std::vector<double> weight_scale;  // one per output channel (equal values when per-tensor)
  std::vector<int32_t> bias;         // scale input_scale * weight_scale[c], zero point 0
  std::vector<int32_t> multiplier, shift;
  int32_t act_min = -128, act_max = 127;
  qp_softmax_params_t softmax{0, 0, 0};  // derived from the input scale and Layer::softmax_beta
  std::string name;                      // its output tensor's name in the model file (model::Tensor::name; empty: none)
  int fp32_index = -1;                   // the FP32 layer whose output this node's output corresponds to
  int raised_scales = 0;  // channels whose weight scale the quantizer raised so the bias fits int32 (not stored in files)
};

// One node type for the FP32 graph and the INT8 model (quant::QLayer is this type): the op, its edges, shapes and
// attributes, its FP32 parameters, and in an INT8 model its integers (`q`).
struct Layer {
  Op op = Op::ReLU;
  // Producers of this layer's inputs: indices of earlier layers, or kGraphInput. Left empty while a
  // chain is built, it means "the previous layer" (or the graph input for layer 0); infer_shapes fills it.
  std::vector<int> inputs;
  int units = 0;   // Conv2D filters, Dense units
  int kernel = 0;  // Conv/pool window side (square)
  int stride = 1;
  Padding padding = Padding::Valid;  // Conv and MaxPool/AvgPool (same: TFLite's split, the odd pixel bottom/right)
  int depth_multiplier = 1;          // DepthwiseConv2D: outputs per input channel
  bool keep_dims = false;            // Mean: output a 1x1xC map (true) or a flat vector of C (false)
  float softmax_beta = 1.f;          // Softmax: softmax(beta * x), TFLite's SOFTMAX beta
  float rate = 0.f;   // Dropout
  float eps = 1e-5f;  // BatchNorm

  std::vector<float> weight;                  // Conv2D [units][in_c][k][k]; Depthwise [c*M][1][k][k]; Dense [units][in]
  std::vector<float> bias;                    // [out channels]
  std::vector<float> gamma, beta, mean, var;  // BatchNorm [c]

  // Filled by infer_shapes. `in` is the first input's shape (for Add both are equal; for Concat see
  // input_shape).
  Shape in, out;
  // Conv/pool: filled by infer_shapes from `padding`. Pad: the op's parameters (set by the builder). In an INT8 model
  // pad_top/pad_left are set and bottom/right are implied by the shapes.
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  Int8Node q;  // INT8 model only: weights, biases, requantization, clamps, tensor quantization

  bool has_params() const { return !weight.empty() || !gamma.empty(); }
};

// One graph type for the FP32 model and the INT8 model (quant::QModel is this type). An INT8 model is a graph whose
// nodes carry their integers (Layer::q) and whose tensors are int8 with quantization parameters (quant::normalize
// fills the table: the input's name and quantization are stored there, a layer output's are stated by its producer,
// Layer::q.name and q.output).
struct Graph {
  std::string arch;  // preset name or the spec text it was built from
  Shape input{3, 32, 32};
  std::vector<std::string> classes;
  std::vector<Layer> layers;
  // [C][256]: the real input value of each pixel value per channel (quant::input_real_table of the model's input
  // convention, e.g. --mean/--std); empty: p / 255, the convention of qparity's own models.
  std::vector<float> input_real;
  // Every tensor, by tensor_id: [0] the input, [k + 1] layer k's output. infer_shapes sizes the table and sets each
  // shape and element type (names are kept); the passes (remove_layers, fold_for_inference) carry names along.
  std::vector<Tensor> tensors;
  // INT8 model: pixels -> real input values (quant/input_map.h); with input_params(): the pixel table. And how it
  // was quantized.
  InputConvention convention;
  QuantOptions quant_options;

  Shape output() const { return layers.empty() ? input : layers.back().out; }
  // The shape of tensor `producer` (a layer index or kGraphInput).
  Shape tensor_shape(int producer) const { return producer == kGraphInput ? input : layers[static_cast<size_t>(producer)].out; }
  // The name of the tensor `producer` writes (empty when the model file gives none or infer_shapes has not run).
  const std::string &tensor_name(int producer) const;
  // Sets the name of the tensor `producer` writes (cleaned), growing the table as infer_shapes would.
  void set_tensor_name(int producer, std::string_view raw);

  // INT8 model. The input tensor's quantization (kOwnInputParams until set), and setting it.
  QParams input_params() const { return !tensors.empty() && tensors[0].quant ? *tensors[0].quant : kOwnInputParams; }
  void set_input_params(const QParams &p);
  // The quantization of tensor `producer` (a layer index or kGraphInput): the input's, or what its producer states.
  QParams tensor_params(int producer) const {
    return producer < 0 ? input_params() : layers[static_cast<size_t>(producer)].q.output;
  }
  // Tensor `producer` of the table (after infer_shapes, or quant::normalize for an INT8 model). qp::Error when out of range.
  const Tensor &tensor(int producer) const;
  int64_t int8_parameter_bytes() const;  // int8 weights + int32 biases
  // The output is logits (the model ends in Dense, GAP, Mean, ...: any scale and zero point from calibration), not a
  // Softmax's probabilities (scale 1/256, zero point -128). The decision is the first maximum of the int8 vector either way.
  bool outputs_logits() const { return !layers.empty() && layers.back().op != Op::Softmax; }
};

// For each layer, the layers that read its output, in order (after infer_shapes).
std::vector<std::vector<int>> consumers(const Graph &g);

// True when the graph is a straight chain (every layer reads only the layer before it).
bool is_chain(const Graph &g);

// Names of the built-in architectures, and the spec each stands for.
std::vector<std::string> preset_names();
std::string preset_spec(const std::string &name);  // empty when not a preset

// Builds a graph from a preset name or a text spec (see docs in spec.cpp / README), with parameters
// sized and zero-filled. "K" in a spec stands for the number of classes. Throws qp::Error with the
// offending token on a malformed spec.
Graph graph_from_spec(const std::string &arch_or_spec, const std::vector<std::string> &classes, Shape input = {3, 32, 32});

// Limits on what a model may ask for, checked while reading a file so a crafted one fails with a
// clear error instead of a wrapped count or a huge allocation: elements of one parameter tensor,
// elements of one activation (one image), the side of the input image, a window or stride.
constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
constexpr int64_t kMaxActivationElements = int64_t{1} << 26;
constexpr int kMaxInputSide = 1024;
constexpr int kMaxWindow = 1024;

// The element count of a tensor with these dims (the product; 1 for a scalar). qp::Error naming
// `what` for a negative dimension, a product that overflows, or one above `cap`.
int64_t checked_element_count(std::span<const int64_t> dims, const std::string &what, int64_t cap = kMaxTensorElements);

// Fills empty `inputs` as a chain, checks the edges (producers are earlier layers or the graph input,
// the right number of inputs per op, every layer but the last is read by some layer), then computes
// every layer's input/output shape and padding and checks parameter sizes, windows and
// strides (1..kMaxWindow) and activation sizes (kMaxActivationElements); with
// allocate_params, empty parameter vectors are first sized (weights/biases 0, BatchNorm gamma/var 1).
// Throws qp::Error.
void infer_shapes(Graph &g, bool allocate_params = false);

int64_t param_count(const Graph &g);  // weights + biases (+ BatchNorm gamma/beta)
int64_t mac_count(const Graph &g);    // multiply-accumulates of one inference (conv + dense)
int64_t param_count(const Layer &l);
int64_t mac_count(const Layer &l);

// Fills conv/dense weights with He-uniform random values (biases 0), seeded; for untrained models
// (`qparity init`) and tests.
void init_random(Graph &g, uint64_t seed);

// The inference graph: BatchNorm folded into the conv/dense before it (which must have no other
// reader), Dropout removed; the edges are rewired accordingly.
Graph fold_for_inference(const Graph &g);

// Removes the layers marked in `drop` (each must have exactly one input); readers of a dropped layer
// read its input instead, and that tensor takes the dropped layer's output name when the dropped layer was its only
// reader (a folded BatchNorm's conv output is named as the BatchNorm's output was). Then infer_shapes.
void remove_layers(Graph &g, const std::vector<bool> &drop);

std::string shape_str(const Shape &s);

// A model input written HxWxC (height x width x channels, e.g. 64x64x3, 96x96x1), as the CLI's --input takes
// it: C is 1 (luma) or 3 (RGB), H and W 1..kMaxInputSide. qp::Error naming `option` and the fix otherwise.
Shape parse_input_size(const std::string &text, const std::string &option = "--input");
// The inverse: "64x64x3".
std::string input_size_str(const Shape &s);

}  // namespace qp::model
