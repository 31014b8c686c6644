#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "data/synth.h"
#include "eval/evaluate.h"
#include "eval/results_io.h"
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

namespace {

eval::ResultsFile small_device_file() {
  eval::ResultsFile f;
  f.results.model = "int8.onnx";
  f.results.model_sha256 = std::string(64, 'a');
  f.results.precision = "int8";
  f.results.classes = {"rock", "paper", "scissors"};
  f.platform = "device";
  const std::vector<std::vector<int>> scores = {{100, -20, -128}, {-128, 90, 90}, {5, 6, 7}};
  for (int i = 0; i < 3; ++i) {
    eval::ImageResult im;
    im.file = "test/" + f.results.classes[static_cast<size_t>(i)] + "/" + std::to_string(i) + ".png";
    im.sha256 = std::string(63, 'b') + std::to_string(i);
    im.label = i;
    im.qscores = scores[static_cast<size_t>(i)];
    im.pred = eval::first_argmax(im.qscores);
    im.cycles = 6650000 + i;
    im.micros = 41560;
    f.results.images.push_back(im);
  }
  f.subset = nlohmann::ordered_json{{"seed", 1}, {"requested", "3"}, {"n", 3}, {"of", 30}};
  f.device = nlohmann::ordered_json{{"target", "qemu-rv32"}, {"arena_bytes", 20480}};
  return f;
}

// Expects read_results to refuse `j` with a message containing `needle`.
void expect_refused(const nlohmann::json &j, const std::string &needle, const eval::ReadOptions &opt = {}) {
  try {
    (void)eval::read_results(j, json_read::Source{"device.json", "write it again", 2}, opt);
    ADD_FAILURE() << "expected a refusal: " << needle;
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what() << "\nexpected: " << needle;
    EXPECT_NE(std::string(e.what()).find("fix:"), std::string::npos) << e.what();
  }
}

}  // namespace

// results.json / device.json: what the codec writes it reads back to the same values, and writes again to
// the same bytes; the derived keys are recomputed, not trusted.
TEST(ResultsCodec, RoundTripIsExactAndKeysKeepTheirOrder) {
  test::TempDir t;
  const eval::ResultsFile f = small_device_file();
  const std::string path = (t / "device.json").string();
  eval::write_results_file(f, path);
  const auto back = eval::read_results_file(path, json_read::Source{"device.json", "", 1});
  EXPECT_EQ(back.platform, "device");
  EXPECT_EQ(back.results.model_sha256, f.results.model_sha256);
  EXPECT_EQ(back.results.classes, f.results.classes);
  ASSERT_EQ(back.results.images.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.results.images[i].qscores, f.results.images[i].qscores);
    EXPECT_EQ(back.results.images[i].cycles, f.results.images[i].cycles);
    EXPECT_EQ(back.results.images[i].micros, f.results.images[i].micros);
    EXPECT_EQ(back.results.images[i].sha256, f.results.images[i].sha256);
  }
  EXPECT_EQ(back.results.confusion, (std::vector<std::vector<int>>{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}));
  const std::string a = eval::results_json(f).dump(1), b = eval::results_json(back).dump(1);
  EXPECT_EQ(nlohmann::json::parse(a), nlohmann::json::parse(b));  // the same values (nested objects may reorder)
  const auto reread = eval::read_results(nlohmann::json::parse(b), json_read::Source{"x", "", 1});
  const std::string again = eval::results_json(reread).dump(1);
  EXPECT_EQ(again, b);  // and a second round trip changes no byte
  // The schema's key order, top level and per image; the device's own keys stay in their order.
  const auto j = eval::results_json(f);
  std::vector<std::string> keys;
  for (const auto &[k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"model", "model_sha256", "precision", "platform", "n", "classes", "output",
                                            "accuracy", "accuracy_ci95", "confusion", "ties", "images", "subset", "device"}));
  EXPECT_EQ(j["output"]["kind"], "probabilities");  // INT8 results say what their vectors mean
  EXPECT_EQ(j["output"]["margin_unit"], "int8 steps (1/256 probability each)");
  keys.clear();
  for (const auto &[k, v] : j["images"][1].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"file", "sha256", "label", "pred", "scores", "margin", "conf", "cycles", "micros",
                                            "tie"}));
  EXPECT_EQ(j["images"][1]["margin"], 0);
  EXPECT_EQ(j["ties"], 1);
  EXPECT_EQ(j["device"].begin().key(), "target");
  // A claimed margin or accuracy does not survive a read: the images decide.
  nlohmann::json edited = nlohmann::json::parse(a);
  edited["images"][0]["margin"] = 3;
  edited["accuracy"] = 0.1;
  const auto re = eval::read_results(edited, json_read::Source{"device.json", "", 1});
  EXPECT_EQ(re.results.images[0].margin(), 120);
  EXPECT_DOUBLE_EQ(re.results.accuracy(), 1.0);
}

