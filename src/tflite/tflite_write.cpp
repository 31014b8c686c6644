// INT8 QModel -> TensorFlow Lite flatbuffer (see tflite_write.h). Each layer becomes one operator whose
// integers TensorFlow Lite Micro rebuilds from the float32 scales in the file; `check_*` below redo that
// preparation (TFLM's formulas, e.g. the clamp of a fused ReLU6 in float arithmetic, the per-tensor
// FULLY_CONNECTED multiplier from the float32 product of the scales) and refuse a layer whose integers
// would differ from the QLayer's.
#include "tflite/tflite_write.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "data/image_io.h"
#include "quant/input_map.h"
#include "quant/labels.h"
#include "quant/multiplier.h"
#include "quant/qdq_onnx.h"
#include "tflite/tflite_build.h"

namespace qp::tflite {

namespace fs = std::filesystem;
using model::Op;
using quant::QLayer;
using quant::QModel;
using quant::QParams;

namespace {

// Operator versions as TFLite's converter writes them for int8 kernels (TFLM ignores them; the TFLite
// interpreter picks its kernels by them).
int op_version(fb::BuiltinOperator code) {
  switch (code) {
    case fb::BuiltinOperator_CONV_2D:
    case fb::BuiltinOperator_DEPTHWISE_CONV_2D: return 3;
    case fb::BuiltinOperator_FULLY_CONNECTED: return 4;
    case fb::BuiltinOperator_RESHAPE: return 1;
    default: return 2;  // ADD, CONCATENATION, AVERAGE_POOL_2D, MAX_POOL_2D, SOFTMAX, PAD, MEAN: their int8 version
  }
}

// NHWC shape of a layer's output tensor: rank 4 for maps, rank 2 ([1, N]) for vectors.
std::vector<int32_t> nhwc(const model::Shape &s, int rank) {
  if (rank == 2) return {1, static_cast<int32_t>(s.size())};
  return {1, s.h, s.w, s.c};
}

class Writer : public TfliteBuilder {
 public:
  explicit Writer(const QModel &m) : m_(m) {}

  std::vector<uint8_t> run(const std::map<std::string, std::string> &metadata);

 private:
  const QModel &m_;
  std::vector<int> tensor_of_, rank_of_;  // per layer: its output tensor and that tensor's rank

  float f32(double v, const std::string &what) const {
    const float f = static_cast<float>(v);
    if (!(static_cast<double>(f) == v) || !(f > 0.f) || !std::isfinite(f))
      refuse(what + " " + std::to_string(v) + " is not a positive float32 value",
             "re-quantize the model with this qparity (its scales are float32)");
    return f;
  }

  Off<fb::QuantizationParameters> quantization(const std::vector<float> &scales, const std::vector<int64_t> &zero_points,
                                               int dim) {
    const auto s = fbb_.CreateVector(scales);
    const auto z = fbb_.CreateVector(zero_points);
    fb::QuantizationParametersBuilder b(fbb_);
    b.add_scale(s);
    b.add_zero_point(z);
    if (dim != 0) b.add_quantized_dimension(dim);
    return b.Finish();
  }

  Off<fb::QuantizationParameters> activation_q(const QParams &p, const std::string &what) {
    if (p.zero_point < -128 || p.zero_point > 127)
      refuse(what + " zero point " + std::to_string(p.zero_point) + " is outside int8", "");
    return quantization({f32(p.scale, what + " scale")}, {p.zero_point}, 0);
  }

  // TFLM's CalculateActivationRangeQuantized: q = zp + round(f / scale) in float arithmetic.
  std::pair<int32_t, int32_t> tflm_clamp(const std::string &activation, const QParams &out) const {
    const float scale = static_cast<float>(out.scale);
    auto q = [&](float f) {
      const float t = std::round(f / scale);
      if (!(std::fabs(t) < 2147483648.f))
        refuse("the output scale is too small for a fused " + activation, "re-quantize the model");
      return out.zero_point + static_cast<int32_t>(t);
    };
    int32_t lo = -128, hi = 127;
    if (activation == "relu" || activation == "relu6") lo = std::max<int32_t>(lo, q(0.f));
    if (activation == "relu6") hi = std::min<int32_t>(hi, q(6.f));
    return {lo, hi};
  }

