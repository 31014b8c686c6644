// The op registry (src/ops): one entry per op, its rules as the IR, the executor and the quantizer see them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/ir.h"
#include "ops/registry.h"

using namespace qp;
using model::Op;

namespace {

std::vector<Op> all_ops() {  // every value of model::Op (Mean is the last)
  std::vector<Op> v;
  for (int i = 0; i <= static_cast<int>(Op::Mean); ++i) v.push_back(static_cast<Op>(i));
  return v;
}

bool has_int8_layer(Op op) { return op != Op::ReLU && op != Op::ReLU6 && op != Op::BatchNorm && op != Op::Dropout; }

}  // namespace

TEST(Ops, EveryOpHasItsOwnEntry) {
  for (const Op op : all_ops()) {
    const ops::OpDef &d = ops::op_def(op);
    EXPECT_EQ(d.op, op) << d.name;
    EXPECT_STREQ(d.name, model::op_name(op));
    EXPECT_NE(d.infer, nullptr) << d.name;
    EXPECT_NE(d.fp32, nullptr) << d.name;
    // Every op that exists in an INT8 model has a quantization rule; the activations have one too (fusion).
    if (has_int8_layer(op) || op == Op::ReLU || op == Op::ReLU6) {
      EXPECT_NE(d.quantize, nullptr) << d.name;
    }
    // Only Flatten (its output aliases its input) runs no kernel in the INT8 engine.
    if (has_int8_layer(op)) {
      EXPECT_EQ(d.int8 == nullptr, op == Op::Flatten) << d.name;
    }
  }
  EXPECT_STREQ(model::op_name(Op::DepthwiseConv2D), "DepthwiseConv2D");
}

TEST(Ops, AnUnknownOpNumberIsRefusedNotRead) {
  const auto bad = static_cast<Op>(200);
  EXPECT_EQ(ops::find_op(bad), nullptr);
  EXPECT_STREQ(model::op_name(bad), "?");
  EXPECT_THROW(ops::op_def(bad), qp::Error);
}

TEST(Ops, InputCountsAndFusion) {
  EXPECT_EQ(ops::inputs_expected(ops::op_def(Op::Conv2D)), "1");
  EXPECT_EQ(ops::inputs_expected(ops::op_def(Op::Add)), "2");
  EXPECT_EQ(ops::inputs_expected(ops::op_def(Op::Concat)), "at least 2");
  EXPECT_FALSE(ops::input_count_ok(ops::op_def(Op::Add), 3));
  EXPECT_TRUE(ops::input_count_ok(ops::op_def(Op::Concat), 5));
  EXPECT_FALSE(ops::input_count_ok(ops::op_def(Op::Concat), 1));
  for (const Op op : all_ops()) {
    const ops::OpDef &d = ops::op_def(op);
    EXPECT_EQ(d.fuses_activation, op == Op::Conv2D || op == Op::DepthwiseConv2D || op == Op::Dense || op == Op::Add) << d.name;
    EXPECT_EQ(d.fused_as != nullptr, op == Op::ReLU || op == Op::ReLU6) << d.name;
  }
  EXPECT_STREQ(ops::op_def(Op::ReLU6).fused_as, "relu6");
  EXPECT_EQ(ops::op_def(Op::ReLU6).fused_max, 6.0);
  EXPECT_TRUE(std::isinf(ops::op_def(Op::ReLU).fused_max));
}

TEST(Ops, InferShapesAppliesTheInputCountRule) {
  auto g = model::graph_from_spec("conv3x3(4) relu gap dense(K) softmax", {"a", "b"}, {3, 8, 8});
  g.layers[1].op = Op::Add;  // one input where Add needs two
  try {
    model::infer_shapes(g);
    FAIL() << "expected a qp::Error";
  } catch (const qp::Error &e) {
    EXPECT_NE(std::string(e.what()).find("layer 1 (Add) has 1 input(s), expected 2"), std::string::npos) << e.what();
  }
}

TEST(Ops, Fp32RulesOfAddConcatAndActivations) {
  model::Layer l;
  const std::vector<float> a{1.f, -2.f, 7.f}, b{0.5f, 0.5f, -8.f};
  const std::vector<const std::vector<float> *> ab{&a, &b};
  std::vector<float> out;
  ops::op_def(Op::Add).fp32(l, ab, out);
  EXPECT_EQ(out, (std::vector<float>{1.5f, -1.5f, -1.f}));
  l.out = {6, 1, 1};
  ops::op_def(Op::Concat).fp32(l, ab, out);
  EXPECT_EQ(out, (std::vector<float>{1.f, -2.f, 7.f, 0.5f, 0.5f, -8.f}));
  const std::vector<const std::vector<float> *> just_a{&a};
  ops::op_def(Op::ReLU).fp32(l, just_a, out);
  EXPECT_EQ(out, (std::vector<float>{1.f, 0.f, 7.f}));
  ops::op_def(Op::ReLU6).fp32(l, just_a, out);
  EXPECT_EQ(out, (std::vector<float>{1.f, 0.f, 6.f}));
}

