// FP32 model::Graph -> float32 TensorFlow Lite flatbuffer (see tflite_write.h): the inference graph (BatchNorm
// folded, Dropout removed) in NHWC, one operator per layer, a ReLU/ReLU6 fused into the operator it follows.
#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "data/image_io.h"
#include "model/layout.h"
#include "tflite/tflite_build.h"
#include "tflite/tflite_write.h"

namespace qp::tflite {

namespace {

using model::Layer;
using model::Op;

class Fp32Writer : public TfliteBuilder {
 public:
  explicit Fp32Writer(const model::Graph &g) : g_(g) {}
  std::vector<uint8_t> run(const std::map<std::string, std::string> &metadata);

 private:
  const model::Graph &g_;
  std::vector<int> tensor_of_, rank_of_;         // per graph layer
  std::vector<fb::ActivationFunctionType> act_;  // per graph layer: the ReLU/ReLU6 fused into it
  std::vector<bool> fused_;                      // per graph layer: a ReLU/ReLU6 fused into its producer
  // Per graph layer: the name its output tensor gets in the file (the graph's; with a fused ReLU the ReLU's, which is
  // what the operator then writes); empty: qparity's own "l<k>.<op>".
  std::vector<std::string> name_;

  int float_constant(const std::string &name, const std::vector<float> &v, const std::vector<int32_t> &shape) {
    return tensor(name, shape, fb::TensorType_FLOAT32, buffer(v.data(), v.size() * sizeof(float)));
  }
  // TFLite's SAME and VALID are the IR's two paddings (the odd pixel bottom/right).
  static fb::Padding padding(const Layer &l) { return l.padding == model::Padding::Same ? fb::Padding_SAME : fb::Padding_VALID; }