  fb::ActivationFunctionType fused(const QLayer &l, int32_t act_min, int32_t act_max) const {
    const auto [lo, hi] = tflm_clamp(l.q.activation, l.q.output);
    if (lo != act_min || hi != act_max)
      refuse("its clamp [" + std::to_string(act_min) + ", " + std::to_string(act_max) + "] differs from the [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "] TensorFlow Lite computes for a fused " + l.q.activation +
                 " from the float32 output scale",
             "re-quantize the model with this qparity");
    if (l.q.activation.empty()) return fb::ActivationFunctionType_NONE;
    if (l.q.activation == "relu") return fb::ActivationFunctionType_RELU;
    if (l.q.activation == "relu6") return fb::ActivationFunctionType_RELU6;
    refuse("fused activation '" + l.q.activation + "' has no TensorFlow Lite equivalent", "use relu or relu6");
  }

  void no_activation(const QLayer &l) const {
    if (!l.q.activation.empty()) refuse("a fused " + l.q.activation + " is not supported on this op in TensorFlow Lite", "");
  }

  void same_params(const QParams &a, const QParams &b, const std::string &what) const {
    if (a.scale != b.scale || a.zero_point != b.zero_point)
      refuse(what + ": output scale/zero point (" + std::to_string(b.scale) + ", " + std::to_string(b.zero_point) +
                 ") differ from the input's (" + std::to_string(a.scale) + ", " + std::to_string(a.zero_point) +
                 "); TensorFlow Lite's int8 kernel for it keeps its input's quantization",
             "re-quantize the model with this qparity");
  }

  // SAME or VALID: whichever of TFLite's paddings gives the layer's output size and pad_top/pad_left.
  fb::Padding padding(const QLayer &l, int kh, int kw) const {
    auto fits = [&](bool same) {
      for (int axis = 0; axis < 2; ++axis) {
        const int in = axis ? l.in.w : l.in.h, out = axis ? l.out.w : l.out.h, k = axis ? kw : kh;
        const int pad = axis ? l.pad_left : l.pad_top;
        const int o = same ? (in + l.stride - 1) / l.stride : (in >= k ? (in - k) / l.stride + 1 : -1);
        const int total = same ? std::max((o - 1) * l.stride + k - in, 0) : 0;
        if (o != out || pad != total / 2) return false;
      }
      return true;
    };
    if (fits(false)) return fb::Padding_VALID;
    if (fits(true)) return fb::Padding_SAME;
    refuse("its padding (top " + std::to_string(l.pad_top) + ", left " + std::to_string(l.pad_left) + ", output " +
               model::shape_str(l.out) + ") is neither TensorFlow Lite's SAME nor VALID",
           "use 'same' or 'valid' padding (TFLite puts the odd pixel bottom/right)");
  }

  // Per-channel multipliers as TFLM's PopulateConvolutionQuantizationParams computes them.
  void check_multipliers(const QLayer &l, const std::vector<double> &real) const {
    if (l.q.multiplier.size() != real.size() || l.q.shift.size() != real.size())
      refuse("it has " + std::to_string(l.q.multiplier.size()) + " multipliers for " + std::to_string(real.size()) +
                 " output channels",
             "the model is corrupt: re-quantize it");
    for (size_t c = 0; c < real.size(); ++c) {
      const auto q = quant::quantize_multiplier(real[c]);
      if (q.multiplier != l.q.multiplier[c] || q.shift != l.q.shift[c])
        refuse("channel " + std::to_string(c) + ": TensorFlow Lite would requantize with multiplier " +
                   std::to_string(q.multiplier) + " shift " + std::to_string(q.shift) + ", the model uses " +
                   std::to_string(l.q.multiplier[c]) + " shift " + std::to_string(l.q.shift[c]),
               "re-quantize the model with this qparity, or keep it as QDQ ONNX (.onnx)");
    }
  }

