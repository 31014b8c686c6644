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

std::vector<Op> all_ops() {  // every value of model::Op (Concat is the last)
  std::vector<Op> v;
  for (int i = 0; i <= static_cast<int>(Op::Concat); ++i) v.push_back(static_cast<Op>(i));
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