  void layer(size_t k);
};

void Fp32Writer::layer(size_t k) {
  const Layer &l = g_.layers[k];
  where_ = "layer " + std::to_string(k) + " (" + model::op_name(l.op) + ")";
  if (fused_[k]) {
    const int p = l.inputs[0];
    tensor_of_[k] = tensor_of_[static_cast<size_t>(p)];
    rank_of_[k] = rank_of_[static_cast<size_t>(p)];
    return;
  }
  const std::string id = "l" + std::to_string(k);
  std::vector<int> in, in_rank;
  for (const int p : l.inputs) {
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
  const std::vector<int32_t> shape = rank == 2 ? std::vector<int32_t>{1, static_cast<int32_t>(l.out.size())}
                                               : std::vector<int32_t>{1, l.out.h, l.out.w, l.out.c};
  const std::string &name = name_[k];
  const int out = tensor(name.empty() ? id + "." + model::op_name(l.op) : name, shape, fb::TensorType_FLOAT32, 0);
  tensor_of_[k] = out;
  rank_of_[k] = rank;
  const fb::ActivationFunctionType act = act_[k];
  const int oc = l.out.c;
  switch (l.op) {
    case Op::Conv2D: {
      const int w = float_constant(id + ".weight", model::conv_oihw_to_ohwi(l.weight, oc, l.in.c, l.kernel),
                                   {oc, l.kernel, l.kernel, l.in.c});
      const int b = float_constant(id + ".bias", l.bias, {oc});
      fb::Conv2DOptionsBuilder o(fbb_);
      o.add_padding(padding(l));
      o.add_stride_w(l.stride);
      o.add_stride_h(l.stride);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_CONV_2D, {in[0], w, b}, out, fb::BuiltinOptions_Conv2DOptions, o.Finish().Union());
      break;
    }
    case Op::DepthwiseConv2D: {
      const int w =
          float_constant(id + ".weight", model::depthwise_ckk_to_kkc(l.weight, oc, l.kernel), {1, l.kernel, l.kernel, oc});
      const int b = float_constant(id + ".bias", l.bias, {oc});
      fb::DepthwiseConv2DOptionsBuilder o(fbb_);
      o.add_padding(padding(l));
      o.add_stride_w(l.stride);
      o.add_stride_h(l.stride);
      o.add_depth_multiplier(l.depth_multiplier);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_DEPTHWISE_CONV_2D, {in[0], w, b}, out, fb::BuiltinOptions_DepthwiseConv2DOptions,
         o.Finish().Union());
      break;
    }
    case Op::Dense: {
      // After a Flatten of a map, TFLite's FULLY_CONNECTED reads the NHWC map flattened: columns in HWC order.
      int src = l.inputs[0];
      model::Shape map = g_.tensor_shape(src);
      while (src >= 0 && g_.layers[static_cast<size_t>(src)].op == Op::Flatten) {
        map = g_.layers[static_cast<size_t>(src)].in;
        src = g_.layers[static_cast<size_t>(src)].inputs[0];
      }
      const int w = float_constant(id + ".weight", model::dense_columns_chw_to_hwc(l.weight, l.units, map),
                                   {l.units, static_cast<int32_t>(l.in.size())});
      const int b = float_constant(id + ".bias", l.bias, {l.units});
      fb::FullyConnectedOptionsBuilder o(fbb_);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_FULLY_CONNECTED, {in[0], w, b}, out, fb::BuiltinOptions_FullyConnectedOptions, o.Finish().Union());
      break;
    }
    case Op::Add: {
      fb::AddOptionsBuilder o(fbb_);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_ADD, in, out, fb::BuiltinOptions_AddOptions, o.Finish().Union());
      break;
    }
    case Op::Concat: {
      fb::ConcatenationOptionsBuilder o(fbb_);
      o.add_axis(rank - 1);
      o.add_fused_activation_function(act);
      op(fb::BuiltinOperator_CONCATENATION, in, out, fb::BuiltinOptions_ConcatenationOptions, o.Finish().Union());
      break;
    }
    case Op::MaxPool:
    case Op::AvgPool:
    case Op::GlobalAvgPool: {
      const bool global = l.op == Op::GlobalAvgPool;
      fb::Pool2DOptionsBuilder o(fbb_);
      o.add_padding(global ? fb::Padding_VALID : padding(l));
      o.add_stride_w(global ? 1 : l.stride);
      o.add_stride_h(global ? 1 : l.stride);
      o.add_filter_width(global ? l.in.w : l.kernel);
      o.add_filter_height(global ? l.in.h : l.kernel);
      o.add_fused_activation_function(act);
      op(l.op == Op::MaxPool ? fb::BuiltinOperator_MAX_POOL_2D : fb::BuiltinOperator_AVERAGE_POOL_2D, in, out,
         fb::BuiltinOptions_Pool2DOptions, o.Finish().Union());
      break;
    }
    case Op::Mean: {
      const int axes = int32_constant(id + ".axes", {1, 2}, {2});
      fb::ReducerOptionsBuilder o(fbb_);
      o.add_keep_dims(l.keep_dims);
      op(fb::BuiltinOperator_MEAN, {in[0], axes}, out, fb::BuiltinOptions_ReducerOptions, o.Finish().Union());
      break;
    }
    case Op::Pad: {
      const int pads = int32_constant(id + ".paddings", {0, 0, l.pad_top, l.pad_bottom, l.pad_left, l.pad_right, 0, 0}, {4, 2});
      op(fb::BuiltinOperator_PAD, {in[0], pads}, out, fb::BuiltinOptions_PadOptions,
         fb::PadOptionsBuilder(fbb_).Finish().Union());
      break;
    }
    case Op::Flatten: {
      const std::vector<int32_t> ns = {1, static_cast<int32_t>(l.out.size())};
      const int s = int32_constant(id + ".shape", ns, {2});
      const auto nsv = fbb_.CreateVector(ns);
      fb::ReshapeOptionsBuilder o(fbb_);
      o.add_new_shape(nsv);
      op(fb::BuiltinOperator_RESHAPE, {in[0], s}, out, fb::BuiltinOptions_ReshapeOptions, o.Finish().Union());
      break;
    }
    case Op::Softmax: {
      fb::SoftmaxOptionsBuilder o(fbb_);
      o.add_beta(l.softmax_beta);
      op(fb::BuiltinOperator_SOFTMAX, in, out, fb::BuiltinOptions_SoftmaxOptions, o.Finish().Union());
      break;
    }
    case Op::ReLU:
    case Op::ReLU6:
      refuse("a " + std::string(model::op_name(l.op)) +
                 " that does not follow a conv, dense, add, concat or pooling layer it alone reads has no fused TFLite form",
             "keep the model as ONNX (.onnx)");
    default:
      refuse(std::string("op ") + model::op_name(l.op) + " has no TensorFlow Lite mapping in qparity",
             "keep the model as ONNX (.onnx)");
  }
  if (act != fb::ActivationFunctionType_NONE &&
      (l.op == Op::Mean || l.op == Op::Pad || l.op == Op::Flatten || l.op == Op::Softmax))
    refuse("internal: an activation fused into an op without one", "");
}