// The ops of issues 11/12: depth multiplier, 'same'-padded pooling, Pad, Mean, softmax beta (shapes and FP32).
TEST(Ops, NewOpsShapesAndFp32) {
  auto g = model::graph_from_spec("pad1 dwconv3x3m2 maxpool2s2same avgpool3s1same mean dense(K) softmax", {"a", "b"}, {3, 5, 5});
  model::infer_shapes(g, true);
  EXPECT_EQ(g.layers[0].out, (model::Shape{3, 7, 7}));  // Pad 1 on every side
  EXPECT_EQ(g.layers[1].out, (model::Shape{6, 7, 7}));  // depth multiplier 2: C*M channels
  EXPECT_EQ(g.layers[1].weight.size(), 6u * 9);
  EXPECT_EQ(g.layers[2].out, (model::Shape{6, 4, 4}));  // 'same': ceil(7 / 2)
  EXPECT_EQ(g.layers[2].pad_top, 0);
  EXPECT_EQ(g.layers[2].pad_bottom, 1);
  EXPECT_EQ(g.layers[3].out, (model::Shape{6, 4, 4}));
  EXPECT_EQ(g.layers[3].pad_top, 1);
  EXPECT_EQ(g.layers[4].out, (model::Shape{6, 1, 1}));
  EXPECT_EQ(model::mac_count(g.layers[1]), 6 * 49 * 9);
  EXPECT_EQ(ops::inputs_expected(ops::op_def(Op::Pad)), "1");
  EXPECT_EQ(ops::inputs_expected(ops::op_def(Op::Mean)), "1");

  // Depthwise M = 2, 1x1 kernel: output o reads input o / 2.
  model::Layer dw;
  dw.op = Op::DepthwiseConv2D;
  dw.kernel = 1;
  dw.in = {2, 1, 2};
  dw.out = {4, 1, 2};
  dw.weight = {1.f, -1.f, 2.f, 0.5f};
  dw.bias = {0.f, 1.f, 0.f, 0.f};
  const std::vector<float> x{1.f, 2.f, 3.f, 4.f};  // CHW: channel 0 = {1, 2}, channel 1 = {3, 4}
  const std::vector<const std::vector<float> *> in_x{&x};
  std::vector<float> out;
  ops::op_def(Op::DepthwiseConv2D).fp32(dw, in_x, out);
  EXPECT_EQ(out, (std::vector<float>{1.f, 2.f, 0.f, -1.f, 6.f, 8.f, 1.5f, 2.f}));

  // 'same' pools over a 3x3 map (1..9), 2x2 windows, stride 2: average over the in-bounds positions.
  model::Layer pool;
  pool.op = Op::AvgPool;
  pool.kernel = pool.stride = 2;
  pool.in = {1, 3, 3};
  pool.out = {1, 2, 2};
  const std::vector<float> m{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<const std::vector<float> *> in_m{&m};
  ops::op_def(Op::AvgPool).fp32(pool, in_m, out);
  EXPECT_EQ(out, (std::vector<float>{3.f, 4.5f, 7.5f, 9.f}));
  pool.op = Op::MaxPool;
  ops::op_def(Op::MaxPool).fp32(pool, in_m, out);
  EXPECT_EQ(out, (std::vector<float>{5.f, 6.f, 8.f, 9.f}));

  // Pad: zeros around; Mean: the average per channel.
  model::Layer pad;
  pad.op = Op::Pad;
  pad.pad_top = 1;
  pad.pad_right = 1;
  pad.in = {1, 1, 2};
  pad.out = {1, 2, 3};
  const std::vector<float> two{5.f, 6.f};
  const std::vector<const std::vector<float> *> in_two{&two};
  ops::op_def(Op::Pad).fp32(pad, in_two, out);
  EXPECT_EQ(out, (std::vector<float>{0.f, 0.f, 0.f, 5.f, 6.f, 0.f}));
  model::Layer mean;
  mean.op = Op::Mean;
  mean.in = {1, 3, 3};
  ops::op_def(Op::Mean).fp32(mean, in_m, out);
  EXPECT_EQ(out, (std::vector<float>{5.f}));

  // Softmax beta: softmax(beta * x).
  model::Layer sm;
  sm.op = Op::Softmax;
  sm.softmax_beta = 2.f;
  const std::vector<float> logits{0.f, std::log(2.f)};
  const std::vector<const std::vector<float> *> in_l{&logits};
  ops::op_def(Op::Softmax).fp32(sm, in_l, out);
  EXPECT_NEAR(out[0], 0.2f, 1e-6);
  EXPECT_NEAR(out[1], 0.8f, 1e-6);

  // Bad parameters: a negative pad, a depth multiplier of 0, a beta of 0, Pad after a flat tensor.
  for (const std::string spec :
       {"pad1 conv3x3(4) gap dense(K) softmax", "dwconv3x3 gap dense(K) softmax", "gap dense(K) softmax"}) {
    auto b = model::graph_from_spec(spec, {"a", "b"}, {3, 5, 5});
    if (spec[0] == 'p') b.layers[0].pad_left = -1;
    if (spec[0] == 'd') b.layers[0].depth_multiplier = 0;
    if (spec[0] == 'g') b.layers.back().softmax_beta = 0.f;
    EXPECT_THROW(model::infer_shapes(b, true), qp::Error) << spec;
  }
  EXPECT_THROW(model::graph_from_spec("gap pad1 dense(K) softmax", {"a", "b"}, {3, 5, 5}), qp::Error);
  EXPECT_THROW(model::graph_from_spec("conv3x3m2(4) gap dense(K) softmax", {"a", "b"}, {3, 5, 5}), qp::Error);
}