TEST(ResultsCodec, RefusesWhatItCannotReadExactly) {
  const nlohmann::json good = nlohmann::json::parse(eval::results_json(small_device_file()).dump());
  auto with = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    return j;
  };
  expect_refused(nlohmann::json{{"keep", true}}, "device.json is not a qparity results file");
  expect_refused(with([](nlohmann::json &j) { j["classes"] = nlohmann::json::array(); }), "device.json lists no classes");
  expect_refused(with([](nlohmann::json &j) { j["images"][1]["scores"][2] = 128; }),
                 "images[1].scores[2] is 128, outside [-128, 127]");
  expect_refused(with([](nlohmann::json &j) { j["images"][1]["scores"].erase(0); }), "images[1].scores");
  expect_refused(with([](nlohmann::json &j) { j["images"][0]["label"] = 4294967296ull; }), "images[0].label is 4294967296");
  expect_refused(with([](nlohmann::json &j) { j["images"][2]["file"] = j["images"][0]["file"]; }), "twice (images 0 and 2)");
  expect_refused(with([](nlohmann::json &j) { j["n"] = 4; }), "says n = 4 but lists 3 images");
  expect_refused(with([](nlohmann::json &j) { j["images"][0]["cycles"] = -1; }), "images[0].cycles is -1");
  expect_refused(with([](nlohmann::json &j) { j["images"][0].erase("sha256"); }), "images[0].sha256 is missing",
                 eval::ReadOptions{false, true});
  expect_refused(with([](nlohmann::json &j) { j["precision"] = "fp32"; }), "holds fp32 results, not INT8 ones",
                 eval::ReadOptions{true, false});
  // Optional keys may be absent: no sha256, no model hash, no platform.
  const auto lax = eval::read_results(with([](nlohmann::json &j) {
    j["images"][0].erase("sha256");
    j.erase("model_sha256");
    j.erase("platform");
  }), json_read::Source{"x", "", 1});
  EXPECT_EQ(lax.results.images[0].sha256, "");
  EXPECT_FALSE(lax.is_device());
}

// One margin, one confusion matrix, one agreement.
TEST(ResultsCodec, OneMarginOneConfusionOneAgreement) {
  EXPECT_EQ(eval::int8_margin({}), 0);
  EXPECT_EQ(eval::int8_margin({5}), 0);
  EXPECT_EQ(eval::int8_margin({-128, 127}), 255);
  EXPECT_EQ(eval::int8_margin({3, 9, 9, 1}), 0);
  EXPECT_EQ(eval::int8_margin({9, 3, 7, 1}), 2);
  EXPECT_EQ(eval::int8_margin({1, 3, 7, 9}), 2);
  EXPECT_EQ(eval::confusion_matrix(std::vector<std::pair<int, int>>{{0, 1}, {1, 1}, {0, 1}}, 2),
            (std::vector<std::vector<int>>{{0, 2}, {0, 1}}));
  EXPECT_THROW((void)eval::confusion_matrix(std::vector<std::pair<int, int>>{{0, 2}}, 2), Error);
  EXPECT_TRUE(eval::confusion_matrix(std::vector<std::pair<int, int>>{{0, 300}}, 301).empty());  // above the dense limit

  // a: FP32, b: INT8; image 1 flips (FP32 right), image 3 flips (INT8 right).
  std::vector<eval::ImageResult> a(4), b(4);
  const int labels[] = {0, 1, 2, 0}, pa[] = {0, 1, 2, 1}, pb[] = {0, 2, 2, 0};
  for (size_t i = 0; i < 4; ++i) {
    a[i].file = b[i].file = "f" + std::to_string(i);
    a[i].label = b[i].label = labels[i];
    a[i].pred = pa[i];
    b[i].pred = pb[i];
  }
  const auto d = eval::decision_agreement(a, b, {{0, 0}, {1, 1}, {2, 2}, {3, 3}});
  EXPECT_EQ(d.n, 4);
  EXPECT_EQ(d.same, 2);
  EXPECT_DOUBLE_EQ(d.agreement, 0.5);
  EXPECT_EQ(d.only_a_right, 1);
  EXPECT_EQ(d.only_b_right, 1);
  EXPECT_EQ(d.flipped, (std::vector<size_t>{1, 3}));
  EXPECT_DOUBLE_EQ(d.mcnemar_p, 1.0);
  const auto none = eval::decision_agreement(a, b, {});
  EXPECT_EQ(none.n, 0);
  EXPECT_DOUBLE_EQ(none.agreement, 0.0);
  EXPECT_DOUBLE_EQ(none.mcnemar_p, 1.0);
}

// verify's image matching: pixels first, then the same file, then the same class-folder/file tail; each once.
TEST(ResultsCodec, ImageMatcherPrefersTheSameNameAndClaimsEachImageOnce) {
  std::vector<eval::ImageResult> pool(3);
  pool[0].file = "/data/a/test/rock/1.png";
  pool[1].file = "/data/b/test/paper/1.png";
  pool[2].file = "other/x.png";
  pool[0].sha256 = pool[1].sha256 = "same";
  pool[2].sha256 = "x";
  eval::ImageMatcher m(pool);
  eval::ImageResult want;
  want.sha256 = "same";
  want.file = "run/test/paper/1.png";  // same tail as pool[1]
  EXPECT_EQ(m.find(want), 1);
  EXPECT_EQ(m.find(want), 0);   // pool[1] is claimed: the other image with these pixels
  EXPECT_EQ(m.find(want), -2);  // every image with these pixels is claimed
  want.sha256 = "unknown";
  EXPECT_EQ(m.find(want), -1);
}
