#include "train/torch_model.h"

#include <limits>

#include "common/error.h"

namespace qp::train {

using model::Op;

namespace {
// He (Kaiming) normal initialisation for ReLU networks, zero biases. libtorch's default
// (kaiming_uniform with a = sqrt(5)) starts the plain rps-cnn with signals too small to learn from
// raw [0,1] pixels at the default learning rate.
void he_init(torch::Tensor &weight, torch::Tensor &bias) {
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_normal_(weight, 0.0, torch::kFanIn, torch::kReLU);
  bias.zero_();
}
}  // namespace

TorchNetImpl::TorchNetImpl(const model::Graph &g) : g_(g) {
  model::infer_shapes(g_);
  slot_.assign(g_.layers.size(), -1);
  last_reader_.assign(g_.layers.size(), -1);
  for (size_t i = 0; i < g_.layers.size(); ++i)
    for (const int p : g_.layers[i].inputs)
      if (p != model::kGraphInput) last_reader_[static_cast<size_t>(p)] = static_cast<int>(i);
  for (size_t i = 0; i < g_.layers.size(); ++i) {
    const auto &l = g_.layers[i];
    const std::string name = "l" + std::to_string(i);
    if (l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D) {
      const bool symmetric = l.pad_top == l.pad_bottom && l.pad_left == l.pad_right;
      auto opt = torch::nn::Conv2dOptions(l.in.c, l.out.c, l.kernel)
                     .stride(l.stride)
                     .padding(symmetric ? torch::ExpandingArray<2>({l.pad_top, l.pad_left}) : torch::ExpandingArray<2>({0, 0}))
                     .groups(l.op == Op::DepthwiseConv2D ? l.in.c : 1)
                     .bias(true);
      slot_[i] = static_cast<int>(convs_.size());
      convs_.push_back(register_module(name, torch::nn::Conv2d(opt)));
      he_init(convs_.back()->weight, convs_.back()->bias);
    } else if (l.op == Op::Dense) {
      slot_[i] = static_cast<int>(denses_.size());
      denses_.push_back(register_module(name, torch::nn::Linear(l.in.c, l.units)));
      he_init(denses_.back()->weight, denses_.back()->bias);
    } else if (l.op == Op::BatchNorm) {
      if (l.in.h == 1 && l.in.w == 1) {
        slot_[i] = static_cast<int>(bns1d_.size());
        bns1d_.push_back(register_module(name, torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(l.in.c).eps(l.eps))));
      } else {
        slot_[i] = static_cast<int>(bns2d_.size());
        bns2d_.push_back(register_module(name, torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(l.in.c).eps(l.eps))));
      }
    }
  }
}

torch::Tensor TorchNetImpl::forward(torch::Tensor x, bool with_softmax) {
  namespace F = torch::nn::functional;
  // The graph is a DAG in topological order: each layer's output is kept until its last reader has
  // run, so residual (Add) and Concat layers can read earlier tensors.
  const size_t n = g_.layers.size();
  std::vector<torch::Tensor> outs(n);
  auto input = [&](int producer) -> const torch::Tensor & {
    return producer == model::kGraphInput ? x : outs[static_cast<size_t>(producer)];
  };
  for (size_t i = 0; i < n; ++i) {
    const auto &l = g_.layers[i];
    torch::Tensor y = input(l.inputs[0]);
    switch (l.op) {
      case Op::Conv2D:
      case Op::DepthwiseConv2D:
        if (l.pad_top != l.pad_bottom || l.pad_left != l.pad_right)
          y = F::pad(y, F::PadFuncOptions({l.pad_left, l.pad_right, l.pad_top, l.pad_bottom}));
        y = convs_[static_cast<size_t>(slot_[i])]->forward(y);
        break;
      case Op::Dense: y = denses_[static_cast<size_t>(slot_[i])]->forward(y); break;
      case Op::BatchNorm:
        y = l.in.h == 1 && l.in.w == 1 ? bns1d_[static_cast<size_t>(slot_[i])]->forward(y)
                                       : bns2d_[static_cast<size_t>(slot_[i])]->forward(y);
        break;
      case Op::ReLU: y = torch::relu(y); break;
      case Op::ReLU6: y = torch::clamp(y, 0.0, 6.0); break;
      case Op::MaxPool:
        if (l.pad_top || l.pad_left || l.pad_bottom || l.pad_right)  // 'same': padding never wins the max
          y = F::pad(y, F::PadFuncOptions({l.pad_left, l.pad_right, l.pad_top, l.pad_bottom})
                            .value(-std::numeric_limits<double>::infinity()));
        y = F::max_pool2d(y, F::MaxPool2dFuncOptions(l.kernel).stride(l.stride));
        break;
      case Op::AvgPool:
        if (l.pad_top || l.pad_left || l.pad_bottom || l.pad_right) {  // 'same': the mean of the in-bounds values
          const F::PadFuncOptions pad({l.pad_left, l.pad_right, l.pad_top, l.pad_bottom});
          const auto opt = F::AvgPool2dFuncOptions(l.kernel).stride(l.stride);
          const auto count = F::avg_pool2d(F::pad(torch::ones_like(y.narrow(1, 0, 1)), pad), opt);
          y = F::avg_pool2d(F::pad(y, pad), opt) / count;
        } else {
          y = F::avg_pool2d(y, F::AvgPool2dFuncOptions(l.kernel).stride(l.stride));
        }
        break;
      case Op::Pad: y = F::pad(y, F::PadFuncOptions({l.pad_left, l.pad_right, l.pad_top, l.pad_bottom})); break;
      case Op::Mean: y = y.mean({2, 3}, /*keepdim=*/l.keep_dims); break;
      case Op::GlobalAvgPool: y = y.mean({2, 3}); break;
      case Op::Flatten: y = y.flatten(1); break;
      case Op::Dropout: y = F::dropout(y, F::DropoutFuncOptions().p(l.rate).training(is_training())); break;
      case Op::Softmax:
        if (l.softmax_beta != 1.f) y = y * l.softmax_beta;  // the logits of softmax(beta * x)
        if (with_softmax) y = torch::softmax(y, 1);
        break;
      case Op::Add: y = y + input(l.inputs[1]); break;
      case Op::Concat: {
        std::vector<torch::Tensor> parts;
        parts.reserve(l.inputs.size());
        for (const int p : l.inputs) parts.push_back(input(p));
        y = torch::cat(parts, 1);  // NCHW: along channels
        break;
      }
    }
    outs[i] = std::move(y);
    // Free tensors no later layer reads (keeps training memory at the chain's level for chains).
    for (const int p : l.inputs)
      if (p != model::kGraphInput && last_reader_[static_cast<size_t>(p)] == static_cast<int>(i))
        outs[static_cast<size_t>(p)] = torch::Tensor();
  }
  return outs.empty() ? x : outs.back();
}