  void weighted(const QLayer &l, int in_tensor, int out_tensor_q, size_t k);
  void layer(size_t k);
};

void Writer::weighted(const QLayer &l, int in_tensor, int out_tensor, size_t k) {
  const std::string id = "l" + std::to_string(k);
  const int oc = l.out.c;
  const float in_s = f32(l.q.input.scale, "input scale"), out_s = f32(l.q.output.scale, "output scale");
  if (static_cast<int>(l.q.weight_scale.size()) != oc)
    refuse("it has " + std::to_string(l.q.weight_scale.size()) + " weight scales", "");
  std::vector<float> ws;
  for (double s : l.q.weight_scale) ws.push_back(f32(s, "weight scale"));
  const bool uniform = std::all_of(ws.begin(), ws.end(), [&](float s) { return s == ws[0]; });
  std::vector<int32_t> wshape;
  int qdim = 0;
  std::vector<double> real(static_cast<size_t>(oc));
  if (l.op == Op::Dense) {
    wshape = {oc, static_cast<int32_t>(l.in.size())};
    if (!uniform)
      refuse(
          "per-channel weight scales on a fully connected layer: TensorFlow Lite Micro's int8 FULLY_CONNECTED "
          "(before its 2024 per-channel support, and ESP-NN's optimized kernel) uses one weight scale per layer",
          "quantize with --weights per-tensor, or keep the model as QDQ ONNX (.onnx)");
    // GetQuantizedConvolutionMultipler: the product of the scales in float32, then divided in double.
    std::fill(real.begin(), real.end(), static_cast<double>(in_s * ws[0]) / static_cast<double>(out_s));
    ws.resize(1);
  } else if (l.op == Op::Conv2D) {
    wshape = {oc, l.kernel, l.kernel, l.in.c};
    for (int c = 0; c < oc; ++c) real[static_cast<size_t>(c)] = static_cast<double>(in_s) * ws[static_cast<size_t>(c)] / out_s;
  } else {  // depthwise: [1, KH, KW, C * M], per-channel scales on axis 3
    wshape = {1, l.kernel, l.kernel, oc};
    qdim = 3;
    for (int c = 0; c < oc; ++c) real[static_cast<size_t>(c)] = static_cast<double>(in_s) * ws[static_cast<size_t>(c)] / out_s;
  }
  int64_t welems = 1;
  for (int32_t d : wshape) welems *= d;
  if (static_cast<int64_t>(l.q.weight.size()) != welems)
    refuse("it has " + std::to_string(l.q.weight.size()) + " weights, its shapes ask for " + std::to_string(welems),
           "the model is corrupt: re-quantize it");
  check_multipliers(l, real);
  // One weight scale when they are all equal (per-tensor), else one per output channel.
  if (uniform && (l.op == Op::Dense || m_.quant_options.weights == quant::WeightMode::PerTensor)) ws.resize(1);
  const std::vector<int64_t> zeros(ws.size(), 0);
  const int w = tensor(id + ".weight", wshape, fb::TensorType_INT8, buffer(l.q.weight.data(), l.q.weight.size()),
                       quantization(ws, zeros, qdim));
  int b = -1;
  if (!l.q.bias.empty()) {
    if (static_cast<int>(l.q.bias.size()) != oc) refuse("it has " + std::to_string(l.q.bias.size()) + " biases", "");
    std::vector<float> bs;
    for (float s : ws) bs.push_back(in_s * s);
    b = tensor(id + ".bias", {oc}, fb::TensorType_INT32, buffer(l.q.bias.data(), l.q.bias.size() * 4),
               quantization(bs, zeros, 0));
  }
  const auto act = fused(l, l.q.act_min, l.q.act_max);
  const std::vector<int> in = {in_tensor, w, b};
  if (l.op == Op::Dense) {
    fb::FullyConnectedOptionsBuilder o(fbb_);
    o.add_fused_activation_function(act);
    op(fb::BuiltinOperator_FULLY_CONNECTED, in, out_tensor, fb::BuiltinOptions_FullyConnectedOptions, o.Finish().Union());
  } else if (l.op == Op::Conv2D) {
    const fb::Padding pad = padding(l, l.kernel, l.kernel);
    fb::Conv2DOptionsBuilder o(fbb_);
    o.add_padding(pad);
    o.add_stride_w(l.stride);
    o.add_stride_h(l.stride);
    o.add_fused_activation_function(act);
    op(fb::BuiltinOperator_CONV_2D, in, out_tensor, fb::BuiltinOptions_Conv2DOptions, o.Finish().Union());
  } else {
    if (l.in.c <= 0 || oc % l.in.c != 0) refuse("its " + std::to_string(oc) + " outputs are not a multiple of its inputs", "");
    const fb::Padding pad = padding(l, l.kernel, l.kernel);
    fb::DepthwiseConv2DOptionsBuilder o(fbb_);
    o.add_padding(pad);
    o.add_stride_w(l.stride);
    o.add_stride_h(l.stride);
    o.add_depth_multiplier(oc / l.in.c);
    o.add_fused_activation_function(act);
    op(fb::BuiltinOperator_DEPTHWISE_CONV_2D, in, out_tensor, fb::BuiltinOptions_DepthwiseConv2DOptions, o.Finish().Union());
  }
}

void Writer::layer(size_t k) {
  const QLayer &l = m_.layers[k];
  where_ = "layer " + quant::layer_label(m_, k);
  const std::string id = "l" + std::to_string(k);
  std::vector<int> in;
  std::vector<int> in_rank;
  for (int p : l.inputs) {
    in.push_back(p < 0 ? 0 : tensor_of_[static_cast<size_t>(p)]);
    in_rank.push_back(p < 0 ? 4 : rank_of_[static_cast<size_t>(p)]);
  }
  int rank = 4;
  switch (l.op) {
    case Op::Dense:
    case Op::Flatten: rank = 2; break;
    case Op::Softmax: rank = in_rank[0]; break;
    case Op::Mean: rank = l.keep_dims ? 4 : 2; break;
    case Op::Add: rank = *std::max_element(in_rank.begin(), in_rank.end()); break;
    case Op::Concat:
      rank = in_rank[0];
      if (std::any_of(in_rank.begin(), in_rank.end(), [&](int r) { return r != rank; }))
        refuse("it concatenates feature maps with vectors", "concatenate tensors of one kind");
      break;
    default: break;
  }
  const int out =
      tensor(l.q.name.empty() ? id + "." + model::op_name(l.op) : l.q.name,  // the name it came with, else qparity's own
             nhwc(l.out, rank), fb::TensorType_INT8, 0, activation_q(l.q.output, "output"));
  tensor_of_[k] = out;
  rank_of_[k] = rank;
  switch (l.op) {
    case Op::Conv2D:
    case Op::DepthwiseConv2D:
    case Op::Dense: weighted(l, in[0], out, k); break;
    case Op::Add: {
      const QParams &a = l.q.input_q.at(0), &b = l.q.input_q.at(1);
      const auto act = fused(l, l.q.add.act_min, l.q.add.act_max);
      const qp_add_params_t want =
          quant::add_params(f32(a.scale, "input 1 scale"), a.zero_point, f32(b.scale, "input 2 scale"), b.zero_point,
                            f32(l.q.output.scale, "output scale"), l.q.output.zero_point, l.q.add.act_min, l.q.add.act_max);
      if (std::memcmp(&want, &l.q.add, sizeof want) != 0)
        refuse("its ADD parameters differ from those TensorFlow Lite derives from the file's scales",
               "re-quantize the model with this qparity");
      fb::AddOptionsBuilder o(fbb_);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_ADD, in, out, fb::BuiltinOptions_AddOptions, o.Finish().Union());
      break;
    }
    case Op::Concat: {
      no_activation(l);
      for (size_t j = 0; j < l.inputs.size(); ++j) {
        const QParams &q = l.q.input_q.at(j);
        if (q.scale != l.q.output.scale || q.zero_point != l.q.output.zero_point)
          refuse("input " + std::to_string(j) + " (scale " + std::to_string(q.scale) + ", zero point " +
                     std::to_string(q.zero_point) + ") is requantized to the output's (scale " +
                     std::to_string(l.q.output.scale) + ", zero point " + std::to_string(l.q.output.zero_point) +
                     "), but TensorFlow Lite Micro's int8 CONCATENATION copies bytes "
                     "without requantizing, so it would compute other outputs",
                 "give the concatenated branches the concat's output scale and zero point, replace the Concat (e.g. by Add), "
                 "or keep the model as QDQ ONNX (.onnx)");
      }
      fb::ConcatenationOptionsBuilder o(fbb_);
      o.add_axis(rank - 1);
      op(fb::BuiltinOperator_CONCATENATION, in, out, fb::BuiltinOptions_ConcatenationOptions, o.Finish().Union());
      break;
    }
    case Op::MaxPool:
    case Op::AvgPool:
    case Op::GlobalAvgPool: {
      no_activation(l);
      same_params(l.q.input, l.q.output, "pooling");
      const bool global = l.op == Op::GlobalAvgPool;
      if (global && (l.out.c != l.in.c || l.out.h != 1 || l.out.w != 1)) refuse("its output is not one value per channel", "");
      const fb::Padding pad = global ? fb::Padding_VALID : padding(l, l.kernel, l.kernel);
      fb::Pool2DOptionsBuilder o(fbb_);
      o.add_padding(pad);
      o.add_stride_w(global ? 1 : l.stride);
      o.add_stride_h(global ? 1 : l.stride);
      o.add_filter_width(global ? l.in.w : l.kernel);
      o.add_filter_height(global ? l.in.h : l.kernel);
      op(l.op == Op::MaxPool ? fb::BuiltinOperator_MAX_POOL_2D : fb::BuiltinOperator_AVERAGE_POOL_2D, in, out,
         fb::BuiltinOptions_Pool2DOptions, o.Finish().Union());
      break;
    }
    case Op::Mean: {
      no_activation(l);
      check_multipliers(l, {static_cast<double>(f32(l.q.input.scale, "input scale")) / f32(l.q.output.scale, "output scale")});
      const int axes = int32_constant(id + ".axes", {1, 2}, {2});
      fb::ReducerOptionsBuilder o(fbb_);
      o.add_keep_dims(l.keep_dims);
      op(fb::BuiltinOperator_MEAN, {in[0], axes}, out, fb::BuiltinOptions_ReducerOptions, o.Finish().Union());
      break;
    }
    case Op::Pad: {
      no_activation(l);
      same_params(l.q.input, l.q.output, "Pad");
      const int bottom = l.out.h - l.in.h - l.pad_top, right = l.out.w - l.in.w - l.pad_left;
      if (l.pad_top < 0 || l.pad_left < 0 || bottom < 0 || right < 0 || l.out.c != l.in.c)
        refuse("its padding does not fit its shapes", "the model is corrupt: re-quantize it");
      const int pads = int32_constant(id + ".paddings", {0, 0, l.pad_top, bottom, l.pad_left, right, 0, 0}, {4, 2});
      op(fb::BuiltinOperator_PAD, {in[0], pads}, out, fb::BuiltinOptions_PadOptions,
         fb::PadOptionsBuilder(fbb_).Finish().Union());
      break;
    }
    case Op::Flatten: {
      same_params(l.q.input, l.q.output, "Flatten");
      const std::vector<int32_t> shape = nhwc(l.out, 2);
      const int s = int32_constant(id + ".shape", shape, {2});
      const auto ns = fbb_.CreateVector(shape);
      fb::ReshapeOptionsBuilder o(fbb_);
      o.add_new_shape(ns);
      op(fb::BuiltinOperator_RESHAPE, {in[0], s}, out, fb::BuiltinOptions_ReshapeOptions, o.Finish().Union());
      break;
    }
    case Op::Softmax: {
      no_activation(l);
      if (l.q.output.scale != 1.0 / 256.0 || l.q.output.zero_point != -128)
        refuse("its output is not quantized with scale 1/256 and zero point -128, which TensorFlow Lite's int8 SOFTMAX requires",
               "re-quantize the model with this qparity");
      const float beta = l.softmax_beta;  // float32 in every model (a file's other value is refused on reading)
      const auto sp = quant::softmax_params(f32(l.q.input.scale, "input scale"), beta);
      if (sp.input_multiplier != l.q.softmax.input_multiplier || sp.input_left_shift != l.q.softmax.input_left_shift ||
          sp.diff_min != l.q.softmax.diff_min)
        refuse("its softmax parameters differ from those TensorFlow Lite derives from the input scale and beta",
               "re-quantize the model with this qparity");
      fb::SoftmaxOptionsBuilder o(fbb_);
      o.add_beta(beta);
      op(fb::BuiltinOperator_SOFTMAX, in, out, fb::BuiltinOptions_SoftmaxOptions, o.Finish().Union());
      break;
    }
    default:
      refuse(std::string("op ") + model::op_name(l.op) + " has no TensorFlow Lite mapping in qparity",
             "keep the model as QDQ ONNX (.onnx)");
  }
}