std::vector<uint8_t> Fp32Writer::run(const std::map<std::string, std::string> &metadata) {
  const size_t n = g_.layers.size();
  act_.assign(n, fb::ActivationFunctionType_NONE);
  fused_.assign(n, false);
  name_.resize(n);
  for (size_t k = 0; k < n; ++k) name_[k] = g_.tensor_name(static_cast<int>(k));
  const auto readers = model::consumers(g_);
  for (size_t k = 0; k < n; ++k) {
    const Layer &l = g_.layers[k];
    if (l.op != Op::ReLU && l.op != Op::ReLU6) continue;
    const int p = l.inputs.at(0);
    if (p < 0) continue;
    const Op po = g_.layers[static_cast<size_t>(p)].op;
    const bool fusable = po == Op::Conv2D || po == Op::DepthwiseConv2D || po == Op::Dense || po == Op::Add || po == Op::Concat ||
                         po == Op::MaxPool || po == Op::AvgPool || po == Op::GlobalAvgPool;
    if (!fusable || readers[static_cast<size_t>(p)].size() != 1 ||
        act_[static_cast<size_t>(p)] != fb::ActivationFunctionType_NONE)
      continue;  // refused when written
    act_[static_cast<size_t>(p)] = l.op == Op::ReLU ? fb::ActivationFunctionType_RELU : fb::ActivationFunctionType_RELU6;
    fused_[k] = true;
    if (!name_[k].empty()) name_[static_cast<size_t>(p)] = name_[k];
  }
  const std::string &in_name = g_.tensor_name(model::kGraphInput);
  tensor(in_name.empty() ? "input" : in_name, {1, g_.input.h, g_.input.w, g_.input.c}, fb::TensorType_FLOAT32, 0);
  tensor_of_.assign(n, -1);
  rank_of_.assign(n, 4);
  for (size_t k = 0; k < n; ++k) layer(k);

  return finish(metadata, tensor_of_.back(), "qparity FP32 classifier",
                [](fb::BuiltinOperator) { return 1; });  // the float32 kernels' version
}

}  // namespace

std::vector<uint8_t> fp32_tflite_bytes(const model::Graph &graph, const std::map<std::string, std::string> &extra) {
  model::Graph g = model::fold_for_inference(graph);
  model::infer_shapes(g);
  if (g.layers.empty()) fail("the model has no layers", "");
  std::string classes;
  for (const auto &c : g.classes) {
    if (c.empty() || c.find('\n') != std::string::npos || c.find('\r') != std::string::npos)
      fail("class name '" + c + "' is empty or holds a line break", "name the classes without line breaks");
    classes += c + "\n";
  }
  std::map<std::string, std::string> meta = {
      {"qparity.classes", classes}, {"qparity.arch", g.arch}, {"qparity.precision", "fp32"}};
  for (const auto &[k, v] : extra) meta[k] = v;
  return Fp32Writer(g).run(meta);
}

std::string fp32_graph_difference(const model::Graph &a, const model::Graph &b) {
  if (a.classes != b.classes) return "the class names differ";
  if (!(a.input == b.input)) return "the inputs differ";
  if (a.layers.size() != b.layers.size())
    return "the layer counts differ (" + std::to_string(a.layers.size()) + " vs " + std::to_string(b.layers.size()) + ")";
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const Layer &x = a.layers[k], &y = b.layers[k];
    const std::string where = "layer " + std::to_string(k) + " " + model::op_name(x.op) + ": ";
    if (x.op != y.op) return where + "the ops differ (" + model::op_name(y.op) + ")";
    if (x.inputs != y.inputs) return where + "the inputs differ";
    if (!(x.in == y.in) || !(x.out == y.out)) return where + "the shapes differ";
    if (x.kernel != y.kernel || x.stride != y.stride || x.pad_top != y.pad_top || x.pad_left != y.pad_left ||
        x.pad_bottom != y.pad_bottom || x.pad_right != y.pad_right || x.depth_multiplier != y.depth_multiplier ||
        x.keep_dims != y.keep_dims || x.softmax_beta != y.softmax_beta)
      return where + "the parameters (window, stride, padding, multiplier, keep_dims, beta) differ";
    if (x.weight != y.weight || x.bias != y.bias) return where + "the weights or biases differ";
  }
  return "";
}

void save_fp32_tflite(const model::Graph &g, const std::string &path, const std::map<std::string, std::string> &extra) {
  const auto bytes = fp32_tflite_bytes(g, extra);
  data::write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace qp::tflite
