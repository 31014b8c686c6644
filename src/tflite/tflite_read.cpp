#include "tflite/tflite_read.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "common/error.h"
#include "common/sha256.h"
#include "model/ir.h"
#include "model/layout.h"
#include "ops/op_util.h"
#include "quant/input_map.h"
#include "quant/plan.h"
#include "tflite/tflite_subset_generated.h"

namespace qp::tflite {
namespace {

using model::Op;
using quant::QLayer;
using quant::QParams;

constexpr int64_t kMaxFileBytes = int64_t{1} << 30;
const char *const kSupported =
    "qparity reads full-integer int8 models of CONV_2D, DEPTHWISE_CONV_2D (depth multiplier >= 1), FULLY_CONNECTED, ADD, "
    "CONCATENATION (channels), AVERAGE_POOL_2D, MAX_POOL_2D, MEAN (over H and W), PAD/PADV2 (H and W), RESHAPE (flatten), "
    "SOFTMAX, with QUANTIZE/DEQUANTIZE only at the graph's input/output";

// A few builtin operators the schema subset does not name, for messages (TFLite's numbers).
std::string builtin_name(int32_t code) {
  const char *n = fb::EnumNameBuiltinOperator(static_cast<fb::BuiltinOperator>(code));
  if (n != nullptr && *n != '\0') return n;
  return "builtin operator " + std::to_string(code);
}

const char *type_name(fb::TensorType t) {
  const char *n = fb::EnumNameTensorType(t);
  return n != nullptr && *n != '\0' ? n : "an unknown type";
}

const char *const kHybrid =
    "qparity reads a .tflite that is float32 throughout (an FP32 model) or full-integer int8 (float32 only at the "
    "input/output through QUANTIZE/DEQUANTIZE); a mixed (hybrid or dynamic-range) float/int8 model is neither: convert "
    "it again without quantization, or with full-integer int8 quantization";

// An FP32 model's float data per layer, beside the QLayer that holds its structure.
struct FloatParams {
  std::vector<float> weight, bias;  // as stored in the file (OHWI, [1,KH,KW,C*M], [OUT][IN] with IN in HWC order)
  bool same = false;                // conv/pool: SAME padding
};

// One element of an int64 vector (zero points). The verifier checks such a vector's length field for 4-byte
// alignment only, so a crafted file can place its 8-byte elements off an 8-byte boundary: copy, never dereference.
int64_t zero_point_at(const flatbuffers::Vector<int64_t> &v, size_t i) {
  int64_t x;
  std::memcpy(&x, v.Data() + i * sizeof(int64_t), sizeof(x));
  return flatbuffers::EndianScalar(x);
}

class Reader {
 public:
  Reader(const uint8_t *data, size_t size, std::string name) : data_(data), size_(size), file_("'" + name + "'") {}
  // want_fp32: the caller reads an FP32 model (an int8 file is refused), else an int8 model (an FP32 one is refused).
  Int8Tflite run(bool want_fp32 = false);
  model::ModelFile fp32_file();  // after run(true)

 private:
  [[noreturn]] void bad(const std::string &what, const std::string &fix = "") const { fail(file_ + ": " + what, fix); }
  std::string op_where(size_t i) const { return file_ + " operator " + std::to_string(i) + " (" + op_names_[i] + ")"; }
  const fb::Tensor &tensor(int32_t idx, const std::string &where) const;
  std::string tensor_label(int32_t idx) const;
  std::string tensor_name(int32_t idx) const;  // the tensor's name, cleaned (model::clean_tensor_name)
  std::vector<int64_t> dims(const fb::Tensor &t, const std::string &what) const;
  model::Shape chw(int32_t idx, const std::string &where) const;
  QParams activation_q(int32_t idx, const std::string &where) const;
  template <typename T>
  std::vector<T> constant(int32_t idx, fb::TensorType type, const std::string &where) const;
  std::vector<double> weight_scales(int32_t idx, int channels, int axis, const std::string &where) const;
  std::string activation(fb::ActivationFunctionType a, const std::string &where) const;
  int producer(int32_t idx, const std::string &where) const;
  void add_layer(QLayer l, size_t op, int32_t out_tensor);
  void map_operator(size_t i);
  void conv(size_t i, const fb::Operator &op, bool depthwise, QLayer &l);
  void window(size_t i, int in_h, int in_w, int kh, int kw, int sh, int sw, fb::Padding pad, int dh, int dw, QLayer &l,
              const model::Shape &out);
  void flatten_if_map(size_t i, int32_t in_tensor, QLayer &l);
  std::vector<float> float_constant(int32_t idx, const std::string &where) const;
  model::Graph build_graph();

