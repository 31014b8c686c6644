#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "common/error.h"
#include "common/rng.h"
#include "model/executor_fp32.h"
#include "model/ir.h"
#include "model/onnx_io.h"

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

// graph_from_spec(spec) must throw a qp::Error whose text contains `needle`.
void expect_spec_error(const std::string &spec, const std::string &needle) {
  try {
    graph_from_spec(spec, kRps);
    FAIL() << spec;
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Ir, BadSpecsAreNamed) {
  expect_spec_error("conv3x3(16) wobble dense(K)", "'wobble'");
  expect_spec_error("conv3x3(16) relu dense(K)", "needs a flat input");
  expect_spec_error("conv3x3(16) flatten dense(5)", "there are 3 classes");
  expect_spec_error("conv3x3 flatten dense(K)", "needs a filter count");
  expect_spec_error("conv3x5(4) flatten dense(K)", "square");
  expect_spec_error("maxpool64 flatten dense(K)", "smaller than the window");
  expect_spec_error("flatten dense(0)", "not a positive count");
  expect_spec_error("", "has no layers");
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

// Blocks with branches: each layer's producers (`inputs`) as the spec says.
TEST(Ir, SpecResidualBlock) {
  const Graph g = graph_from_spec("conv3x3(8) add{ conv3x3(8) relu conv3x3(8) | } relu gap dense(K)", kRps);
  ASSERT_EQ(g.layers.size(), 8u);
  EXPECT_EQ(g.layers[0].inputs, (std::vector<int>{kGraphInput}));
  EXPECT_EQ(g.layers[1].inputs, (std::vector<int>{0}));  // the branch starts from the block's input
  EXPECT_EQ(g.layers[3].inputs, (std::vector<int>{2}));
  EXPECT_EQ(g.layers[4].op, Op::Add);
  EXPECT_EQ(g.layers[4].inputs, (std::vector<int>{3, 0}));  // branch end + identity shortcut
  EXPECT_EQ(g.layers[4].out, (Shape{8, 32, 32}));
  EXPECT_EQ(g.layers[5].inputs, (std::vector<int>{4}));
  EXPECT_FALSE(is_chain(g));
  const auto readers = consumers(g);
  EXPECT_EQ(readers[0], (std::vector<int>{1, 4}));
}

TEST(Ir, SpecProjectionShortcut) {
  const Graph g = graph_from_spec("conv3x3(8) add{ conv3x3s2(16) bn relu conv3x3(16) | conv1x1s2(16) bn } gap dense(K)", kRps);
  ASSERT_EQ(g.layers.size(), 10u);
  EXPECT_EQ(g.layers[5].op, Op::Conv2D);  // the projection reads the block input
  EXPECT_EQ(g.layers[5].inputs, (std::vector<int>{0}));
  EXPECT_EQ(g.layers[5].out, (Shape{16, 16, 16}));
  EXPECT_EQ(g.layers[7].op, Op::Add);
  EXPECT_EQ(g.layers[7].inputs, (std::vector<int>{4, 6}));
  EXPECT_EQ(g.layers[7].out, (Shape{16, 16, 16}));
  // Folding removes both BatchNorms and rewires the Add to the convs.
  const Graph f = fold_for_inference(g);
  ASSERT_EQ(f.layers.size(), 8u);
  EXPECT_EQ(f.layers[5].op, Op::Add);
  EXPECT_EQ(f.layers[5].inputs, (std::vector<int>{3, 4}));
}

TEST(Ir, SpecConcat) {
  const Graph g =
      graph_from_spec("conv3x3(8) relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) softmax", kRps);
  ASSERT_EQ(g.layers.size(), 10u);
  EXPECT_EQ(g.layers[5].op, Op::Concat);
  // The branch ends in order; the empty branch is the block's input.
  EXPECT_EQ(g.layers[5].inputs, (std::vector<int>{3, 4, 1}));
  EXPECT_EQ(g.layers[5].out, (Shape{8 + 6 + 8, 32, 32}));
  EXPECT_EQ(g.layers[6].out, (Shape{22, 16, 16}));
  EXPECT_EQ(g.layers[8].weight.size(), 3u * 22 * 16 * 16);
}

TEST(Ir, SpecNestedBlocks) {
  const Graph g =
      graph_from_spec("conv3x3(8) add{ add{ conv3x3(8) | } relu concat{ conv1x1(4) | conv1x1(4) } | } gap dense(K)", kRps);
  ASSERT_EQ(g.layers.size(), 10u);
  EXPECT_EQ(g.layers[1].inputs, (std::vector<int>{0}));
  EXPECT_EQ(g.layers[2].op, Op::Add);
  EXPECT_EQ(g.layers[2].inputs, (std::vector<int>{1, 0}));
  EXPECT_EQ(g.layers[3].inputs, (std::vector<int>{2}));
  EXPECT_EQ(g.layers[4].inputs, (std::vector<int>{3}));
  EXPECT_EQ(g.layers[5].inputs, (std::vector<int>{3}));
  EXPECT_EQ(g.layers[6].op, Op::Concat);
  EXPECT_EQ(g.layers[6].inputs, (std::vector<int>{4, 5}));
  EXPECT_EQ(g.layers[7].op, Op::Add);
  EXPECT_EQ(g.layers[7].inputs, (std::vector<int>{6, 0}));  // the outer shortcut skips the inner blocks
}

TEST(Ir, BadBlocksAreNamed) {
  expect_spec_error("conv3x3(8) add{ conv3x3(8) | gap dense(K)", "'add{' is not closed");
  expect_spec_error("conv3x3(8) add{ conv3x3(8) | conv3x3(8) | } gap dense(K)", "has 3 branches, expected 2");
  expect_spec_error("conv3x3(8) add{ | } gap dense(K)", "more than one empty branch");
  expect_spec_error("conv3x3(8) concat{ | | conv1x1(4) } gap dense(K)", "more than one empty branch");
  expect_spec_error("conv3x3(8) add{ conv3x3(16) | } gap dense(K)", "adds tensors of different shapes");
  expect_spec_error("conv3x3(8) add{ conv3x3s2(8) | } gap dense(K)", "adds tensors of different shapes");
  expect_spec_error("conv3x3(8) { conv3x3(8) | } gap dense(K)", "'{' must follow add or concat");
  expect_spec_error("conv3x3(8) add conv3x3(8) gap dense(K)", "must be followed by a block");
  expect_spec_error("conv3x3(8) concat{ conv3x3(8) } gap dense(K)", "at least 2 branches");
  expect_spec_error("conv3x3(8) concat{ conv3x3s2(8) | } gap dense(K)", "concatenates tensors of different sizes");
  expect_spec_error("conv3x3(8) } gap dense(K)", "unexpected '}'");
}

// rps-resnet at 32x32x3, K = 3, counted by hand (params: weights + biases + BatchNorm gamma/beta;
// MACs: out_h * out_w * out_c * in_c * k * k per conv, in * out per dense):
//   stem conv3x3(16) on 3:      16*3*9 + 16   =    448 params   32*32*16 * 3*9   =   442,368 MACs
//   block 1, 2x conv3x3(16):    2 * (2304+16) =  4,640          2 * 32*32*16*144 = 4,718,592
//   block 2, conv3x3s2(32):     4608+32       =  4,640          16*16*32 * 144   = 1,179,648
//            conv3x3(32):       9216+32       =  9,248          16*16*32 * 288   = 2,359,296
//            conv1x1s2(32):     512+32        =    544          16*16*32 * 16    =   131,072
//   block 3, conv3x3s2(64):     18432+64      = 18,496          8*8*64 * 288     = 1,179,648
//            conv3x3(64):       36864+64      = 36,928          8*8*64 * 576     = 2,359,296
//            conv1x1s2(64):     2048+64       =  2,112          8*8*64 * 32      =   131,072
//   dense(3) on 64:             192+3         =    195          64*3             =       192
//   convs + dense = 77,251 params; 9 BatchNorms (3 each of 16, 32, 64 channels) add 2*(48+96+192) = 672
//   -> 77,923 before folding, 77,251 after; MACs 12,501,184.
TEST(Ir, RpsResnetCountsByHand) {
  const Graph g = graph_from_spec("rps-resnet", kRps);
  ASSERT_EQ(g.layers.size(), 31u);
  EXPECT_EQ(param_count(g), 77923);
  EXPECT_EQ(mac_count(g), 12501184);
  const Graph f = fold_for_inference(g);
  EXPECT_EQ(param_count(f), 77251);
  EXPECT_EQ(mac_count(f), 12501184);
  ASSERT_EQ(f.layers.size(), 22u);  // 9 BatchNorms folded away
  int adds = 0;
  for (const auto &l : f.layers) adds += l.op == Op::Add;
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(f.output(), (Shape{3, 1, 1}));
}

// rps-mobilenet at 32x32x3, K = 3, counted by hand as above (a depthwise 3x3 on c channels: 9c + c params,
// out_h * out_w * c * 9 MACs; "e, d, p" = expand 1x1, depthwise 3x3, project 1x1):
//   stem conv3x3s2(16) on 3:         448 params    16*16*16*27         =   110,592 MACs
//   block 1 (16 -> 8, no expand):    d 160, p 136  16*16*16*9 + 16*16*8*16 = 36,864 + 32,768
//   block 2 (8 -> 48 -> 16, s2):     e 432, d 480, p 784
//                                    16*16*48*8 + 8*8*48*9 + 8*8*16*48 = 98,304 + 27,648 + 49,152
//   block 3 (16 -> 96 -> 16, Add):   e 1,632, d 960, p 1,552
//                                    8*8*96*16 + 8*8*96*9 + 8*8*16*96 = 98,304 + 55,296 + 98,304
//   block 4 (16 -> 96 -> 24, s2):    e 1,632, d 960, p 2,328
//                                    8*8*96*16 + 4*4*96*9 + 4*4*24*96 = 98,304 + 13,824 + 36,864
//   block 5 (24 -> 144 -> 24, Add):  e 3,600, d 1,440, p 3,480
//                                    4*4*144*24 + 4*4*144*9 + 4*4*24*144 = 55,296 + 20,736 + 55,296
//   head conv1x1(96) on 24:          2,400         4*4*96*24 = 36,864
//   dense(3) on 96:                  291           288
//   convs + dense = 22,715 params, 924,704 MACs; 16 BatchNorms over 16+16+8+48+48+16+96+96+16+96+96+24+144+144+24+96
//   = 984 channels add 1,968 -> 24,683 before folding.
TEST(Ir, RpsMobilenetCountsByHand) {
  const Graph g = graph_from_spec("rps-mobilenet", kRps);
  ASSERT_EQ(g.layers.size(), 48u);
  EXPECT_EQ(param_count(g), 24683);
  EXPECT_EQ(mac_count(g), 924704);
  const Graph f = fold_for_inference(g);
  EXPECT_EQ(param_count(f), 22715);
  EXPECT_EQ(mac_count(f), 924704);
  ASSERT_EQ(f.layers.size(), 32u);  // 16 BatchNorms folded away
  int adds = 0, depthwise = 0, relu6 = 0;
  for (const auto &l : f.layers) {
    adds += l.op == Op::Add;
    depthwise += l.op == Op::DepthwiseConv2D;
    relu6 += l.op == Op::ReLU6;
    // Linear bottlenecks: no activation reads a projection or an Add.
    if (l.op == Op::Add)
      for (const int p : l.inputs) EXPECT_TRUE(p == kGraphInput || f.layers[static_cast<size_t>(p)].op == Op::Conv2D ||
                                               f.layers[static_cast<size_t>(p)].op == Op::Add);
  }
  EXPECT_EQ(adds, 2);
  EXPECT_EQ(depthwise, 5);
  EXPECT_EQ(relu6, 11);
  EXPECT_EQ(f.output(), (Shape{3, 1, 1}));
  // At 64x64x3 every feature map has 4x the pixels: 4x the MACs but for the dense layer; the same parameters.
  const Graph big = graph_from_spec("rps-mobilenet", kRps, {3, 64, 64});
  EXPECT_EQ(param_count(big), 24683);
  EXPECT_EQ(mac_count(big), 4 * (924704 - 288) + 288);
}

// --input HxWxC: parsed to a CHW Shape; bad text names the option and the fix.
TEST(Ir, InputSizeParsing) {
  EXPECT_EQ(parse_input_size("64x64x3"), (Shape{3, 64, 64}));
  EXPECT_EQ(parse_input_size("96x80x1"), (Shape{1, 96, 80}));
  EXPECT_EQ(input_size_str(Shape{1, 96, 80}), "96x80x1");
  auto expect_bad = [](const std::string &text, const std::string &needle) {
    try {
      (void)parse_input_size(text, "--input");
      ADD_FAILURE() << text << " was accepted";
    } catch (const qp::Error &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--input 64x64x3"), std::string::npos) << e.what();
    }
  };
  expect_bad("64x64", "is not HxWxC");
  expect_bad("3x64x64x", "is not HxWxC");
  expect_bad("64X64X3", "is not HxWxC");
  expect_bad("64x64x2", "2 channels");
  expect_bad("0x64x3", "height and width");
  expect_bad("2048x64x3", "height and width");
}

// The presets scale with the input through shape inference: rps-cnn's dense layer reads the flattened
// final map (8*8*64 at 64x64), gap-ended presets keep their parameters; an input too small for the
// pooling fails naming the layer.
TEST(Ir, PresetsScaleWithTheInput) {
  const Graph cnn = graph_from_spec("rps-cnn", kRps, {3, 64, 64});
  const Graph f = fold_for_inference(cnn);
  EXPECT_EQ(f.layers[10].in, (Shape{4096, 1, 1}));
  EXPECT_EQ(param_count(cnn), 89379 + (4096 - 1024) * 64);
  const Graph gray = graph_from_spec("rps-cnn", kRps, {1, 96, 80});
  EXPECT_EQ(fold_for_inference(gray).layers[10].in, (Shape{12 * 10 * 64, 1, 1}));
  EXPECT_EQ(gray.layers[0].weight.size(), 16u * 1 * 9);
  for (const std::string arch : {"rps-resnet", "rps-mobile", "rps-mobilenet"}) {
    const Graph a = graph_from_spec(arch, kRps), b = graph_from_spec(arch, kRps, {3, 64, 48});
    EXPECT_EQ(param_count(a), param_count(b)) << arch;
    EXPECT_EQ(b.output(), (Shape{3, 1, 1})) << arch;
  }
  try {
    (void)graph_from_spec("rps-cnn", kRps, {3, 4, 4});
    ADD_FAILURE() << "rps-cnn at 4x4 was accepted";
  } catch (const qp::Error &e) {
    EXPECT_NE(std::string(e.what()).find("layer"), std::string::npos) << e.what();
  }
}

// The tensor table: one entry per tensor (the input, then each layer's output), shapes and element types from
// infer_shapes, names as the model file gave them (none for a spec).
TEST(Ir, TensorTableFollowsTheLayers) {
  const Graph g = graph_from_spec("rps-resnet", kRps);
  ASSERT_EQ(g.tensors.size(), g.layers.size() + 1);
  EXPECT_EQ(g.tensors[0].shape, g.input);
  for (size_t k = 0; k < g.layers.size(); ++k) {
    const Tensor &t = g.tensors[static_cast<size_t>(tensor_id(static_cast<int>(k)))];
    EXPECT_EQ(t.shape, g.layers[k].out) << k;
    EXPECT_EQ(t.dtype, DType::Float32);
    EXPECT_FALSE(t.quant.has_value());
    EXPECT_EQ(t.name, "");
  }
  EXPECT_EQ(std::string(dtype_name(DType::Int8)), "int8");
}

// Folding carries names: a BatchNorm's output name moves to the conv it folds into (the tensor its readers now
// read), a Dropout's to its input; every other tensor keeps its own.
TEST(Ir, FoldingKeepsTensorNames) {
  Graph g = graph_from_spec("rps-cnn-bn", kRps);
  g.set_tensor_name(kGraphInput, "image");
  for (size_t k = 0; k < g.layers.size(); ++k) g.set_tensor_name(static_cast<int>(k), "t" + std::to_string(k));
  // Expected: the name of the last layer of each run of layers that fold into one.
  std::vector<std::string> want;
  int dropped = 0;
  for (size_t k = 0; k < g.layers.size(); ++k) {
    const Op op = g.layers[k].op;
    if (op == Op::BatchNorm || op == Op::Dropout) {
      ++dropped;
      want.back() = "t" + std::to_string(k);
    } else {
      want.push_back("t" + std::to_string(k));
    }
  }
  ASSERT_GT(dropped, 0);
  const Graph f = fold_for_inference(g);
  ASSERT_EQ(f.layers.size(), want.size());
  ASSERT_EQ(f.tensors.size(), f.layers.size() + 1);
  EXPECT_EQ(f.tensor_name(kGraphInput), "image");
  for (size_t k = 0; k < f.layers.size(); ++k) {
    EXPECT_EQ(f.tensor_name(static_cast<int>(k)), want[k]) << k << " " << op_name(f.layers[k].op);
    EXPECT_EQ(f.tensors[k + 1].shape, f.layers[k].out);
  }
}

// A dropped layer whose input other layers also read leaves that tensor's name alone (it is still that tensor).
TEST(Ir, RemovingALayerOfASharedTensorKeepsItsName) {
  Graph g = graph_from_spec("conv3x3(16) add{ conv3x3(16) | } relu gap dense(K) softmax", kRps);
  // Layers: 0 conv, 1 conv (the branch), 2 Add (of 1 and 0), ...; layer 1 becomes a Dropout, which is then removed.
  ASSERT_EQ(g.layers[2].op, Op::Add);
  for (size_t k = 0; k < g.layers.size(); ++k) g.set_tensor_name(static_cast<int>(k), "t" + std::to_string(k));
  Graph h = g;
  h.layers[1] = Layer{};
  h.layers[1].op = Op::Dropout;
  h.layers[1].inputs = {0};
  infer_shapes(h);
  std::vector<bool> drop(h.layers.size(), false);
  drop[1] = true;
  remove_layers(h, drop);
  ASSERT_EQ(h.layers[1].op, Op::Add);
  EXPECT_EQ(h.layers[1].inputs, (std::vector<int>{0, 0}));
  EXPECT_EQ(h.tensor_name(0), "t0");  // also read by the Add directly: not renamed "t1"
  EXPECT_EQ(h.tensor_name(1), "t2");
}

// Names from files are untrusted: control characters and non-ASCII bytes are replaced, long names cut.
TEST(Ir, TensorNamesAreCleaned) {
  EXPECT_EQ(clean_tensor_name("model/conv2d/Relu"), "model/conv2d/Relu");
  EXPECT_EQ(clean_tensor_name(std::string("a\nb\x01" "c\xc3\xa9", 7)), "a?b?c??");
  const std::string long_name(500, 'x');
  const std::string c = clean_tensor_name(long_name);
  EXPECT_EQ(c.size(), kMaxTensorName);
  EXPECT_EQ(c.substr(c.size() - 3), "...");
  EXPECT_EQ(clean_tensor_name(std::string(kMaxTensorName, 'y')), std::string(kMaxTensorName, 'y'));
  Graph g;
  g.set_tensor_name(2, std::string("\x7f", 1));
  ASSERT_EQ(g.tensors.size(), 4u);
  EXPECT_EQ(g.tensor_name(2), "?");
  EXPECT_EQ(g.tensor_name(5), "");  // beyond the table: no name
}

// The names qparity's writers make up for unnamed tensors, recognised when a file qparity wrote is read back.
TEST(Ir, GeneratedTensorNames) {
  for (const char *n : {"input", "probs", "logits", "l0_Conv2D_out", "l12_GlobalAvgPool_out", "l3.Add", "l15.Softmax"})
    EXPECT_TRUE(is_generated_tensor_name(n)) << n;
  for (const char *n : {"", "l", "l3", "l3_", "l3_Add", "l_Add_out", "lx.Add", "l3.", "l3.Add/Relu", "x.1", "/conv1/Conv_output_0",
                        "model/add/add", "l3_Add_out2", "input_1_int8"})
    EXPECT_FALSE(is_generated_tensor_name(n)) << n;
  // Every per-layer name (values and initializers alike) starts "l<k>_" or "l<k>.".
  for (const char *n : {"l0_Conv2D_out", "l3.Add", "l3_", "l3.", "l7_Conv2D.weight", "l12_GlobalAvgPool_pooled"})
    EXPECT_TRUE(has_layer_name_prefix(n)) << n;
  for (const char *n : {"", "l", "l3", "l_Add_out", "lx.Add", "layer3_x", "l2norm", "input", "xl3_a"})
    EXPECT_FALSE(has_layer_name_prefix(n)) << n;
}

// qparity's own ONNX export names values itself ("l3_Conv2D_out"); read back, its tensors have no names, so labels of
// qparity's own models stay "3 Conv2D+relu".
TEST(Ir, OwnOnnxExportReadsBackWithoutNames) {
  Graph g = graph_from_spec("rps-resnet", kRps);
  init_random(g, 2);
  const std::string path = (std::filesystem::temp_directory_path() / ("qp-own-names-" + std::to_string(::getpid()) + ".onnx")).string();
  save_onnx(fold_for_inference(g), path);
  const Graph back = load_onnx(path).graph;
  std::filesystem::remove(path);
  ASSERT_EQ(back.tensors.size(), back.layers.size() + 1);
  for (const Tensor &t : back.tensors) EXPECT_EQ(t.name, "");
}