std::vector<uint8_t> Writer::run(const std::map<std::string, std::string> &metadata) {
  where_ = "the model input";
  tensor(m_.tensor_name(model::kGraphInput).empty() ? "input" : m_.tensor_name(model::kGraphInput),
         {1, m_.input.h, m_.input.w, m_.input.c}, fb::TensorType_INT8, 0, activation_q(m_.input_params(), "input"));
  tensor_of_.assign(m_.layers.size(), -1);
  rank_of_.assign(m_.layers.size(), 4);
  for (size_t k = 0; k < m_.layers.size(); ++k) layer(k);

  return finish(metadata, tensor_of_.back(), "qparity INT8 classifier", op_version);
}

std::string join_lines(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &x : v) s += x + "\n";
  return s;
}

std::string quant_option_names(const quant::QuantOptions &o, const char *which) {
  if (std::string(which) == "weights") return o.weights == quant::WeightMode::PerChannel ? "per-channel" : "per-tensor";
  return o.calibration == quant::CalibMode::MinMax       ? "minmax"
         : o.calibration == quant::CalibMode::Percentile ? "percentile"
                                                         : "mse";
}

}  // namespace

std::string input_description(const QModel &m) {
  std::ostringstream s;
  s << "int8 NHWC [1," << m.input.h << "," << m.input.w << "," << m.input.c << "], scale "
    << static_cast<float>(m.input_params().scale) << ", zero point " << m.input_params().zero_point << "; "
    << (m.input.c == 1 ? "luma " : "RGB ") << quant::describe_convention(m.convention) << "; "
    << quant::describe_input_map(m.convention, m.input_params(), m.input.c);
  return s.str();
}

