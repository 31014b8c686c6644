#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "model/executor_fp32.h"
#include "model/ir.h"

using namespace qp;
using namespace qp::model;

static const std::vector<std::string> kRps = {"rock", "paper", "scissors"};

TEST(Ir, RpsCnnMatchesTheSeed) {
  const Graph g = graph_from_spec("rps-cnn", kRps);
  EXPECT_EQ(param_count(g), 89379);
  EXPECT_EQ(mac_count(g), 2867392);
  const Graph f = fold_for_inference(g);
  // conv relu pool x3, flatten, dense relu dense softmax (dropout removed)
  ASSERT_EQ(f.layers.size(), 14u);
  EXPECT_EQ(f.layers[10].op, Op::Dense);
  EXPECT_EQ(f.layers[10].in, (Shape{1024, 1, 1}));
  EXPECT_EQ(f.output(), (Shape{3, 1, 1}));
}

TEST(Ir, SpecTokens) {
  const Graph g =
      graph_from_spec("conv5x5s2valid(8), relu6 -> dwconv3x3s2 bn relu avgpool2 gap dense(K)", {"a", "b", "c", "d"}, {3, 33, 33});
  ASSERT_EQ(g.layers.size(), 8u);
  EXPECT_EQ(g.layers[0].out, (Shape{8, 15, 15}));              // (33-5)/2+1
  EXPECT_EQ(g.layers[2].out, (Shape{8, 8, 8}));                // same, stride 2: ceil(15/2)
  EXPECT_EQ(g.layers[2].pad_top + g.layers[2].pad_bottom, 2);  // (8-1)*2+3-15
  EXPECT_EQ(g.layers[5].out, (Shape{8, 4, 4}));
  EXPECT_EQ(g.layers.back().units, 4);
  EXPECT_EQ(mac_count(g.layers[2]), 8 * 8 * 8 * 9);
}

TEST(Ir, BadSpecsAreNamed) {
  auto expect = [](const std::string &spec, const std::string &needle) {
    try {
      graph_from_spec(spec, kRps);
      FAIL() << spec;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect("conv3x3(16) wobble dense(K)", "'wobble'");
  expect("conv3x3(16) relu dense(K)", "needs a flat input");
  expect("conv3x3(16) flatten dense(5)", "there are 3 classes");
  expect("conv3x3 flatten dense(K)", "needs a filter count");
  expect("conv3x5(4) flatten dense(K)", "square");
  expect("maxpool64 flatten dense(K)", "smaller than the window");
  expect("flatten dense(0)", "not a positive count");
  expect("", "has no layers");
  // A BatchNorm with no conv/dense before it builds, but cannot be folded for export.
  EXPECT_THROW(fold_for_inference(graph_from_spec("bn flatten dense(K)", kRps)), Error);
}

TEST(Ir, FoldedBatchNormComputesTheSame) {
  Graph g = graph_from_spec("rps-cnn-bn", kRps);
  init_random(g, 3);
  Rng rng(5);
  for (auto &l : g.layers)
    if (l.op == Op::BatchNorm)
      for (size_t c = 0; c < l.gamma.size(); ++c) {
        l.gamma[c] = static_cast<float>(rng.uniform(0.5, 1.5));
        l.beta[c] = static_cast<float>(rng.uniform(-0.3, 0.3));
        l.mean[c] = static_cast<float>(rng.uniform(-0.2, 0.2));
        l.var[c] = static_cast<float>(rng.uniform(0.3, 2.0));
      }
  std::vector<float> x(3 * 32 * 32);
  for (auto &v : x) v = static_cast<float>(rng.uniform());
  const auto a = Fp32Executor(g).run(x.data());  // BatchNorm folded into the convs
  // Reference: layer by layer, BatchNorm applied by its textbook formula, every other layer through a
  // one-layer executor.
  std::vector<float> cur(x);
  for (const Layer &l : g.layers) {
    if (l.op == Op::Dropout) continue;
    if (l.op == Op::BatchNorm) {
      const size_t hw = static_cast<size_t>(l.in.h) * l.in.w;
      for (size_t c = 0; c < static_cast<size_t>(l.in.c); ++c)
        for (size_t i = 0; i < hw; ++i)
          cur[c * hw + i] = (cur[c * hw + i] - l.mean[c]) / std::sqrt(l.var[c] + l.eps) * l.gamma[c] + l.beta[c];
      continue;
    }
    Graph one;
    one.input = l.in;
    one.layers = {l};
    one.layers[0].inputs.clear();  // alone in its graph: it reads the graph input
    cur = Fp32Executor(one).run(cur.data());
  }
  ASSERT_EQ(a.size(), cur.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], cur[i], 1e-5);
}

TEST(Executor, HandCheckedConvPoolDense) {
  // 1x3x3 input, one 2x2 valid conv with weights [[1,0],[0,-1]] and bias 0.5, relu, then dense.
  Graph g = graph_from_spec("conv2x2valid(1) relu flatten dense(K)", {"a", "b"}, {1, 3, 3});
  g.layers[0].weight = {1, 0, 0, -1};
  g.layers[0].bias = {0.5f};
  g.layers[3].weight = {1, 1, 1, 1, -1, 0, 0, 0};
  g.layers[3].bias = {0, 1};
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 9, 8};
  // conv: (1-5)+.5=-3.5, (2-6)+.5=-3.5, (4-9)+.5=-4.5, (5-8)+.5=-2.5 -> relu -> all 0
  auto out = Fp32Executor(g).run(x);
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_FLOAT_EQ(out[1], 1.f);
  g.layers[0].weight = {-1, 0, 0, 1};
  // conv: 4.5, 4.5, 5.5, 3.5 -> dense: sum = 18, -4.5+1 = -3.5
  out = Fp32Executor(g).run(x);
  EXPECT_FLOAT_EQ(out[0], 18.f);
  EXPECT_FLOAT_EQ(out[1], -3.5f);
  Graph p = graph_from_spec("maxpool2 flatten dense(K)", {"a", "b"}, {1, 4, 4});
  p.layers[2].weight = {1, 0, 0, 0, 0, 0, 0, 1};
  const float y[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 15};
  out = Fp32Executor(p).run(y);
  EXPECT_FLOAT_EQ(out[0], 6.f);
  EXPECT_FLOAT_EQ(out[1], 16.f);
}