  const uint8_t *data_;
  size_t size_;
  std::string file_;
  const fb::Model *model_ = nullptr;
  const fb::SubGraph *sg_ = nullptr;
  std::vector<std::string> op_names_;
  std::vector<int32_t> op_codes_;  // per operator: its builtin code (-1: custom)
  std::vector<int> producer_;      // per tensor: the QLayer writing it, kGraphInput, or kNone
  static constexpr int kNone = -2;
  int32_t graph_in_ = -1, graph_out_ = -1;  // the file's subgraph input/output tensors
  int32_t int8_in_ = -1, int8_out_ = -1;    // the int8 tensors the QModel starts and ends at
  quant::QModel m_;
  Int8Tflite t_;
  bool fp32_ = false;               // the file is float32 throughout
  bool own_ = false;                // written by qparity (metadata qparity.precision): its generated names are no names
  FloatParams cur_;                 // the float data of the layer map_operator is reading
  std::vector<FloatParams> fp_;     // per QLayer (fp32_ only)
  model::ModelFile mf_;
};

const fb::Tensor &Reader::tensor(int32_t idx, const std::string &where) const {
  const auto *ts = sg_->tensors();
  if (ts == nullptr || idx < 0 || static_cast<size_t>(idx) >= ts->size())
    bad(where + " names tensor " + std::to_string(idx) + ", which does not exist (the subgraph has " +
            std::to_string(ts == nullptr ? 0 : ts->size()) + " tensors)",
        "the file is corrupt: convert the model again");
  return *ts->Get(static_cast<flatbuffers::uoffset_t>(idx));
}

std::string Reader::tensor_name(int32_t idx) const {
  const fb::Tensor &t = tensor(idx, "a tensor index");
  std::string n = t.name() != nullptr ? model::clean_tensor_name(t.name()->string_view()) : std::string();
  if (own_ && model::is_generated_tensor_name(n)) n.clear();
  return n;
}

std::string Reader::tensor_label(int32_t idx) const {
  const fb::Tensor &t = tensor(idx, "a tensor index");
  std::string name = t.name() != nullptr ? t.name()->str() : "";
  if (name.size() > 80) name = name.substr(0, 77) + "...";
  return "tensor " + std::to_string(idx) + (name.empty() ? "" : " '" + name + "'");
}

std::vector<int64_t> Reader::dims(const fb::Tensor &t, const std::string &what) const {
  std::vector<int64_t> d;
  if (t.shape() != nullptr)
    for (const int32_t v : *t.shape()) d.push_back(v);
  if (d.size() > 6) bad(what + " has " + std::to_string(d.size()) + " dimensions", "qparity reads tensors of rank 1 to 4");
  model::checked_element_count(d, file_ + " " + what);  // negative or huge dimensions
  return d;
}

// An activation's NHWC shape as qparity's CHW: [1,H,W,C] -> {C,H,W}; [1,N] or [N] -> {N,1,1}.
model::Shape Reader::chw(int32_t idx, const std::string &where) const {
  const std::string what = tensor_label(idx);
  const auto d = dims(tensor(idx, where), what);
  model::Shape s;
  if (d.size() == 4 && d[0] == 1)
    s = {static_cast<int>(d[3]), static_cast<int>(d[1]), static_cast<int>(d[2])};
  else if (d.size() == 2 && d[0] == 1)
    s = {static_cast<int>(d[1]), 1, 1};
  else if (d.size() == 1)
    s = {static_cast<int>(d[0]), 1, 1};
  else {
    std::string shape;
    for (const int64_t v : d) shape += (shape.empty() ? "" : ",") + std::to_string(v);
    bad(where + ": " + what + " has shape [" + shape + "]", "qparity reads activations of shape [1,H,W,C] or [1,N] (batch 1)");
  }
  if (s.c < 1 || s.h < 1 || s.w < 1) bad(where + ": " + what + " has an empty dimension");
  ops::check_activation(s, file_ + " " + what);
  return s;
}

QParams Reader::activation_q(int32_t idx, const std::string &where) const {
  const fb::Tensor &t = tensor(idx, where);
  const std::string what = tensor_label(idx);
  if (fp32_) {  // an FP32 model: every activation float32, no quantization
    if (t.type() != fb::TensorType_FLOAT32)
      bad(where + ": " + what + " is " + type_name(t.type()) + " in a model whose input is float32 (a mixed float/int8 model)",
          kHybrid);
    return QParams{};
  }
  if (t.type() != fb::TensorType_INT8)
    bad(where + ": " + what + " is " + type_name(t.type()) + ", not INT8",
        "qparity reads full-integer int8 models: convert with the TFLite converter's full-integer quantization (int8 "
        "activations; float32 only at the input/output through QUANTIZE/DEQUANTIZE)");
  const auto *q = t.quantization();
  if (q == nullptr || q->scale() == nullptr || q->zero_point() == nullptr || q->scale()->size() != 1 ||
      q->zero_point()->size() != 1)
    bad(where + ": " + what + " needs one scale and one zero point (per-tensor quantization), it has " +
            std::to_string(q && q->scale() ? q->scale()->size() : 0) + " and " +
            std::to_string(q && q->zero_point() ? q->zero_point()->size() : 0),
        "the file is not a fully quantized int8 model: convert it again");
  if (q->details_type() != fb::QuantizationDetails_NONE) bad(where + ": " + what + " has custom quantization", kSupported);
  QParams p;
  p.scale = q->scale()->Get(0);
  const int64_t zp = zero_point_at(*q->zero_point(), 0);
  if (!(std::isfinite(p.scale) && p.scale > 0))
    bad(where + ": " + what + " has scale " + std::to_string(p.scale) + ", not a finite number > 0");
  if (zp < -128 || zp > 127) bad(where + ": " + what + " has zero point " + std::to_string(zp) + ", outside int8 [-128, 127]");
  p.zero_point = static_cast<int32_t>(zp);
  return p;
}

template <typename T>
std::vector<T> Reader::constant(int32_t idx, fb::TensorType type, const std::string &where) const {
  const fb::Tensor &t = tensor(idx, where);
  const std::string what = tensor_label(idx);
  if (t.type() != type) bad(where + ": " + what + " is " + type_name(t.type()) + ", expected " + type_name(type));
  const auto d = dims(t, what);
  const int64_t n = model::checked_element_count(d, file_ + " " + what);
  const auto *bufs = model_->buffers();
  if (t.buffer() == 0 || bufs == nullptr || t.buffer() >= bufs->size())
    bad(where + ": " + what + " has no data (buffer " + std::to_string(t.buffer()) + ")",
        "weights and biases must be constants in the file: convert the model again");
  const fb::Buffer &b = *bufs->Get(t.buffer());
  if (b.offset() > 1 || b.size() > 1)
    bad(where + ": " + what + " keeps its data outside the FlatBuffer (models over 2 GB)", kSupported);
  const size_t have = b.data() == nullptr ? 0 : b.data()->size();
  if (have != static_cast<size_t>(n) * sizeof(T))
    bad(where + ": " + what + " holds " + std::to_string(have) + " bytes, its shape needs " + std::to_string(n * sizeof(T)),
        "the file is corrupt: convert the model again");
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0) std::memcpy(v.data(), b.data()->data(), have);  // little-endian, as TFLite stores it
  return v;
}

// A float32 constant of an FP32 model (weights, biases); an int8 one is a hybrid model's.
std::vector<float> Reader::float_constant(int32_t idx, const std::string &where) const {
  const fb::Tensor &t = tensor(idx, where);
  if (t.type() != fb::TensorType_FLOAT32)
    bad(where + ": " + tensor_label(idx) + " is " + type_name(t.type()) + " in a float32 model (a mixed float/int8 model)",
        kHybrid);
  std::vector<float> v = constant<float>(idx, fb::TensorType_FLOAT32, where);
  for (const float x : v)
    if (!std::isfinite(x))
      bad(where + ": " + tensor_label(idx) + " holds a value that is not a finite number", "the file is corrupt");
  return v;
}

// The scales of a weight tensor with `channels` output channels along `axis`: one (per-tensor, repeated)
// or one per channel; zero points all 0 (symmetric weights), as TFLite's int8 kernels require.
std::vector<double> Reader::weight_scales(int32_t idx, int channels, int axis, const std::string &where) const {
  const fb::Tensor &t = tensor(idx, where);
  const std::string what = tensor_label(idx);
  const auto *q = t.quantization();
  if (q == nullptr || q->scale() == nullptr || q->scale()->size() == 0)
    bad(where + ": " + what + " has no quantization scale", "the file is not a fully quantized int8 model: convert it again");
  if (q->details_type() != fb::QuantizationDetails_NONE) bad(where + ": " + what + " has custom quantization", kSupported);
  const size_t ns = q->scale()->size();
  if (ns != 1 && ns != static_cast<size_t>(channels))
    bad(where + ": " + what + " has " + std::to_string(ns) + " scales for " + std::to_string(channels) + " output channels",
        "expected 1 (per-tensor) or one per output channel: the file is corrupt");
  if (ns > 1 && q->quantized_dimension() != axis)
    bad(where + ": " + what + " is quantized along dimension " + std::to_string(q->quantized_dimension()) + ", expected " +
        std::to_string(axis));
  const size_t nz = q->zero_point() == nullptr ? 0 : q->zero_point()->size();
  if (nz != ns && nz != 1)
    bad(where + ": " + what + " has " + std::to_string(nz) + " zero points for " + std::to_string(ns) + " scales",
        "the file is corrupt: convert the model again");
  for (size_t i = 0; i < nz; ++i)
    if (zero_point_at(*q->zero_point(), i) != 0)
      bad(where + ": " + what + " has a non-zero weight zero point",
          "TFLite's int8 kernels need symmetric weights (zero point 0)");
  std::vector<double> s(static_cast<size_t>(channels));
  for (int c = 0; c < channels; ++c) {
    const float v = q->scale()->Get(ns == 1 ? 0 : static_cast<flatbuffers::uoffset_t>(c));
    if (!(std::isfinite(v) && v > 0))
      bad(where + ": " + what + " has weight scale " + std::to_string(v) + ", not a finite number > 0");
    s[static_cast<size_t>(c)] = v;
  }
  return s;
}

std::string Reader::activation(fb::ActivationFunctionType a, const std::string &where) const {
  switch (a) {
    case fb::ActivationFunctionType_NONE: return "";
    case fb::ActivationFunctionType_RELU: return "relu";
    case fb::ActivationFunctionType_RELU6: return "relu6";
    default: break;
  }
  const char *n = fb::EnumNameActivationFunctionType(a);
  bad(where + ": fused activation " + std::string(n != nullptr && *n ? n : std::to_string(static_cast<int>(a)).c_str()) +
          " is not supported",
      "qparity fuses NONE, RELU and RELU6");
}

int Reader::producer(int32_t idx, const std::string &where) const {
  tensor(idx, where);
  const int p = producer_[static_cast<size_t>(idx)];
  if (p == kNone)
    bad(where + " reads " + tensor_label(idx) +
            " before any operator writes it (or it is a constant where qparity expects an activation)",
        "the file is corrupt or its operators are not in execution order");
  return p;
}

void Reader::add_layer(QLayer l, size_t op, int32_t out_tensor) {
  producer_[static_cast<size_t>(out_tensor)] = static_cast<int>(m_.layers.size());
  fp_.push_back(std::move(cur_));
  cur_ = FloatParams{};
  t_.layer_tensor.push_back(out_tensor);
  t_.layer_operator.push_back(static_cast<int>(op));
  l.q.name = tensor_name(out_tensor);
  m_.layers.push_back(std::move(l));
}

// Padding and output size of a window by TFLite's rule (SAME: total = max((out - 1) * stride + k - in, 0),
// the smaller half before, the odd pixel after), checked against the output tensor.
void Reader::window(size_t i, int in_h, int in_w, int kh, int kw, int sh, int sw, fb::Padding pad, int dh, int dw, QLayer &l,
                    const model::Shape &out) {
  const std::string where = op_where(i);
  if (kh != kw)
    bad(where + ": window " + std::to_string(kh) + "x" + std::to_string(kw) + " is not square",
        "qparity supports square windows");
  if (sh != sw)
    bad(where + ": strides " + std::to_string(sh) + " and " + std::to_string(sw) + " differ", "qparity supports equal strides");
  if (dh != 1 || dw != 1)
    bad(where + ": dilation " + std::to_string(dh) + "x" + std::to_string(dw), "qparity supports dilation 1");
  if (pad != fb::Padding_SAME && pad != fb::Padding_VALID)
    bad(where + ": unknown padding " + std::to_string(static_cast<int>(pad)));
  const model::Padding p = pad == fb::Padding_SAME ? model::Padding::Same : model::Padding::Valid;
  int oh = 0, ow = 0, top = 0, bottom = 0, left = 0, right = 0;
  ops::window_out(in_h, kh, sh, p, oh, top, bottom, where);
  ops::window_out(in_w, kw, sw, p, ow, left, right, where);
  if (oh != out.h || ow != out.w)
    bad(where + ": its output is " + std::to_string(out.h) + "x" + std::to_string(out.w) + ", the window gives " +
            std::to_string(oh) + "x" + std::to_string(ow),
        "the file is corrupt: convert the model again");
  l.kernel = kh;
  l.stride = sh;
  cur_.same = p == model::Padding::Same;
  l.pad_top = top;
  l.pad_left = left;
}

void Reader::conv(size_t i, const fb::Operator &op, bool depthwise, QLayer &l) {
  const std::string where = op_where(i);
  const auto *in = op.inputs();
  if (in->size() < 2 || in->size() > 3) bad(where + " has " + std::to_string(in->size()) + " inputs, expected 2 or 3");
  const int32_t x = in->Get(0), w = in->Get(1), b = in->size() > 2 ? in->Get(2) : -1;
  const int32_t y = op.outputs()->Get(0);
  l.op = depthwise ? Op::DepthwiseConv2D : Op::Conv2D;
  l.inputs = {producer(x, where)};
  l.in = chw(x, where);
  l.out = chw(y, where);
  activation_q(x, where);
  l.q.output = activation_q(y, where);
  const auto wd = dims(tensor(w, where), tensor_label(w));
  if (wd.size() != 4) bad(where + ": " + tensor_label(w) + " is not a 4-D filter");
  int padding = 0, sh = 1, sw = 1, dh = 1, dw = 1;
  fb::ActivationFunctionType act = fb::ActivationFunctionType_NONE;
  if (depthwise) {
    const auto *o = op.builtin_options_as_DepthwiseConv2DOptions();
    if (o == nullptr) bad(where + " has no DepthwiseConv2DOptions");
    padding = o->padding(), sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(), dw = o->dilation_w_factor();
    act = o->fused_activation_function();
    if (wd[0] != 1 || wd[3] != l.out.c)
      bad(where + ": filter " + tensor_label(w) + " is not [1, KH, KW, " + std::to_string(l.out.c) + "]", "the file is corrupt");
    if (l.out.c % l.in.c != 0)
      bad(where + ": " + std::to_string(l.out.c) + " output channels are not a multiple of the " + std::to_string(l.in.c) +
              " input channels (depth multiplier)",
          "the file is corrupt: convert the model again");
  } else {
    const auto *o = op.builtin_options_as_Conv2DOptions();
    if (o == nullptr) bad(where + " has no Conv2DOptions");
    padding = o->padding(), sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(), dw = o->dilation_w_factor();
    act = o->fused_activation_function();
    if (o->quantized_bias_type() != fb::TensorType_FLOAT32 && o->quantized_bias_type() != fb::TensorType_INT32)
      bad(where + ": bias type " + type_name(o->quantized_bias_type()), "qparity supports int32 biases");
    if (wd[0] != l.out.c || wd[3] != l.in.c)
      bad(where + ": filter " + tensor_label(w) + " is not [" + std::to_string(l.out.c) + ", KH, KW, " + std::to_string(l.in.c) +
              "]",
          "grouped convolutions are not supported; otherwise the file is corrupt");
  }
  window(i, l.in.h, l.in.w, static_cast<int>(wd[1]), static_cast<int>(wd[2]), sh, sw, static_cast<fb::Padding>(padding), dh, dw,
         l, l.out);
  l.q.activation = activation(act, where);
  if (fp32_) {
    cur_.weight = float_constant(w, where);
    cur_.bias = b >= 0 ? float_constant(b, where) : std::vector<float>(static_cast<size_t>(l.out.c), 0.f);
    if (cur_.bias.size() != static_cast<size_t>(l.out.c))
      bad(where + ": bias " + tensor_label(b) + " has " + std::to_string(cur_.bias.size()) + " values for " +
          std::to_string(l.out.c) + " channels");
    return;
  }
  l.q.weight = constant<int8_t>(w, fb::TensorType_INT8, where);
  l.q.weight_scale = weight_scales(w, l.out.c, depthwise ? 3 : 0, where);
  if (b >= 0) {
    l.q.bias = constant<int32_t>(b, fb::TensorType_INT32, where);
    if (l.q.bias.size() != static_cast<size_t>(l.out.c))
      bad(where + ": bias " + tensor_label(b) + " has " + std::to_string(l.q.bias.size()) + " values for " +
          std::to_string(l.out.c) + " channels");
  } else {
    l.q.bias.assign(static_cast<size_t>(l.out.c), 0);
  }
}

// A FULLY_CONNECTED reading a feature map (H or W > 1) without a RESHAPE: qparity's Dense reads a flat
// vector, so a Flatten (no bytes change) goes between.
void Reader::flatten_if_map(size_t i, int32_t in_tensor, QLayer &l) {
  const model::Shape s = chw(in_tensor, op_where(i));
  if (s.h == 1 && s.w == 1) return;
  QLayer f;
  f.op = Op::Flatten;
  f.inputs = l.inputs;
  f.in = s;
  f.out = {static_cast<int>(s.size()), 1, 1};
  f.q.output = activation_q(in_tensor, op_where(i));
  t_.layer_tensor.push_back(-1);
  t_.layer_operator.push_back(-1);
  fp_.push_back(FloatParams{});
  m_.layers.push_back(std::move(f));
  l.inputs = {static_cast<int>(m_.layers.size()) - 1};
}

void Reader::map_operator(size_t i) {
  const fb::Operator &op = *sg_->operators()->Get(static_cast<flatbuffers::uoffset_t>(i));
  const std::string where = op_where(i);
  const int32_t code = op_codes_[i];
  const auto *ins = op.inputs();
  const auto *outs = op.outputs();
  if (ins == nullptr || outs == nullptr || outs->size() != 1 || ins->size() < 1)
    bad(where + " needs at least one input and exactly one output", "the file is corrupt: convert the model again");
  for (const int32_t t : *ins)
    if (t != -1) tensor(t, where);
  const int32_t x = ins->Get(0), y = outs->Get(0);
  if (x < 0) bad(where + ": its first input is missing");
  tensor(y, where);
  if (producer_[static_cast<size_t>(y)] != kNone) bad(where + " writes " + tensor_label(y) + ", which is already written");
  QLayer l;
  if (fp32_ && (code == fb::BuiltinOperator_QUANTIZE || code == fb::BuiltinOperator_DEQUANTIZE))
    bad(where + ": a " + op_names_[i] + " in a model whose input is float32 (a mixed float/int8 model)", kHybrid);
  switch (code) {
    case fb::BuiltinOperator_QUANTIZE:
      if (x != graph_in_ || m_.layers.size() > 0 || int8_in_ != -1 || tensor(x, where).type() != fb::TensorType_FLOAT32)
        bad(where + ": QUANTIZE is supported only on the float32 graph input, as the first operator", kSupported);
      int8_in_ = y;
      m_.input = chw(y, where);
      m_.set_input_params(activation_q(y, where));
      m_.set_tensor_name(model::kGraphInput, tensor_name(y));
      producer_[static_cast<size_t>(y)] = model::kGraphInput;
      return;
    case fb::BuiltinOperator_DEQUANTIZE:
      if (y != graph_out_ || tensor(y, where).type() != fb::TensorType_FLOAT32)
        bad(where + ": DEQUANTIZE is supported only to the float32 graph output, as the last operator", kSupported);
      if (producer(x, where) != static_cast<int>(m_.layers.size()) - 1 || m_.layers.empty())
        bad(where + ": DEQUANTIZE must read the last layer's output", kSupported);
      int8_out_ = x;
      activation_q(x, where);
      return;
    case fb::BuiltinOperator_CONV_2D:
    case fb::BuiltinOperator_DEPTHWISE_CONV_2D: conv(i, op, code == fb::BuiltinOperator_DEPTHWISE_CONV_2D, l); break;
    case fb::BuiltinOperator_FULLY_CONNECTED: {
      if (ins->size() < 2 || ins->size() > 3) bad(where + " has " + std::to_string(ins->size()) + " inputs, expected 2 or 3");
      const auto *o = op.builtin_options_as_FullyConnectedOptions();
      if (o == nullptr) bad(where + " has no FullyConnectedOptions");
      if (o->weights_format() != fb::FullyConnectedOptionsWeightsFormat_DEFAULT)
        bad(where + ": shuffled weights format", "qparity reads FULLY_CONNECTED with the DEFAULT weights format");
      if (o->quantized_bias_type() != fb::TensorType_FLOAT32 && o->quantized_bias_type() != fb::TensorType_INT32)
        bad(where + ": bias type " + type_name(o->quantized_bias_type()), "qparity supports int32 biases");
      const int32_t w = ins->Get(1), b = ins->size() > 2 ? ins->Get(2) : -1;
      l.op = Op::Dense;
      l.inputs = {producer(x, where)};
      activation_q(x, where);
      l.q.output = activation_q(y, where);
      l.out = chw(y, where);
      if (l.out.h != 1 || l.out.w != 1) bad(where + ": its output is not a vector");
      const auto wd = dims(tensor(w, where), tensor_label(w));
      const model::Shape xs = chw(x, where);
      if (wd.size() != 2 || wd[0] != l.out.c || wd[1] != xs.size())
        bad(where + ": weights " + tensor_label(w) + " are not [" + std::to_string(l.out.c) + ", " + std::to_string(xs.size()) +
                "]",
            "qparity reads FULLY_CONNECTED with batch 1: the file is corrupt otherwise");
      flatten_if_map(i, x, l);
      l.in = {static_cast<int>(xs.size()), 1, 1};
      l.q.activation = activation(o->fused_activation_function(), where);
      if (fp32_) {
        cur_.weight = float_constant(w, where);
        cur_.bias = b >= 0 ? float_constant(b, where) : std::vector<float>(static_cast<size_t>(l.out.c), 0.f);
        if (cur_.bias.size() != static_cast<size_t>(l.out.c))
          bad(where + ": bias " + tensor_label(b) + " has " + std::to_string(cur_.bias.size()) + " values for " +
              std::to_string(l.out.c) + " outputs");
        break;
      }
      l.q.weight = constant<int8_t>(w, fb::TensorType_INT8, where);
      l.q.weight_scale = weight_scales(w, l.out.c, 0, where);
      if (b >= 0) {
        l.q.bias = constant<int32_t>(b, fb::TensorType_INT32, where);
        if (l.q.bias.size() != static_cast<size_t>(l.out.c))
          bad(where + ": bias " + tensor_label(b) + " has " + std::to_string(l.q.bias.size()) + " values for " +
              std::to_string(l.out.c) + " outputs");
      } else {
        l.q.bias.assign(static_cast<size_t>(l.out.c), 0);
      }
      break;
    }
    case fb::BuiltinOperator_ADD: {
      if (ins->size() != 2) bad(where + " has " + std::to_string(ins->size()) + " inputs, expected 2");
      const auto *o = op.builtin_options_as_AddOptions();
      l.op = Op::Add;
      l.inputs = {producer(x, where), producer(ins->Get(1), where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      if (!(chw(ins->Get(1), where) == l.in) || !(l.out == l.in))
        bad(where + ": its inputs and output differ in shape", "qparity's ADD adds tensors of the same shape (no broadcasting)");
      activation_q(x, where);
      activation_q(ins->Get(1), where);
      l.q.output = activation_q(y, where);
      l.q.activation = activation(o == nullptr ? fb::ActivationFunctionType_NONE : o->fused_activation_function(), where);
      break;
    }
    case fb::BuiltinOperator_CONCATENATION: {
      const auto *o = op.builtin_options_as_ConcatenationOptions();
      if (o == nullptr) bad(where + " has no ConcatenationOptions");
      const auto rank = dims(tensor(y, where), tensor_label(y)).size();
      const int axis = o->axis() < 0 ? o->axis() + static_cast<int>(rank) : o->axis();
      if (axis != static_cast<int>(rank) - 1)
        bad(where + ": concatenation along axis " + std::to_string(o->axis()),
            "qparity concatenates along channels (the last axis)");
      if (ins->size() < 2) bad(where + " has fewer than 2 inputs");
      l.op = Op::Concat;
      l.in = chw(x, where);
      l.out = chw(y, where);
      l.q.output = activation_q(y, where);
      int channels = 0;
      for (const int32_t t : *ins) {
        l.inputs.push_back(producer(t, where));
        const model::Shape s = chw(t, where);
        channels += s.c;
        const QParams q = activation_q(t, where);
        if (q.scale != l.q.output.scale || q.zero_point != l.q.output.zero_point)
          bad(where + ": input " + tensor_label(t) + " has another scale or zero point than the output",
              "TFLite Micro copies the bytes of CONCATENATION's inputs without requantizing; qparity requantizes: give the "
              "inputs the output's quantization (the TFLite converter does)");
        if (s.h != l.out.h || s.w != l.out.w) bad(where + ": input " + tensor_label(t) + " differs in height or width");
      }
      if (channels != l.out.c) bad(where + ": the inputs' channels do not add up to the output's");
      l.q.activation = activation(o->fused_activation_function(), where);
      break;
    }
    case fb::BuiltinOperator_AVERAGE_POOL_2D:
    case fb::BuiltinOperator_MAX_POOL_2D: {
      const auto *o = op.builtin_options_as_Pool2DOptions();
      if (o == nullptr) bad(where + " has no Pool2DOptions");
      l.op = code == fb::BuiltinOperator_MAX_POOL_2D ? Op::MaxPool : Op::AvgPool;
      l.inputs = {producer(x, where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      activation_q(x, where);
      l.q.output = activation_q(y, where);
      if (l.out.c != l.in.c) bad(where + ": input and output channels differ");
      window(i, l.in.h, l.in.w, o->filter_height(), o->filter_width(), o->stride_h(), o->stride_w(), o->padding(), 1, 1, l,
             l.out);
      l.q.activation = activation(o->fused_activation_function(), where);
      if (l.op == Op::AvgPool && l.kernel == l.in.h && l.kernel == l.in.w && l.pad_top == 0 &&
          l.pad_left == 0) {  // the window is the whole map
        l.op = Op::GlobalAvgPool;
        l.kernel = 0;
        l.stride = 1;
      }
      break;
    }
    case fb::BuiltinOperator_RESHAPE: {
      l.op = Op::Flatten;
      l.inputs = {producer(x, where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      activation_q(x, where);
      l.q.output = activation_q(y, where);
      if (l.out.h != 1 || l.out.w != 1 || l.out.size() != l.in.size())
        bad(where + ": a RESHAPE to " + model::shape_str(l.out) + " (CHW) is not a flatten",
            "qparity reads RESHAPE to [1, N] only");
      break;
    }
    case fb::BuiltinOperator_SOFTMAX: {
      const auto *o = op.builtin_options_as_SoftmaxOptions();
      if (o == nullptr) bad(where + " has no SoftmaxOptions");
      l.op = Op::Softmax;
      l.inputs = {producer(x, where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      activation_q(x, where);
      l.q.output = activation_q(y, where);
      if (l.in.h != 1 || l.in.w != 1 || !(l.out == l.in)) bad(where + ": qparity's SOFTMAX runs over a vector [1, N]");
      if (!(std::isfinite(o->beta()) && o->beta() > 0))
        bad(where + ": beta " + std::to_string(o->beta()) + " is not a finite number > 0");
      l.softmax_beta = o->beta();
      if (!fp32_ && (l.q.output.scale != 1.0 / 256 || l.q.output.zero_point != -128))
        bad(where + ": the output's scale " + std::to_string(l.q.output.scale) + " and zero point " +
                std::to_string(l.q.output.zero_point) + " are not TFLite's int8 softmax output (1/256, -128)",
            "convert with the TFLite converter's int8 quantization");
      break;
    }
    case fb::BuiltinOperator_PAD:
    case fb::BuiltinOperator_PADV2: {
      if (ins->size() != (code == fb::BuiltinOperator_PAD ? 2u : 3u))
        bad(where + " has " + std::to_string(ins->size()) + " inputs");
      l.op = Op::Pad;
      l.inputs = {producer(x, where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      const QParams qi = activation_q(x, where);
      l.q.output = activation_q(y, where);
      const int32_t pt = ins->Get(1);
      const auto pd = dims(tensor(pt, where), tensor_label(pt));
      if (pd.size() != 2 || pd[0] != 4 || pd[1] != 2 || dims(tensor(x, where), tensor_label(x)).size() != 4)
        bad(where + ": paddings " + tensor_label(pt) + " are not [4, 2] over a [1,H,W,C] map", kSupported);
      std::vector<int64_t> pads;
      if (tensor(pt, where).type() == fb::TensorType_INT64)
        pads = constant<int64_t>(pt, fb::TensorType_INT64, where);
      else
        for (const int32_t v : constant<int32_t>(pt, fb::TensorType_INT32, where)) pads.push_back(v);
      if (pads[0] != 0 || pads[1] != 0 || pads[6] != 0 || pads[7] != 0)
        bad(where + ": pads the batch or channel axis", "qparity pads H and W only");
      for (const int64_t v : pads)
        if (v < 0 || v > model::kMaxWindow)
          bad(where + ": padding " + std::to_string(v) + " is outside 0.." + std::to_string(model::kMaxWindow));
      l.pad_top = static_cast<int>(pads[2]);
      l.pad_left = static_cast<int>(pads[4]);
      if (l.out.c != l.in.c || l.out.h != l.in.h + pads[2] + pads[3] || l.out.w != l.in.w + pads[4] + pads[5])
        bad(where + ": its output shape does not fit its input and paddings", "the file is corrupt: convert the model again");
      if (qi.scale != l.q.output.scale || qi.zero_point != l.q.output.zero_point)
        bad(where + ": output scale/zero point differ from the input's", "TFLite's int8 PAD keeps its input's quantization");
      if (code == fb::BuiltinOperator_PADV2 && fp32_) {
        const auto v = float_constant(ins->Get(2), where);
        if (v.size() != 1 || v[0] != 0.f) bad(where + ": pads with a value other than 0", "qparity pads with 0");
      } else if (code == fb::BuiltinOperator_PADV2) {
        const auto v = constant<int8_t>(ins->Get(2), fb::TensorType_INT8, where);
        if (v.size() != 1 || v[0] != qi.zero_point)
          bad(where + ": pads with a value other than the zero point", "qparity pads with the zero point (the int8 image of 0)");
      }
      break;
    }
    case fb::BuiltinOperator_MEAN: {
      if (ins->size() != 2) bad(where + " has " + std::to_string(ins->size()) + " inputs, expected 2");
      const auto *o = op.builtin_options_as_ReducerOptions();
      l.op = Op::Mean;
      l.inputs = {producer(x, where)};
      l.in = chw(x, where);
      l.out = chw(y, where);
      activation_q(x, where);
      l.q.output = activation_q(y, where);
      l.keep_dims = o != nullptr && o->keep_dims();
      std::vector<int32_t> axes = constant<int32_t>(ins->Get(1), fb::TensorType_INT32, where);
      for (auto &a : axes) a = a < 0 ? a + 4 : a;
      std::sort(axes.begin(), axes.end());
      if (axes != std::vector<int32_t>{1, 2} || dims(tensor(x, where), tensor_label(x)).size() != 4)
        bad(where + ": MEAN over other axes than height and width", kSupported);
      if (!(l.out == model::Shape{l.in.c, 1, 1})) bad(where + ": its output is not one value per channel");
      break;
    }
    default: bad("operator " + std::to_string(i) + " is " + op_names_[i] + ", which qparity does not support", kSupported);
  }
  // Fused activations only where the kernel clamps: a pool/concat/reshape clamp must be a no-op.
  if (!fp32_ && !l.q.activation.empty() &&
      (l.op == Op::MaxPool || l.op == Op::AvgPool || l.op == Op::GlobalAvgPool || l.op == Op::Concat)) {
    const int32_t lo = std::max<int32_t>(-128, l.q.output.zero_point);
    const int32_t hi = l.q.activation == "relu6" ? std::min<int32_t>(127, ops::quantize_value(6.0, l.q.output)) : 127;
    if (lo != -128 || hi != 127)
      bad(where + ": fused " + l.q.activation + " on " + model::op_name(l.op) + " clamps the output",
          "qparity fuses activations into "
          "conv, depthwise, fully connected and add layers only");
    l.q.activation.clear();
  }
  add_layer(std::move(l), i, y);
}

Int8Tflite Reader::run(bool want_fp32) {
  if (size_ < 8 || !is_tflite_bytes(data_, size_))
    bad("is not a TensorFlow Lite model (no \"TFL3\" file identifier at bytes 4..7)", "pass a .tflite file");
  if (static_cast<int64_t>(size_) > kMaxFileBytes) bad("is larger than 1 GiB", "qparity reads models up to 1 GiB");
  flatbuffers::Verifier verifier(data_, size_, 64, 1000000);
  if (!fb::VerifyModelBuffer(verifier))
    bad("is not a valid TensorFlow Lite FlatBuffer (the FlatBuffers verifier rejects it: truncated or corrupt)",
        "convert the model again, or copy the file again if it was cut short");
  model_ = fb::GetModel(data_);
  if (model_->version() != 3)
    bad("has schema version " + std::to_string(model_->version()), "qparity reads TFLite schema version 3");
  const auto *sgs = model_->subgraphs();
  if (sgs == nullptr || sgs->size() != 1)
    bad("has " + std::to_string(sgs == nullptr ? 0 : sgs->size()) + " subgraphs", "qparity reads models of exactly one subgraph");
  sg_ = sgs->Get(0);
  if (sg_->tensors() == nullptr || sg_->operators() == nullptr || sg_->operators()->size() == 0)
    bad("has no operators or no tensors");
  const auto *codes = model_->operator_codes();
  const size_t n_ops = sg_->operators()->size();
  for (size_t i = 0; i < n_ops; ++i) {
    const fb::Operator *op = sg_->operators()->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (codes == nullptr || op->opcode_index() >= codes->size())
      bad("operator " + std::to_string(i) + " names operator code " + std::to_string(op->opcode_index()) +
              ", which does not exist",
          "the file is corrupt: convert the model again");
    const fb::OperatorCode *c = codes->Get(op->opcode_index());
    const int32_t code = std::max<int32_t>(c->deprecated_builtin_code(), c->builtin_code());
    if (code == fb::BuiltinOperator_CUSTOM) {
      op_codes_.push_back(-1);
      op_names_.push_back("custom operator '" + (c->custom_code() ? c->custom_code()->str() : std::string()) + "'");
    } else {
      op_codes_.push_back(code);
      op_names_.push_back(builtin_name(code));
    }
  }
  t_.operators = op_names_;
  if (model_->description() != nullptr) t_.description = model_->description()->str();
  // Metadata entries that hold text.
  quant::QModelFile &f = t_.file;
  if (const auto *md = model_->metadata()) {
    for (const fb::Metadata *e : *md) {
      if (e->name() == nullptr || model_->buffers() == nullptr || e->buffer() >= model_->buffers()->size()) continue;
      const auto *d = model_->buffers()->Get(e->buffer())->data();
      std::string v = d == nullptr ? "" : std::string(reinterpret_cast<const char *>(d->data()), d->size());
      while (!v.empty() && v.back() == '\0') v.pop_back();
      const bool text = std::all_of(v.begin(), v.end(), [](char ch) {
        return ch == '\n' || ch == '\t' || ch == '\r' || static_cast<unsigned char>(ch) >= 0x20;
      });
      if (text) f.metadata[e->name()->str()] = v;
    }
  }
  own_ = f.metadata.count("qparity.precision") != 0;
  // The graph's edges.
  if (sg_->inputs() == nullptr || sg_->inputs()->size() != 1 || sg_->outputs() == nullptr || sg_->outputs()->size() != 1)
    bad("has " + std::to_string(sg_->inputs() ? sg_->inputs()->size() : 0) + " inputs and " +
            std::to_string(sg_->outputs() ? sg_->outputs()->size() : 0) + " outputs",
        "qparity reads models of one input (an image) and one output");
  graph_in_ = sg_->inputs()->Get(0);
  graph_out_ = sg_->outputs()->Get(0);
  tensor(graph_in_, file_ + " subgraph input");
  tensor(graph_out_, file_ + " subgraph output");
  producer_.assign(sg_->tensors()->size(), kNone);
  const bool float_in = tensor(graph_in_, "").type() == fb::TensorType_FLOAT32;
  fp32_ = float_in && op_codes_[0] != fb::BuiltinOperator_QUANTIZE;  // float32 throughout (checked per tensor)
  if (fp32_ && !want_fp32)
    bad("is an FP32 (float32) TensorFlow Lite model, not an int8 one",
        "quantize it first (qparity quantize --model FILE --calib DATA/train --out model.tflite), or pass it where an FP32 "
        "model is read");
  if (!fp32_ && want_fp32)
    bad("is an int8 TensorFlow Lite model, not an FP32 one",
        "use the int8 model as it is (eval, firmware, device run take it), or quantize from its FP32 model");
  if (fp32_) {
    int8_in_ = graph_in_;
    m_.input = chw(graph_in_, file_ + " the model input");
    activation_q(graph_in_, file_ + " the model input");
    producer_[static_cast<size_t>(graph_in_)] = model::kGraphInput;
  } else if (!float_in) {
    int8_in_ = graph_in_;
    m_.input = chw(graph_in_, file_ + " the model input");
    m_.set_input_params(activation_q(graph_in_, file_ + " the model input"));
    m_.set_tensor_name(model::kGraphInput, tensor_name(graph_in_));
    producer_[static_cast<size_t>(graph_in_)] = model::kGraphInput;
  }
  for (size_t i = 0; i < n_ops; ++i) {
    if (int8_in_ < 0 && op_codes_[i] != fb::BuiltinOperator_QUANTIZE)
      bad("the model input " + tensor_label(graph_in_) + " is float32 and operator 0 is not a QUANTIZE of it", kSupported);
    if (int8_out_ >= 0)
      bad("operator " + std::to_string(i) + " (" + op_names_[i] + ") comes after the DEQUANTIZE of the output", kSupported);
    map_operator(i);
  }
  if (m_.layers.empty()) bad("has no layers qparity computes");
  if (int8_out_ < 0) int8_out_ = graph_out_;
  if (int8_out_ != t_.layer_tensor.back())
    bad("the model output " + tensor_label(graph_out_) + " is not written by the last operator",
        "qparity reads models whose last "
        "operator writes the output");
  if (m_.input.c < 1 || m_.input.h < 1) bad("the model input is not an image [1,H,W,C]");
  t_.input_tensor = int8_in_;
  t_.output_tensor = int8_out_;
  // Every layer but the last is read by a later one.
  std::vector<bool> read(m_.layers.size(), false);
  for (const auto &l : m_.layers)
    for (const int p : l.inputs)
      if (p >= 0) read[static_cast<size_t>(p)] = true;
  for (size_t k = 0; k + 1 < m_.layers.size(); ++k)
    if (!read[k])
      bad("operator " + std::to_string(t_.layer_operator[k]) + " (" + op_names_[static_cast<size_t>(t_.layer_operator[k])] +
              ") writes " + tensor_label(t_.layer_tensor[k]) + ", which nothing reads",
          "qparity reads models whose only output is the last operator's");
  // Classes written by qparity (tflite_write): one per line.
  if (const auto it = f.metadata.find("qparity.classes"); it != f.metadata.end()) {
    std::string line;
    for (const char ch : it->second + "\n") {
      if (ch == '\n') {
        if (!line.empty()) m_.classes.push_back(line);
        line.clear();
      } else if (ch != '\r') {
        line += ch;
      }
    }
  }
  // The input convention written by qparity (tflite_write); a foreign file states none (quant/model_file.h).
  if (const auto it = f.metadata.find("qparity.input"); it != f.metadata.end()) {
    try {
      m_.convention = quant::parse_convention(it->second, "metadata qparity.input");
    } catch (const Error &e) {
      bad(e.what());
    }
  }
  f.file_bytes = static_cast<int64_t>(size_);
  f.sha256 = sha256_hex(data_, size_);
  if (fp32_) {
    model::Graph g = build_graph();
    mf_.graph = std::move(g);
    mf_.metadata = f.metadata;
    mf_.file_bytes = f.file_bytes;
    mf_.sha256 = f.sha256;
    mf_.producer = "TensorFlow Lite" + (t_.description.empty() ? std::string() : " (" + t_.description + ")");
    return std::move(t_);
  }
  // Edges, input quantization, per-op checks; then TFLite's derived integers from the float32 scales.
  try {
    quant::normalize(m_);
    for (auto &l : m_.layers) quant::derive_requantization(l);
  } catch (const Error &e) {
    bad(e.what());
  }
  // The int32 accumulator of every weighted layer must not overflow for any input (what the quantizer proves for
  // its own models): a file whose biases or weights allow it would make the kernels' sums undefined behaviour.
  for (size_t k = 0; k < m_.layers.size(); ++k) {
    const auto &l = m_.layers[k];
    if (l.op != model::Op::Conv2D && l.op != model::Op::DepthwiseConv2D && l.op != model::Op::Dense) continue;
    for (int c = 0; c < static_cast<int>(l.q.bias.size()); ++c)
      if (quant::worst_case_accumulator(l, c) > std::numeric_limits<int32_t>::max())
        bad("layer " + std::to_string(k) + " (" + model::op_name(l.op) + ") output channel " + std::to_string(c) +
            ": the int32 accumulator could overflow (worst case " + std::to_string(quant::worst_case_accumulator(l, c)) +
            " from its bias and weights)");
  }
  f.model = std::move(m_);
  return std::move(t_);
}

// The FP32 model as qparity's graph (NCHW): filters OHWI -> OIHW, depthwise [1,K,K,C*M] -> [C*M][1][K][K], the
// columns of a FULLY_CONNECTED after a flattened map from HWC to CHW order, fused activations as ReLU/ReLU6 layers.
model::Graph Reader::build_graph() {
  model::Graph g;
  const auto arch = t_.file.metadata.find("qparity.arch");
  g.arch = arch != t_.file.metadata.end() ? arch->second : "imported";
  g.input = m_.input;
  g.classes = m_.classes;
  std::vector<int> node(m_.layers.size(), model::kGraphInput);  // per QLayer: the graph layer holding its output
  std::vector<bool> flat;                                         // per graph layer: a flat vector (model/ir.cpp's rule)
  auto is_flat = [&](int p) {
    return p < 0 ? (g.input.h == 1 && g.input.w == 1) : static_cast<bool>(flat[static_cast<size_t>(p)]);
  };
  for (size_t k = 0; k < m_.layers.size(); ++k) {
    const QLayer &q = m_.layers[k];
    FloatParams &fp = fp_[k];
    const std::string where = t_.layer_operator[k] < 0 ? file_ : op_where(static_cast<size_t>(t_.layer_operator[k]));
    model::Layer l;
    l.op = q.op;
    for (const int p : q.inputs) l.inputs.push_back(p < 0 ? model::kGraphInput : node[static_cast<size_t>(p)]);
    bool out_flat = l.inputs.empty() ? false : is_flat(l.inputs[0]);
    const model::Padding pad = fp.same ? model::Padding::Same : model::Padding::Valid;
    switch (q.op) {
      case Op::Conv2D:
        l.units = q.out.c, l.kernel = q.kernel, l.stride = q.stride, l.padding = pad;
        l.weight = model::conv_ohwi_to_oihw(fp.weight, q.out.c, q.in.c, q.kernel);
        l.bias = std::move(fp.bias);
        break;
      case Op::DepthwiseConv2D:
        l.units = q.out.c, l.kernel = q.kernel, l.stride = q.stride, l.padding = pad;
        l.depth_multiplier = q.out.c / q.in.c;
        l.weight = model::depthwise_kkc_to_ckk(fp.weight, q.out.c, q.kernel);
        l.bias = std::move(fp.bias);
        break;
      case Op::Dense: {
        l.units = q.out.c;
        // The map a flatten before it came from (its columns are in that map's HWC order in the file).
        int src = q.inputs[0];
        model::Shape map = src < 0 ? g.input : m_.layers[static_cast<size_t>(src)].out;
        while (src >= 0 && m_.layers[static_cast<size_t>(src)].op == Op::Flatten) {
          map = m_.layers[static_cast<size_t>(src)].in;
          src = m_.layers[static_cast<size_t>(src)].inputs[0];
        }
        l.weight = model::dense_columns_hwc_to_chw(fp.weight, q.out.c, map);
        l.bias = std::move(fp.bias);
        if (!is_flat(l.inputs[0])) {  // e.g. a MEAN with keep_dims: qparity's Dense reads a flat vector
          model::Layer f;
          f.op = Op::Flatten;
          f.inputs = l.inputs;
          g.layers.push_back(std::move(f));
          flat.push_back(true);
          l.inputs = {static_cast<int>(g.layers.size()) - 1};
        }
        out_flat = true;
        break;
      }
      case Op::MaxPool:
      case Op::AvgPool: l.kernel = q.kernel, l.stride = q.stride, l.padding = pad; break;
      case Op::GlobalAvgPool:
      case Op::Flatten: out_flat = true; break;
      case Op::Mean:
        l.keep_dims = q.keep_dims;
        out_flat = !q.keep_dims;
        break;
      case Op::Pad:
        l.pad_top = q.pad_top, l.pad_left = q.pad_left;
        l.pad_bottom = q.out.h - q.in.h - q.pad_top, l.pad_right = q.out.w - q.in.w - q.pad_left;
        break;
      case Op::Softmax: l.softmax_beta = static_cast<float>(q.softmax_beta); break;
      default: break;  // Add, Concat
    }
    g.layers.push_back(std::move(l));
    flat.push_back(out_flat);
    if (!q.q.activation.empty()) {
      model::Layer a;
      a.op = q.q.activation == "relu6" ? Op::ReLU6 : Op::ReLU;
      a.inputs = {static_cast<int>(g.layers.size()) - 1};
      g.layers.push_back(std::move(a));
      flat.push_back(out_flat);
    }
    node[k] = static_cast<int>(g.layers.size()) - 1;
  }
  g.set_tensor_name(model::kGraphInput, tensor_name(graph_in_));
  for (size_t k = 0; k < m_.layers.size(); ++k) g.set_tensor_name(node[k], m_.layers[k].q.name);
  try {
    model::infer_shapes(g);
  } catch (const Error &e) {
    bad(e.what());
  }
  for (size_t k = 0; k < m_.layers.size(); ++k)
    if (!(g.layers[static_cast<size_t>(node[k])].out == m_.layers[k].out))
      bad("layer " + std::to_string(k) + " (" + model::op_name(m_.layers[k].op) + ") computes " +
              model::shape_str(g.layers[static_cast<size_t>(node[k])].out) + " but its tensor is " +
              model::shape_str(m_.layers[k].out),
          "the file is corrupt: convert the model again");
  const model::Shape out = g.output();
  if (out.h != 1 || out.w != 1) bad("the output is not a flat class vector (shape " + model::shape_str(out) + ")");
  if (!g.classes.empty() && static_cast<int>(g.classes.size()) != out.c)
    bad("metadata qparity.classes names " + std::to_string(g.classes.size()) + " classes but the model outputs " +
        std::to_string(out.c));
  return g;
}

model::ModelFile Reader::fp32_file() { return std::move(mf_); }

}  // namespace

bool is_tflite_bytes(const uint8_t *data, size_t size) {
  return size >= 8 && std::memcmp(data + 4, "TFL3", 4) == 0;
}

bool is_tflite_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  uint8_t head[8] = {};
  if (!in.read(reinterpret_cast<char *>(head), 8)) return false;
  return is_tflite_bytes(head, 8);
}

Int8Tflite read_int8_tflite(const uint8_t *data, size_t size, const std::string &name) {
  // A copy aligned for the verifier's alignment checks (buffers are 16-byte aligned in the file).
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size > 0) std::memcpy(aligned.data(), data, size);
  return Reader(reinterpret_cast<const uint8_t *>(aligned.data()), size, name).run();
}

model::ModelFile read_fp32_tflite(const uint8_t *data, size_t size, const std::string &name) {
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size > 0) std::memcpy(aligned.data(), data, size);
  Reader r(reinterpret_cast<const uint8_t *>(aligned.data()), size, name);
  r.run(true);
  return r.fp32_file();
}

bool is_fp32_tflite_bytes(const uint8_t *data, size_t size) {
  if (!is_tflite_bytes(data, size) || static_cast<int64_t>(size) > kMaxFileBytes) return false;
  std::vector<uint64_t> aligned((size + 7) / 8);
  std::memcpy(aligned.data(), data, size);
  const auto *p = reinterpret_cast<const uint8_t *>(aligned.data());
  flatbuffers::Verifier verifier(p, size, 64, 1000000);
  if (!fb::VerifyModelBuffer(verifier)) return false;
  const fb::Model *m = fb::GetModel(p);
  const auto *sgs = m->subgraphs();
  if (sgs == nullptr || sgs->size() != 1) return false;
  const fb::SubGraph *sg = sgs->Get(0);
  const auto *ts = sg->tensors();
  const auto *ops = sg->operators();
  const auto *codes = m->operator_codes();
  if (ts == nullptr || ops == nullptr || codes == nullptr || ops->size() == 0 || sg->inputs() == nullptr ||
      sg->inputs()->size() != 1)
    return false;
  const int32_t in = sg->inputs()->Get(0);
  if (in < 0 || static_cast<size_t>(in) >= ts->size() || ts->Get(static_cast<flatbuffers::uoffset_t>(in))->type() !=
                                                            fb::TensorType_FLOAT32)
    return false;
  const uint32_t oc = ops->Get(0)->opcode_index();
  if (oc >= codes->size()) return false;
  const fb::OperatorCode *c = codes->Get(oc);
  return std::max<int32_t>(c->deprecated_builtin_code(), c->builtin_code()) != fb::BuiltinOperator_QUANTIZE;
}

namespace {
std::vector<uint64_t> read_model_bytes(const std::string &path, size_t &n) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail("model file '" + path + "' does not exist", "pass a .tflite or .onnx model");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || static_cast<int64_t>(size) > kMaxFileBytes) fail("'" + path + "' cannot be read or is larger than 1 GiB");
  n = static_cast<size_t>(size);
  std::vector<uint64_t> buf((n + 7) / 8);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char *>(buf.data()), static_cast<std::streamsize>(n)))
    fail("cannot read '" + path + "'", "check the file's permissions");
  return buf;
}
}  // namespace

bool is_fp32_tflite_file(const std::string &path) {
  if (!is_tflite_file(path)) return false;
  try {
    size_t n = 0;
    const auto buf = read_model_bytes(path, n);
    return is_fp32_tflite_bytes(reinterpret_cast<const uint8_t *>(buf.data()), n);
  } catch (const Error &) {
    return false;
  }
}

model::ModelFile load_fp32_tflite(const std::string &path) {
  size_t n = 0;
  const auto buf = read_model_bytes(path, n);
  Reader r(reinterpret_cast<const uint8_t *>(buf.data()), n, path);
  r.run(true);
  model::ModelFile f = r.fp32_file();
  f.path = path;
  return f;
}

Int8Tflite load_int8_tflite(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail("model file '" + path + "' does not exist", "pass a .tflite or .onnx model");
  const auto n = std::filesystem::file_size(path, ec);
  if (ec || static_cast<int64_t>(n) > kMaxFileBytes) fail("'" + path + "' cannot be read or is larger than 1 GiB");
  std::vector<uint64_t> buf((n + 7) / 8);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char *>(buf.data()), static_cast<std::streamsize>(n)))
    fail("cannot read '" + path + "'", "check the file's permissions");
  Int8Tflite t = Reader(reinterpret_cast<const uint8_t *>(buf.data()), n, path).run();
  t.file.path = path;
  return t;
}

std::string describe_int8_tflite(const Int8Tflite &t) {
  const quant::QModel &m = t.file.model;
  std::string out;
  char line[512];
  std::string classes;
  for (const auto &c : m.classes) classes += (classes.empty() ? "" : ", ") + c;
  std::snprintf(line, sizeof line, "model     %s (INT8, TensorFlow Lite%s%s)\nclasses   %s\n", t.file.path.c_str(),
                t.description.empty() ? "" : ": ", t.description.c_str(),
                classes.empty() ? "(none in the file)" : classes.c_str());
  out += line;
  std::snprintf(line, sizeof line, "input     tensor %d, int8 %dx%dx%d (HxWxC), scale %.9g, zero point %d\n", t.input_tensor,
                m.input.h, m.input.w, m.input.c, m.input_params().scale, m.input_params().zero_point);
  out += line;
  const quant::QParams &oq = m.layers.back().q.output;
  std::snprintf(line, sizeof line, "output    tensor %d, int8 [%d], scale %.9g, zero point %d\n\n", t.output_tensor,
                m.layers.back().out.c, oq.scale, oq.zero_point);
  out += line;
  std::snprintf(line, sizeof line, "  #  %-22s %-14s %-6s %-11s %-7s %12s %5s %12s %5s %10s %21s\n", "TFLite operator", "layer",
                "act", "output", "tensor", "in scale", "in zp", "out scale", "out zp", "MACs", "weight scales");
  out += line;
  int64_t macs = 0;
  for (size_t k = 0; k < m.layers.size(); ++k) {
    const QLayer &l = m.layers[k];
    model::Layer fl;
    fl.op = l.op;
    fl.in = l.in;
    fl.out = l.out;
    fl.kernel = l.kernel;
    fl.units = l.out.c;
    const int64_t lm = model::mac_count(fl);
    macs += lm;
    std::string ws = "-";
    if (!l.q.weight_scale.empty()) {
      const auto [lo, hi] = std::minmax_element(l.q.weight_scale.begin(), l.q.weight_scale.end());
      char b[64];
      std::snprintf(b, sizeof b, "%.3g..%.3g", *lo, *hi);
      ws = b;
    }
    const int oi = t.layer_operator[k];
    const std::string op = oi < 0 ? "- (inserted)" : std::to_string(oi) + " " + t.operators[static_cast<size_t>(oi)];
    const std::string tn = t.layer_tensor[k] < 0 ? "-" : std::to_string(t.layer_tensor[k]);
    std::snprintf(line, sizeof line, "%3zu  %-22s %-14s %-6s %-11s %-7s %12.6g %5d %12.6g %5d %10lld %21s", k, op.c_str(),
                  model::op_name(l.op), l.q.activation.empty() ? "-" : l.q.activation.c_str(), model::shape_str(l.out).c_str(),
                  tn.c_str(), l.q.input.scale, l.q.input.zero_point, l.q.output.scale, l.q.output.zero_point,
                  static_cast<long long>(lm), ws.c_str());
    out += line;
    if (!(l.inputs.size() == 1 && l.inputs[0] + 1 == static_cast<int>(k))) {
      std::string reads;
      for (const int p : l.inputs) reads += (reads.empty() ? "" : ", ") + (p < 0 ? std::string("input") : std::to_string(p));
      out += "  <- " + reads;
    }
    out += model::tensor_name_column(l.q.name);
    out += "\n";
  }
  const auto plan = quant::plan_arena(m, {}, 4);
  std::snprintf(line, sizeof line,
                "\nparameters  %lld bytes (int8 weights + int32 biases)\nMACs        %lld per inference\n"
                "arena       %u bytes (qparity's planner, 4-byte aligned; every tensor apart: %u)\n"
                "file        %lld bytes, sha256 %s\n",
                static_cast<long long>(m.int8_parameter_bytes()), static_cast<long long>(macs), plan.arena_bytes,
                plan.naive_bytes, static_cast<long long>(t.file.file_bytes), t.file.sha256.c_str());
  out += line;
  for (const auto &[k, v] : t.file.metadata) {
    std::string shown = v.substr(0, 60);
    std::replace(shown.begin(), shown.end(), '\n', ',');
    out += "metadata    " + k + " = " + shown + (v.size() > 60 ? "..." : "") + "\n";
  }
  return out;
}

}  // namespace qp::tflite