std::vector<uint8_t> int8_tflite_bytes(const QModel &model_in, const std::map<std::string, std::string> &extra) {
  QModel m = model_in;
  quant::normalize(m);  // every layer's inputs explicit and checked, input_q filled
  if (m.layers.empty()) fail("the model has no layers", "");
  for (const auto &c : m.classes)
    if (c.empty() || c.find('\n') != std::string::npos || c.find('\r') != std::string::npos)
      fail("class name '" + c + "' is empty or holds a line break", "name the classes without line breaks");
  std::map<std::string, std::string> meta = {{"qparity.classes", join_lines(m.classes)},
                                             {"qparity.input", quant::convention_to_string(m.convention)},
                                             {"qparity.input.description", input_description(m)},
                                             {"qparity.precision", "int8"},
                                             {"qparity.quant.weights", quant_option_names(m.quant_options, "weights")},
                                             {"qparity.quant.calibration", quant_option_names(m.quant_options, "calibration")},
                                             {"qparity.quant.calib_count", std::to_string(m.quant_options.calib_count)},
                                             {"qparity.quant.seed", std::to_string(m.quant_options.seed)}};
  for (const auto &[k, v] : extra) meta[k] = v;
  return Writer(m).run(meta);
}

void save_int8_tflite(const QModel &m, const std::string &path, const std::map<std::string, std::string> &extra) {
  const auto bytes = int8_tflite_bytes(m, extra);
  data::write_file_atomic(path, bytes.data(), bytes.size());
}

