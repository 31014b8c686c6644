#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "data/synth.h"
#include "eval/evaluate.h"
#include "model/onnx_io.h"
#include "test_util.h"

using namespace qp;

TEST(Eval, ConfusionAndFormatting) {
  std::vector<eval::ImageResult> imgs = {
      {"a", "", 0, 0, {}, {}}, {"b", "", 0, 1, {}, {}}, {"c", "", 1, 1, {}, {}}, {"d", "", 2, 0, {}, {}}};
  const auto m = eval::confusion_matrix(imgs, 3);
  EXPECT_EQ(m, (std::vector<std::vector<int>>{{1, 1, 0}, {0, 1, 0}, {1, 0, 0}}));
  const std::string table = eval::format_confusion({"rock", "paper", "scissors"}, m);
  EXPECT_NE(table.find("True \\ Pred"), std::string::npos);
  EXPECT_NE(table.find("Scissors"), std::string::npos);
  eval::Results r;
  r.images = imgs;
  EXPECT_DOUBLE_EQ(r.accuracy(), 0.5);
  EXPECT_NE(eval::format_accuracy(r).find("50.00% (2/4)"), std::string::npos);
}

// A prediction or label outside the classes (a damaged journal, another model's device) used to be written
// past the matrix (heap corruption); it is a qp::Error naming the image.
TEST(Eval, ConfusionMatrixRefusesIndicesOutsideTheClasses) {
  for (const auto &[label, pred] : std::vector<std::pair<int, int>>{{0, 3}, {3, 0}, {0, -1}, {-1, 0}, {0, 1 << 30}}) {
    std::vector<eval::ImageResult> imgs = {{"a", "", 0, 0, {}, {}}, {"bad.png", "", label, pred, {}, {}}};
    try {
      (void)eval::confusion_matrix(imgs, 3);
      ADD_FAILURE() << label << " " << pred;
    } catch (const Error &e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("image 'bad.png' has label " + std::to_string(label) + " and prediction " + std::to_string(pred) +
                       ", outside the model's 3 classes"),
                std::string::npos)
          << m;
      EXPECT_NE(m.find("fix:"), std::string::npos) << m;
    }
  }
}

TEST(Eval, ResultsAreIndependentOfThreadsAndWrittenAsSpecified) {
  test::TempDir t;
  data::SynthOptions so;
  so.out_dir = (t / "d").string();
  so.train = 3;
  so.test = 12;
  data::synth_dataset(so);
  model::Graph g = model::graph_from_spec("rps-cnn", data::synth_class_names());
  model::init_random(g, 2);
  model::save_onnx(g, (t / "m.onnx").string());
  const auto mf = model::load_onnx((t / "m.onnx").string());
  data::LoadOptions lo;
  lo.classes = mf.graph.classes;
  const auto split = data::load_split((t / "d/test").string(), lo);
  const auto r1 = eval::evaluate_fp32(mf, split, 1), r2 = eval::evaluate_fp32(mf, split, 2);
  ASSERT_EQ(r1.images.size(), 12u);
  for (size_t i = 0; i < r1.images.size(); ++i) {
    EXPECT_EQ(r1.images[i].scores, r2.images[i].scores);
    float sum = 0;
    for (float p : r1.images[i].scores) sum += p;
    EXPECT_NEAR(sum, 1.f, 1e-5);
  }
  eval::write_results_json(r1, (t / "r.json").string());
  std::ifstream in(t / "r.json");
  const auto j = nlohmann::json::parse(in);
  for (const char *k : {"model", "n", "classes", "accuracy", "confusion", "images"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["n"], 12);
  EXPECT_EQ(j["images"][0]["file"], split.samples[0].path);
  EXPECT_EQ(j["images"][0]["scores"].size(), 3u);
  int total = 0;
  for (const auto &row : j["confusion"])
    for (int v : row) total += v;
  EXPECT_EQ(total, 12);
}