namespace {
torch::Tensor as_tensor(const std::vector<float> &v) {
  return torch::from_blob(const_cast<float *>(v.data()), {static_cast<int64_t>(v.size())}, torch::kFloat32).clone();
}
void copy_into(torch::Tensor dst, const std::vector<float> &v) {
  torch::NoGradGuard ng;
  dst.copy_(as_tensor(v).view(dst.sizes()).to(dst.device()));
}
std::vector<float> to_vec(const torch::Tensor &t) {
  auto c = t.detach().to(torch::kCPU).contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
}  // namespace

void TorchNetImpl::load_from(const model::Graph &g) {
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const auto &l = g.layers[i];
    if (l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D) {
      auto &m = convs_[static_cast<size_t>(slot_[i])];
      copy_into(m->weight, l.weight);
      copy_into(m->bias, l.bias);
    } else if (l.op == Op::Dense) {
      auto &m = denses_[static_cast<size_t>(slot_[i])];
      copy_into(m->weight, l.weight);
      copy_into(m->bias, l.bias);
    } else if (l.op == Op::BatchNorm) {
      auto set = [&](auto &m) {
        copy_into(m->weight, l.gamma);
        copy_into(m->bias, l.beta);
        copy_into(m->running_mean, l.mean);
        copy_into(m->running_var, l.var);
      };
      if (l.in.h == 1 && l.in.w == 1)
        set(bns1d_[static_cast<size_t>(slot_[i])]);
      else
        set(bns2d_[static_cast<size_t>(slot_[i])]);
    }
  }
}

void TorchNetImpl::store_to(model::Graph &g) const {
  for (size_t i = 0; i < g.layers.size(); ++i) {
    auto &l = g.layers[i];
    if (l.op == Op::Conv2D || l.op == Op::DepthwiseConv2D) {
      const auto &m = convs_[static_cast<size_t>(slot_[i])];
      l.weight = to_vec(m->weight);
      l.bias = to_vec(m->bias);
    } else if (l.op == Op::Dense) {
      const auto &m = denses_[static_cast<size_t>(slot_[i])];
      l.weight = to_vec(m->weight);
      l.bias = to_vec(m->bias);
    } else if (l.op == Op::BatchNorm) {
      auto get = [&](const auto &m) {
        l.gamma = to_vec(m->weight);
        l.beta = to_vec(m->bias);
        l.mean = to_vec(m->running_mean);
        l.var = to_vec(m->running_var);
      };
      if (l.in.h == 1 && l.in.w == 1)
        get(bns1d_[static_cast<size_t>(slot_[i])]);
      else
        get(bns2d_[static_cast<size_t>(slot_[i])]);
    }
  }
  model::infer_shapes(g);
}

}  // namespace qp::train