std::string int8_model_difference(const QModel &a_in, const QModel &b_in) {
  QModel a = a_in, b = b_in;
  quant::normalize(a);
  quant::normalize(b);
  if (a.classes != b.classes) return "the class names differ";
  if (!(a.input == b.input) || a.input_params() != b.input_params())
    return "the input tensors differ";
  if (a.layers.size() != b.layers.size())
    return "the layer counts differ (" + std::to_string(a.layers.size()) + " vs " + std::to_string(b.layers.size()) + ")";
  auto same_q = [](const QParams &x, const QParams &y) { return x.scale == y.scale && x.zero_point == y.zero_point; };
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const QLayer &x = a.layers[k], &y = b.layers[k];
    const std::string where = "layer " + std::to_string(k) + " " + model::op_name(x.op) + ": ";
    if (x.op != y.op) return where + "the ops differ (" + model::op_name(y.op) + ")";
    const bool window =
        x.op == Op::Conv2D || x.op == Op::DepthwiseConv2D || x.op == Op::MaxPool || x.op == Op::AvgPool || x.op == Op::Pad;
    if (x.q.activation != y.q.activation) return where + "the fused activations differ";
    if (x.inputs != y.inputs) return where + "the inputs differ";
    if (!(x.in == y.in) || !(x.out == y.out)) return where + "the shapes differ";
    if (window && (x.kernel != y.kernel || x.stride != y.stride || x.pad_top != y.pad_top || x.pad_left != y.pad_left))
      return where + "the window, stride or padding differ";
    if (!same_q(x.q.output, y.q.output) || x.q.input_q.size() != y.q.input_q.size())
      return where + "the output scale/zero point differ";
    for (size_t j = 0; j < x.q.input_q.size(); ++j)
      if (!same_q(x.q.input_q[j], y.q.input_q[j])) return where + "input " + std::to_string(j) + "'s scale/zero point differ";
    if (x.q.weight != y.q.weight || x.q.weight_scale != y.q.weight_scale || x.q.bias != y.q.bias)
      return where + "the weights or biases differ";
    if (x.q.multiplier != y.q.multiplier || x.q.shift != y.q.shift) return where + "the multipliers or shifts differ";
    if (x.q.act_min != y.q.act_min || x.q.act_max != y.q.act_max) return where + "the clamps differ";
    if (std::memcmp(&x.q.add, &y.q.add, sizeof x.q.add) != 0) return where + "the ADD parameters differ";
    if (std::memcmp(&x.q.softmax, &y.q.softmax, sizeof x.q.softmax) != 0 || x.softmax_beta != y.softmax_beta)
      return where + "the softmax parameters differ";
  }
  return "";
}

