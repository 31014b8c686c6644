// The plain C++ FP32 executor against libtorch's forward pass on the same weights.
#include <gtest/gtest.h>

#include "data/synth.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "test_util.h"
#include "train/torch_model.h"

using namespace qp;

class ExecutorVsTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(ExecutorVsTorch, LogitsAgreeWithin1e4On60Images) {
  torch::manual_seed(3);
  model::Graph g = model::graph_from_spec(GetParam(), data::synth_class_names());
  train::TorchNet net(g);
  // Give BatchNorm layers non-trivial statistics: a few training-mode passes on random data.
  {
    torch::NoGradGuard ng;
    net->train();
    for (int i = 0; i < 3; ++i) net->forward(torch::rand({16, 3, 32, 32}));
  }
  net->eval();
  net->store_to(g);
  // Through an ONNX file, as the CLI would do.
  test::TempDir t;
  model::save_onnx(g, (t / "m.onnx").string());
  const model::Fp32Executor exec(model::load_onnx((t / "m.onnx").string()).graph);
  double worst = 0;
  for (int i = 0; i < 60; ++i) {
    const auto img = data::synth_render(i % 3, 1000 + static_cast<uint64_t>(i));
    const auto x = model::rgb_to_chw(img.pixels.data(), 32, 32, 3);
    std::vector<std::vector<float>> trace;
    exec.run(x.data(), &trace);
    const std::vector<float> &logits = trace[trace.size() - 2];  // before Softmax
    torch::NoGradGuard ng;
    auto ref = net->forward(torch::from_blob(const_cast<float *>(x.data()), {1, 3, 32, 32}).clone());
    ASSERT_EQ(ref.numel(), static_cast<int64_t>(logits.size()));
    for (size_t k = 0; k < logits.size(); ++k) {
      const double d = std::abs(static_cast<double>(logits[k]) - ref[0][static_cast<int64_t>(k)].item<double>());
      worst = std::max(worst, d);
      EXPECT_LE(d, 1e-4) << "image " << i << " logit " << k;
    }
  }
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
}

// Graphs with branches: rps-resnet (Add, identity and projection shortcuts) and a Concat of three
// branches, one of them the identity.
const char *const kConcatSpec = "conv3x3(8) relu concat{ conv1x1(8) relu | conv3x3(6) | } maxpool2 flatten dense(K) softmax";

INSTANTIATE_TEST_SUITE_P(Presets, ExecutorVsTorch,
                         ::testing::Values("rps-cnn", "rps-cnn-bn", "rps-mobile", "rps-mobilenet", "rps-resnet", kConcatSpec),
                         [](const auto &info) {
                           std::string n = info.param;
                           if (n == kConcatSpec) return std::string("concat_spec");
                           for (auto &c : n)
                             if (c == '-') c = '_';
                           return n;
                         });
