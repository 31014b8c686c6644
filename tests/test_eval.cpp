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

// Ties: the decision is the first class in order (the rule the firmware's qp_app_argmax shares); a
// shared top score is counted and marked in results.json and on the console.
TEST(Eval, TiesGoToTheFirstClassAndAreCountedAndMarked) {
  EXPECT_EQ(eval::first_argmax(std::vector<int>{-5, 7, 7}), 1);
  EXPECT_EQ(eval::first_argmax(std::vector<int>{9, 9, 9}), 0);
  EXPECT_EQ(eval::first_argmax(std::vector<float>{0.25f, 0.5f, 0.25f}), 1);
  EXPECT_EQ(eval::first_argmax(std::vector<int>{}), -1);
  EXPECT_TRUE(eval::top_tie(std::vector<int>{-128, 100, 100}));
  EXPECT_FALSE(eval::top_tie(std::vector<int>{100, 99, 99}));  // a tie below the top is no tie for the decision
  EXPECT_FALSE(eval::top_tie(std::vector<int>{5}));

  eval::Results r;
  r.precision = "int8";
  r.classes = {"rock", "paper", "scissors"};
  r.images = {{"a", std::string(64, 'a'), 1, 1, {}, {-128, 100, 100}},
              {"b", std::string(64, 'b'), 0, 0, {}, {90, -20, 40}},
              {"c", std::string(64, 'c'), 2, 0, {}, {30, -128, 30}}};
  EXPECT_TRUE(r.images[0].tie());
  EXPECT_EQ(r.images[0].margin(), 0);
  EXPECT_FALSE(r.images[1].tie());
  EXPECT_EQ(r.ties(), 2);
  const std::string line = eval::format_ties(r);
  EXPECT_NE(line.find("2 image(s) with a tie for the top int8 score (margin 0)"), std::string::npos) << line;
  EXPECT_NE(line.find("first tied class in class order"), std::string::npos) << line;
  r.images.pop_back();
  r.images.pop_back();
  r.images[0].qscores = {-128, 100, 99};
  EXPECT_EQ(eval::format_ties(r), "");

  test::TempDir t;
  r.images = {{"a", std::string(64, 'a'), 1, 1, {}, {-128, 100, 100}}, {"b", std::string(64, 'b'), 0, 0, {}, {90, -20, 40}}};
  r.confusion = eval::confusion_matrix(r.images, 3);
  eval::write_results_json(r, (t / "r.json").string());
  std::ifstream in(t / "r.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["ties"], 1);
  EXPECT_EQ(j["images"][0]["tie"], true);
  EXPECT_EQ(j["images"][0]["margin"], 0);
  EXPECT_FALSE(j["images"][1].contains("tie"));
}

// A real INT8 engine output with a tie decides for the first class, exactly as qp_app_argmax does.
TEST(Eval, EngineDecisionsFollowTheFirstMaximumRule) {
  // qp_app_argmax (src/firmware/app/qp_app.c) replays here on the same vectors: a strict '>' scan.
  auto firmware_argmax = [](const std::vector<int> &s) {
    int best = 0;
    for (int k = 1; k < static_cast<int>(s.size()); ++k)
      if (s[static_cast<size_t>(k)] > s[static_cast<size_t>(best)]) best = k;
    return best;
  };
  for (const auto &s : std::vector<std::vector<int>>{{3, 3, 1}, {1, 3, 3}, {-128, -128, -128}, {127, -1, 127}, {0, 5, 4}})
    EXPECT_EQ(eval::first_argmax(s), firmware_argmax(s));
  std::ifstream app(std::string(QP_SOURCE_DIR) + "/src/firmware/app/qp_app.c");
  std::stringstream ss;
  ss << app.rdbuf();
  EXPECT_NE(ss.str().find("if (scores[k] > scores[best]) best = k;"), std::string::npos)
      << "the firmware's arg-max changed: keep it the first maximum (ties to the first class), as on the host";
}

// Above 20 classes the console gets the largest confusions, not a K x K table; above 256 classes no
// K x K matrix is built at all and results.json carries the non-zero cells (10,000 classes, 12 images).
TEST(Eval, ManyClassesAreSummarisedAndStoredSparse) {
  auto named = [](size_t k) {
    std::vector<std::string> c;
    for (size_t i = 0; i < k; ++i) c.push_back("class" + std::to_string(i));
    return c;
  };
  std::vector<std::pair<int, int>> lp = {{0, 0}, {1, 2}, {1, 2}, {1, 2}, {3, 4}, {3, 4}, {5, 5}, {6, 7}};
  const std::string full = eval::format_confusion_or_top(named(20), lp);
  EXPECT_NE(full.find("True \\ Pred"), std::string::npos);
  const std::string top = eval::format_confusion_or_top(named(21), lp, 2);
  EXPECT_EQ(top.find("True \\ Pred"), std::string::npos) << top;
  EXPECT_NE(top.find("21 classes"), std::string::npos) << top;
  EXPECT_NE(top.find("6 image(s) off the diagonal"), std::string::npos) << top;
  const size_t a = top.find("true class1 -> pred class2: 3"), b = top.find("true class3 -> pred class4: 2");
  ASSERT_NE(a, std::string::npos) << top;
  ASSERT_NE(b, std::string::npos) << top;
  EXPECT_LT(a, b);  // largest first
  EXPECT_EQ(top.find("class6 -> pred class7"), std::string::npos) << "only the top 2 are listed";
  EXPECT_NE(top.find("and 1 more"), std::string::npos) << top;
  EXPECT_EQ(eval::confusion_cells(lp),
            (std::vector<eval::ConfusionCell>{{0, 0, 1}, {1, 2, 3}, {3, 4, 2}, {5, 5, 1}, {6, 7, 1}}));

  eval::Results r;
  r.precision = "int8";
  r.classes = named(10000);
  for (int i = 0; i < 12; ++i) {
    std::vector<int> s(10000, -128);
    const int label = i * 7, pred = i % 3 ? label : 9999;
    s[static_cast<size_t>(pred)] = 127;
    r.images.push_back({"f" + std::to_string(i), std::string(64, 'a'), label, pred, {}, s});
  }
  r.confusion = eval::confusion_matrix(r.images, r.classes.size());
  EXPECT_TRUE(r.confusion.empty()) << "no 10,000 x 10,000 matrix in memory";
  test::TempDir t;
  eval::write_results_json(r, (t / "r.json").string());
  EXPECT_LT(std::filesystem::file_size(t / "r.json"), 2'000'000u) << "no dense 10,000 x 10,000 matrix in the file";
  std::ifstream in(t / "r.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_TRUE(j["confusion"].is_null());
  ASSERT_TRUE(j["confusion_cells"].is_array());
  int total = 0;
  for (const auto &c : j["confusion_cells"]) {
    ASSERT_EQ(c.size(), 3u);
    total += c[2].get<int>();
  }
  EXPECT_EQ(total, 12);
  const std::string summary = eval::format_confusion_or_top(r.classes, eval::label_pred(r.images));
  EXPECT_LT(summary.size(), 2000u) << summary.substr(0, 400);
  EXPECT_NE(summary.find("-> pred class9999: 1"), std::string::npos) << summary;
  // Up to 256 classes the JSON keeps the dense matrix that readers already know.
  r.classes = named(3);
  r.images = {{"a", std::string(64, 'a'), 0, 1, {}, {0, 5, 1}}};
  eval::write_results_json(r, (t / "s.json").string());
  std::ifstream in2(t / "s.json");
  const auto j2 = nlohmann::json::parse(in2);
  EXPECT_EQ(j2["confusion"], (nlohmann::json{{0, 1, 0}, {0, 0, 0}, {0, 0, 0}}));
  EXPECT_FALSE(j2.contains("confusion_cells"));
}