Int8Format int8_format_for(const std::string &path, const std::string &what) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".onnx") return Int8Format::QdqOnnx;
  if (ext == ".tflite") return Int8Format::Tflite;
  fail(what + " '" + path + "': " + (ext.empty() ? std::string("no file extension") : "unknown model format '" + ext + "'"),
       "name the INT8 model file .onnx (QDQ ONNX) or .tflite (TensorFlow Lite)");
}

std::string write_int8_model(const QModel &m, const std::string &path, const std::map<std::string, std::string> &extra,
                             bool force) {
  const Int8Format f = int8_format_for(path, "output");
  if (fs::exists(path) && !force)
    fail("'" + path + "' already exists", "choose another output file, or pass --force to replace it");
  if (f == Int8Format::QdqOnnx) {
    quant::save_qdq_onnx(m, path, extra);
    return "";
  }
  const auto bytes = int8_tflite_bytes(m, extra);  // refuses before anything is written
  const fs::path labels = fs::path(path).parent_path() / "labels.txt";
  const std::string text = join_lines(m.classes);
  bool write_labels = !m.classes.empty();
  if (write_labels && fs::exists(labels)) {
    std::ifstream in(labels, std::ios::binary);
    const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (old == text)
      write_labels = false;
    else if (!force)
      fail("'" + labels.string() + "' already exists with other class names than the model's",
           "write the model into another folder, remove that labels.txt, or pass --force to replace it");
  }
  data::write_file_atomic(path, bytes.data(), bytes.size());
  if (write_labels) data::write_file_atomic(labels.string(), text.data(), text.size());
  return m.classes.empty() ? "" : labels.string();
}

}  // namespace qp::tflite
