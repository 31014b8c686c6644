// Decision equivalence (src/verify): the verdict on host/device results, its statistics, unusable
// inputs, JUnit and verdict JSON, and the triage that names the first diverging layer.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/error.h"
#include "common/sha256.h"
#include "common/stats.h"
#include "data/synth.h"
#include "model/ir.h"
#include "qp_proto.h"
#include "quant/labels.h"
#include "quant/qmodel.h"
#include "test_util.h"
#include "verify/verify.h"

using namespace qp;
using verify::json;

namespace {

// P(X <= k), X ~ Binomial(n, p), by multiplying out each term (no lgamma): an independent check.
double binom_cdf_direct(int k, int n, double p) {
  double sum = 0;
  for (int i = 0; i <= k; ++i) {
    double term = 1;
    for (int j = 0; j < i; ++j) term *= static_cast<double>(n - j) / static_cast<double>(j + 1) * p;
    for (int j = 0; j < n - i; ++j) term *= 1 - p;
    sum += term;
  }
  return sum;
}

const std::vector<std::string> kClasses = {"rock", "paper", "scissors"};
const std::string kModel = std::string(64, 'c');

// A host results file of `n` images; image i has label i % 3 and a prediction that is wrong for
// every 5th image; scores make the prediction the arg-max.
json make_host(int n) {
  json j = {{"model", "int8.onnx"}, {"model_sha256", kModel}, {"precision", "int8"}, {"n", n}, {"classes", kClasses}};
  auto &imgs = j["images"] = json::array();
  for (int i = 0; i < n; ++i) {
    const int label = i % 3, pred = i % 5 == 4 ? (label + 1) % 3 : label;
    std::vector<int> scores = {-120 + i % 7, -110, -100 + i % 11};
    scores[static_cast<size_t>(pred)] = 40 + i;
    const std::string file = "data/test/" + kClasses[static_cast<size_t>(label)] + "/" + std::to_string(10000 + i) + ".png";
    imgs.push_back(
        {{"file", file}, {"sha256", sha256_hex(file.data(), file.size())}, {"label", label}, {"pred", pred}, {"scores", scores}});
  }
  return j;
}

// A device file for every `step`-th host image, as `qparity device run` writes it.
json make_device(const json &host, int step) {
  json d = host;
  d["platform"] = "device";
  d["images"] = json::array();
  for (size_t i = 0; i < host["images"].size(); i += static_cast<size_t>(step)) {
    json e = host["images"][i];
    e["cycles"] = 1000000 + static_cast<int64_t>(i);
    e["micros"] = 4000;
    d["images"].push_back(e);
  }
  d["n"] = d["images"].size();
  d["subset"] = {{"seed", 1}, {"requested", "all"}, {"n", d["images"].size()}, {"of", host["images"].size()}};
  d["device"] = {{"target", "qemu-rv32"}, {"model_hash", kModel}, {"arena_bytes", 20000}};
  return d;
}

// Runs verify and expects unusable input: exit code 2 and a message containing `needle`.
void expect_unusable(const json &host, const json &device, const std::string &needle, const verify::VerifyOptions &opt = {}) {
  try {
    verify::verify(host, device, opt);
    ADD_FAILURE() << "expected unusable input: " << needle;
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what() << "\nexpected: " << needle;
    EXPECT_NE(std::string(e.what()).find("fix:"), std::string::npos) << e.what();
  }
}

}  // namespace

// ---- statistics ----

TEST(StatsClopperPearson, ZeroEventsIsTheClosedForm) {
  for (int n : {1, 10, 50, 427, 5000}) {
    EXPECT_NEAR(clopper_pearson_upper95(0, n), 1 - std::pow(0.05, 1.0 / n), 1e-12) << n;
    EXPECT_NEAR(clopper_pearson95(0, n).hi, 1 - std::pow(0.025, 1.0 / n), 1e-12) << n;
    EXPECT_EQ(clopper_pearson95(0, n).lo, 0.0);
    // All events: the mirror image.
    EXPECT_NEAR(clopper_pearson95(n, n).lo, std::pow(0.025, 1.0 / n), 1e-12) << n;
    EXPECT_EQ(clopper_pearson95(n, n).hi, 1.0);
  }
  // The number: 0 mismatches in 50 images bound the mismatch rate below 5.8%.
  EXPECT_NEAR(clopper_pearson_upper95(0, 50), 0.0582, 1e-4);
  EXPECT_EQ(clopper_pearson_upper95(0, 0), 1.0);
  EXPECT_EQ(clopper_pearson95(0, 0).lo, 0.0);
  EXPECT_EQ(clopper_pearson95(0, 0).hi, 1.0);
}

TEST(StatsClopperPearson, PublishedValuesAndTheirTails) {
  // Standard tables: 1/10 -> [0.0025, 0.4450], 5/20 -> [0.0866, 0.4910].
  const auto a = clopper_pearson95(1, 10), b = clopper_pearson95(5, 20);
  EXPECT_NEAR(a.lo, 0.0025286, 1e-6);
  EXPECT_NEAR(a.hi, 0.4450161, 1e-6);
  EXPECT_NEAR(b.lo, 0.0865715, 1e-6);
  EXPECT_NEAR(b.hi, 0.4910459, 1e-6);
  // The defining tail probabilities, summed term by term here: P(X <= k | hi) = 0.025 and
  // P(X >= k | lo) = 0.025; one-sided P(X <= k | upper) = 0.05.
  for (auto [k, n] : std::vector<std::pair<int, int>>{{1, 10}, {5, 20}, {3, 50}, {2, 427}, {17, 120}}) {
    const auto ci = clopper_pearson95(k, n);
    EXPECT_NEAR(binom_cdf_direct(k, n, ci.hi), 0.025, 1e-9) << k << "/" << n;
    EXPECT_NEAR(1 - binom_cdf_direct(k - 1, n, ci.lo), 0.025, 1e-9) << k << "/" << n;
    const double up = clopper_pearson_upper95(k, n);
    EXPECT_NEAR(binom_cdf_direct(k, n, up), 0.05, 1e-9) << k << "/" << n;
    EXPECT_LT(up, ci.hi);  // one-sided 95% is tighter than the two-sided upper end
    EXPECT_LT(ci.lo, static_cast<double>(k) / n);
    EXPECT_GT(ci.hi, static_cast<double>(k) / n);
    EXPECT_NEAR(binomial_cdf(k, n, 0.3), binom_cdf_direct(k, n, 0.3), 1e-12);
  }
  // The whole test set bounds the rate far tighter than 50 images.
  EXPECT_LT(clopper_pearson_upper95(0, 427), clopper_pearson_upper95(0, 50) / 5);
}

TEST(StatsWilson, KnownValues) {
  // Closed form evaluated independently (30 digits): 1/10 -> [0.0178762, 0.4041500].
  const auto a = wilson95(1, 10), b = wilson95(49, 50), c = wilson95(7, 20);
  EXPECT_NEAR(a.lo, 0.0178762, 1e-6);
  EXPECT_NEAR(a.hi, 0.4041500, 1e-6);
  EXPECT_NEAR(b.lo, 0.8950456, 1e-6);
  EXPECT_NEAR(b.hi, 0.9964607, 1e-6);
  EXPECT_NEAR(c.lo, 0.1811918, 1e-6);
  EXPECT_NEAR(c.hi, 0.5671457, 1e-6);
}

TEST(StatsMcNemar, WorkedExample) {
  // b = 10, c = 2: p = 2 * P(X <= 2 | n = 12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 0.0386.
  EXPECT_NEAR(mcnemar_exact_p(10, 2), 2.0 * (1 + 12 + 66) / 4096, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(2, 10), 0.0386, 1e-4);
}

// ---- the verdict ----

TEST(VerifyVerdict, EqualInputsAreEquivalentAndBitExact) {
  const json host = make_host(30), device = make_device(host, 3);
  const auto r = verify::verify(host, device, {});
  EXPECT_TRUE(r.equivalent);
  EXPECT_TRUE(r.bitexact);
  EXPECT_EQ(r.n, 10);
  EXPECT_EQ(r.decision_matches, 10);
  EXPECT_EQ(r.bitexact_outputs, 10);
  EXPECT_EQ(r.verdict_line(), "EQUIVALENT (bit-exact)");
  EXPECT_NEAR(r.mismatch_upper_bound_95, 1 - std::pow(0.05, 0.1), 1e-12);
  // Subset confusion counted here from the device file: label/pred of every 3rd host image.
  std::vector<std::vector<int>> want(3, std::vector<int>(3, 0));
  int correct = 0;
  for (const auto &e : device["images"]) {
    ++want[e["label"].get<size_t>()][e["pred"].get<size_t>()];
    correct += e["label"] == e["pred"];
  }
  EXPECT_EQ(r.device_confusion, want);
  EXPECT_EQ(r.host_subset_confusion, want);
  EXPECT_EQ(r.device.correct, correct);
  EXPECT_EQ(r.host_full.n, 30);
  EXPECT_EQ(r.host_full.correct, 24);  // every 5th of 30 images is wrong
  EXPECT_NEAR(r.host_full.ci95.lo, wilson95(24, 30).lo, 1e-15);
  int full_sum = 0;
  for (const auto &row : r.host_full_confusion)
    for (int v : row) full_sum += v;
  EXPECT_EQ(full_sum, 30);
  ASSERT_EQ(r.images.size(), 10u);
  EXPECT_EQ(r.images[1].file, host["images"][3]["file"]);
  EXPECT_EQ(r.images[1].cycles.value_or(-1), 1000003);
  const auto j = verify::verdict_json(r, "h.json", "d.json");
  EXPECT_EQ(j["verdict"], "EQUIVALENT");
  EXPECT_EQ(j["bitexact"], true);
  EXPECT_TRUE(j["mismatches"].empty());
  EXPECT_EQ(j["host_full"]["n"], 30);
  EXPECT_EQ(j["device"]["n"], 10);
  EXPECT_EQ(j["images"].size(), 10u);
  EXPECT_FALSE(j.contains("fp32"));
  const std::string summary = verify::format_summary(r);
  EXPECT_EQ(summary.substr(0, summary.find('\n')), "EQUIVALENT (bit-exact)");
  EXPECT_NE(summary.find("True \\ Pred"), std::string::npos);
}

TEST(VerifyVerdict, OneChangedDecisionIsNotEquivalentAndNamed) {
  const json host = make_host(30);
  json device = make_device(host, 1);
  auto &e = device["images"][7];  // label 1 (paper), predicted right on the host
  ASSERT_EQ(e["pred"], 1);
  e["pred"] = 2;
  e["scores"] = {-100, 10, 60};
  std::vector<std::string> triaged;
  verify::VerifyOptions opt;
  opt.triage = [&](const json &img) {
    triaged.push_back(img["file"]);
    verify::TriageResult t;
    t.layer = 4;
    t.layer_name = "4 Conv2D+relu";
    t.max_abs_diff = 3;
    return t;
  };
  const auto r = verify::verify(host, device, opt);
  EXPECT_FALSE(r.equivalent);
  EXPECT_FALSE(r.bitexact);
  EXPECT_EQ(r.decision_matches, 29);
  EXPECT_EQ(r.verdict_line(), "NOT EQUIVALENT: 1 of 30 decisions differs");
  EXPECT_NEAR(binom_cdf_direct(1, 30, r.mismatch_upper_bound_95), 0.05, 1e-9);
  const std::string file = e["file"];
  ASSERT_EQ(triaged, std::vector<std::string>{file});
  ASSERT_EQ(r.triage.size(), 1u);
  EXPECT_EQ(r.triage[0].result.layer, 4);
  // The device matrix moved one paper image from the paper column to the scissors column.
  EXPECT_EQ(r.device_confusion[1][2], r.host_subset_confusion[1][2] + 1);
  EXPECT_EQ(r.device_confusion[1][1], r.host_subset_confusion[1][1] - 1);
  const std::string summary = verify::format_summary(r);
  EXPECT_EQ(summary.rfind("NOT EQUIVALENT", 0), 0u);
  EXPECT_NE(summary.find("DECISION " + file + ": true paper, host paper"), std::string::npos) << summary;
  EXPECT_NE(summary.find("device scissors [-100 10 60]"), std::string::npos) << summary;
  EXPECT_NE(summary.find("first diverging layer 4 (4 Conv2D+relu), max |diff| 3"), std::string::npos) << summary;
  const auto j = verify::verdict_json(r, "h.json", "d.json");
  EXPECT_EQ(j["verdict"], "NOT EQUIVALENT");
  EXPECT_EQ(j["mismatches"], json::array({file}));
  EXPECT_EQ(j["triage"][0]["layer"], 4);
  EXPECT_EQ(j["images"][7]["decision_match"], false);
  EXPECT_EQ(j["images"][7]["device_pred"], 2);
  const std::string xml = verify::junit_xml(r);
  EXPECT_NE(xml.find("<testsuite name=\"qparity.verify\" tests=\"30\" failures=\"1\""), std::string::npos) << xml;
  const auto at = xml.find("name=\"" + file + "\"");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(xml.find("<failure type=\"decision\" message=\"decision differs: host paper, device scissors", at),
            std::string::npos);
  EXPECT_EQ(xml.find("<failure", xml.find("<failure") + 1), std::string::npos);  // only one
  EXPECT_NE(xml.find("<property name=\"verdict\" value=\"NOT EQUIVALENT\"/>"), std::string::npos);
}

TEST(VerifyVerdict, ChangedScoreWithSameDecisionIsABitExactnessFailureOnly) {
  const json host = make_host(20);
  json device = make_device(host, 2);
  auto &scores = device["images"][2]["scores"];
  const int pred = device["images"][2]["pred"];
  const size_t other = static_cast<size_t>((pred + 1) % 3);
  scores[other] = scores[other].get<int>() + 1;
  int calls = 0;
  verify::VerifyOptions opt;
  opt.triage = [&](const json &) -> verify::TriageResult {
    ++calls;
    throw Error("device went away");
  };
  const auto r = verify::verify(host, device, opt);
  EXPECT_TRUE(r.equivalent);
  EXPECT_FALSE(r.bitexact);
  EXPECT_EQ(r.decision_matches, 10);
  EXPECT_EQ(r.bitexact_outputs, 9);
  EXPECT_EQ(r.verdict_line(), "EQUIVALENT, 1 output vector differs");
  EXPECT_FALSE(r.images[2].bitexact);
  EXPECT_TRUE(r.images[2].decision_match);
  EXPECT_EQ(calls, 1);  // triage runs for an output difference too, and its failure is recorded
  ASSERT_EQ(r.triage.size(), 1u);
  EXPECT_EQ(r.triage[0].error, "device went away");
  const auto j = verify::verdict_json(r, "h", "d");
  EXPECT_EQ(j["verdict"], "EQUIVALENT");
  EXPECT_EQ(j["bitexact"], false);
  EXPECT_EQ(j["bitexact_outputs"], 9);
  const std::string xml = verify::junit_xml(r);
  EXPECT_EQ(xml.find("<failure"), std::string::npos);
  EXPECT_NE(xml.find("int8 output vector differs"), std::string::npos);
}

TEST(VerifyVerdict, MatchesImagesByPixelsAcrossFolders) {
  // The device ran from another working directory: same class/file tail, another prefix.
  const json host = make_host(12);
  json device = make_device(host, 4);
  for (auto &e : device["images"]) e["file"] = "/elsewhere/" + e["file"].get<std::string>();
  const auto r = verify::verify(host, device, {});
  EXPECT_TRUE(r.equivalent);
  EXPECT_EQ(r.n, 3);
}

TEST(VerifyInputs, UnusableInputsExitWithCodeTwoAndAReason) {
  const json host = make_host(15), device = make_device(host, 1);
  auto with = [](json j, const std::function<void(json &)> &f) {
    f(j);
    return j;
  };
  expect_unusable(json{{"keep", true}}, device, "is not a qparity results file");
  expect_unusable(host, json::array(), "is not a qparity results file");
  expect_unusable(with(host, [](json &j) { j["precision"] = "fp32"; }), device, "holds fp32 results, not INT8 ones");
  expect_unusable(host, with(device, [](json &j) { j.erase("platform"); }), "did not come from a device");
  expect_unusable(host,
                  with(device,
                       [](json &j) {
                         j["platform"] = 3;
                         j["precision"] = json::array();
                       }),
                  "device results: precision is [] (array), not a string");  // the codec names the key
  expect_unusable(host, with(device, [](json &j) { j.erase("precision"); }), "holds results of unknown precision");
  expect_unusable(with(host, [](json &j) { j["platform"] = "device"; }), device, "came from a device");
  expect_unusable(host, with(device, [](json &j) { j["model_sha256"] = std::string(64, 'd'); }), "different models");
  expect_unusable(host, with(device, [](json &j) { j["device"]["model_hash"] = std::string(64, 'e'); }),
                  "the device firmware reports model eeeeeeeeeeee");
  expect_unusable(host, with(device, [](json &j) { j["classes"] = {"rock", "scissors", "paper"}; }), "different classes");
  expect_unusable(host, with(device, [](json &j) { j["images"][4]["sha256"] = std::string(64, '0'); }),
                  "device image '" + device["images"][4]["file"].get<std::string>() +
                      "' (sha256 000000000000...) is not among the host's 15 images");
  expect_unusable(host,
                  with(device,
                       [](json &j) {
                         j["images"] = json::array();
                         j["n"] = 0;
                       }),
                  "empty subset");
  expect_unusable(host,
                  with(device,
                       [](json &j) {
                         j["images"].push_back(j["images"][0]);
                         j["n"] = 16;
                       }),
                  "twice");
  expect_unusable(host,
                  with(device,
                       [](json &j) {
                         auto e = j["images"][0];
                         e["file"] = "copy.png";
                         j["images"].push_back(e);
                         j["n"] = 16;
                       }),
                  "more than once");
  expect_unusable(host, with(device, [](json &j) { j["n"] = 99; }), "says n = 99 but lists 15 images");
  expect_unusable(host, with(device, [](json &j) { j["images"][2]["label"] = 0; }), "labelled 'scissors' on the host but 'rock'");
  expect_unusable(host, with(device, [](json &j) { j["images"][2]["scores"] = {1, 2}; }),
                  "device results: images[2].scores has 2 values, not 3");
  expect_unusable(host, with(device, [](json &j) { j["images"][2]["scores"] = {0.5, 0.2, 0.3}; }),
                  "images[2].scores[0] is 0.5 (a fractional number), not an integer in [-128, 127]");
  expect_unusable(host, with(device, [](json &j) { j["images"][2]["pred"] = 3; }), "images[2].pred is 3, outside [0, 2]");
  expect_unusable(host, with(device, [](json &j) { j["images"][2].erase("sha256"); }), "images[2].sha256 is missing");
  verify::VerifyOptions opt;
  opt.fp32 = with(host, [](json &j) {
    j["images"].erase(j["images"].begin() + 3);
    j["precision"] = "fp32";
    j["n"] = 14;
  });
  expect_unusable(host, device, "is not among the --fp32 results' 14 images", opt);
}

// nlohmann's get<int>() truncates: a score of 2^32 + s used to read as s, a label of 2^32 + l as l, and verify
// printed "EQUIVALENT (bit-exact)". Every integer must fit its range exactly, every key must have its type.
TEST(VerifyInputs, IntegersThatDoNotFitAreRefusedNotTruncated) {
  const json host = make_host(15), device = make_device(host, 1);
  auto with = [](json j, const std::function<void(json &)> &f) {
    f(j);
    return j;
  };
  const int64_t wrap = int64_t{1} << 32;
  // The same values plus 2^32: each would have truncated back to the original and matched the host.
  expect_unusable(host, with(device, [&](json &j) { j["images"][3]["scores"][1] = wrap + j["images"][3]["scores"][1].get<int64_t>(); }),
                  "device results: images[3].scores[1] is 4294967");
  expect_unusable(host, with(device, [&](json &j) { j["images"][3]["label"] = wrap + j["images"][3]["label"].get<int64_t>(); }),
                  "images[3].label is 4294967");
  expect_unusable(with(host, [&](json &j) { j["images"][5]["pred"] = wrap + j["images"][5]["pred"].get<int64_t>(); }), device,
                  "host results: images[5].pred is 4294967");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["scores"][0] = 128; }), "images[0].scores[0] is 128, outside [-128, 127]");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["scores"][2] = -129; }), "images[0].scores[2] is -129");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["scores"][0] = 18446744073709551615ull; }), "is 18446744073709551615");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["label"] = -1; }), "images[0].label is -1, outside [0, 2]");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["pred"] = 1.0; }), "images[0].pred is 1.0 (a fractional number)");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["pred"] = "1"; }), "images[0].pred is \"1\" (string)");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["scores"] = "1 2 3"; }), "images[0].scores is \"1 2 3\" (string), not a list");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0]["file"] = 7; }), "images[0].file is 7 (an integer), not a string");
  expect_unusable(host, with(device, [&](json &j) { j["images"][0] = 7; }), "images[0] is an integer, not an object");
  expect_unusable(host, with(device, [&](json &j) { j["images"][1]["sha256"] = std::string(63, 'a') + "g"; }),
                  "images[1].sha256 is \"aaaa");
  expect_unusable(host, with(device, [&](json &j) { j["images"][1]["cycles"] = -5; }), "images[1].cycles is -5");
  expect_unusable(host, with(device, [&](json &j) { j["images"][1]["micros"] = 9223372036854775808ull; }),
                  "images[1].micros is 9223372036854775808");
  expect_unusable(host, with(device, [&](json &j) { j["n"] = wrap + 15; }), "says n = 4294967311 but lists 15 images");
  expect_unusable(host, with(device, [&](json &j) { j["n"] = -1; }), "n is -1");
  expect_unusable(host, with(device, [&](json &j) { j["classes"][1] = 5; }), "device results: classes[1] is 5");
  expect_unusable(host, with(device, [&](json &j) { j["model_sha256"] = "abc"; }), "model_sha256 is \"abc\", not a SHA-256");
  // The unchanged pair still verifies, and cycles/micros up to int64 are read exactly.
  json ok = with(device, [](json &j) { j["images"][1]["cycles"] = 9223372036854775807ll; });
  const auto r = verify::verify(host, ok, {});
  EXPECT_TRUE(r.equivalent && r.bitexact);
  EXPECT_EQ(*r.images[1].cycles, 9223372036854775807ll);
}

TEST(VerifyInputs, LoadResultsJsonReportsMissingAndBrokenFiles) {
  test::TempDir dir;
  try {
    verify::load_results_json((dir / "nope.json").string(), "--host");
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }
  const std::string bad = (dir / "bad.json").string();
  data::write_file_atomic(bad, "{\"images\": [", 12);
  try {
    verify::load_results_json(bad, "--device");
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("is not JSON"), std::string::npos);
  }
}

TEST(VerifyVerdict, Fp32AgreementFlipsAndMcNemar) {
  const json host = make_host(30), device = make_device(host, 5);
  json fp32 = host;
  fp32["precision"] = "fp32";
  // Flip three images: two where FP32 is right and INT8 wrong, one the other way round.
  int b = 0, c = 0;
  std::vector<std::string> flipped;
  for (size_t i : {4, 9, 10}) {
    auto &e = fp32["images"][i];
    const int label = e["label"], pred = e["pred"];
    const int np = pred != label ? label : (label + 2) % 3;
    e["pred"] = np;
    e["scores"] = {0.2, 0.3, 0.5};
    b += np == label;
    c += pred == label;
    flipped.push_back(e["file"]);
  }
  ASSERT_EQ(b, 2);
  ASSERT_EQ(c, 1);
  verify::VerifyOptions opt;
  opt.fp32 = fp32;
  const auto r = verify::verify(host, device, opt);
  ASSERT_TRUE(r.fp32.has_value());
  EXPECT_EQ(r.fp32->n, 30);
  EXPECT_NEAR(r.fp32->agreement, 27.0 / 30, 1e-12);
  EXPECT_EQ(r.fp32->fp32_only_right, 2);
  EXPECT_EQ(r.fp32->int8_only_right, 1);
  EXPECT_NEAR(r.fp32->mcnemar_p, 1.0, 1e-12);  // 2 vs 1: 2 * P(X <= 1 | 3, 1/2) = 1
  ASSERT_EQ(r.fp32->flipped.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(r.fp32->flipped[k].file, flipped[k]);
  // Margin of the INT8 decision: top-1 minus top-2 of the host's scores.
  const auto &s = host["images"][4]["scores"];
  std::vector<int> v = s.get<std::vector<int>>();
  std::sort(v.rbegin(), v.rend());
  EXPECT_EQ(r.fp32->flipped[0].margin, v[0] - v[1]);
  const auto j = verify::verdict_json(r, "h", "d");
  EXPECT_EQ(j["fp32"]["flipped"].size(), 3u);
  EXPECT_EQ(j["fp32"]["n"], 30);
  EXPECT_NE(verify::format_summary(r).find("FP32 vs INT8 (host, full set): agreement 90.00% (27/30), 3 flipped"),
            std::string::npos);
}

TEST(VerifyJunit, EscapesNamesIntoValidXml) {
  json host = make_host(6);
  host["images"][0]["file"] = "data/<rock> & \"friends\"'s.png";
  json device = make_device(host, 1);
  device["images"][0]["pred"] = 1;
  device["images"][0]["scores"] = {-128, 0, -128};
  const auto r = verify::verify(host, device, {});
  const std::string xml = verify::junit_xml(r);
  EXPECT_NE(xml.find("name=\"data/&lt;rock&gt; &amp; &quot;friends&quot;&apos;s.png\""), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<rock>"), std::string::npos);
  // Every '&' starts an entity.
  for (size_t p = xml.find('&'); p != std::string::npos; p = xml.find('&', p + 1)) {
    const std::string rest = xml.substr(p, 6);
    EXPECT_TRUE(rest.rfind("&lt;", 0) == 0 || rest.rfind("&gt;", 0) == 0 || rest.rfind("&amp;", 0) == 0 ||
                rest.rfind("&quot;", 0) == 0 || rest.rfind("&apos;", 0) == 0)
        << rest;
  }
}

// ---- triage ----

namespace {

struct TraceFixture {
  test::TempDir dir;
  quant::QModel q;
  std::vector<std::vector<int8_t>> trace;
  TraceFixture() {
    data::SynthOptions so;
    so.out_dir = (dir / "d").string();
    so.train = 30;
    so.test = 3;
    data::synth_dataset(so);
    const auto split = data::load_split((dir / "d/train").string(), {});
    auto graph = model::graph_from_spec("rps-cnn", data::synth_class_names(), {3, 32, 32});
    model::init_random(graph, 11);
    quant::QuantOptions opt;
    opt.calib_count = 12;
    q = quant::quantize_graph(graph, split, opt);
    const quant::Int8Engine engine(q);
    engine.run(split.image(1), &trace);
  }
};

// The device's trace when layer k computed one element wrong by `delta` (and the later layers,
// fed from it, differ by more), as a test build of a faulty kernel would produce.
std::vector<std::vector<int8_t>> perturbed(const std::vector<std::vector<int8_t>> &host, size_t k, size_t index, int delta) {
  auto d = host;
  auto bump = [](int8_t &v, int by) { v = static_cast<int8_t>(v > 0 ? v - by : v + by); };
  bump(d[k][index], delta);
  for (size_t l = k + 1; l < d.size(); ++l)
    for (size_t i = 0; i < d[l].size(); i += 3) bump(d[l][i], delta + 7);
  return d;
}

}  // namespace

TEST(VerifyTriage, NamesTheFirstPerturbedLayerOfARealInt8Trace) {
  TraceFixture f;
  const auto names = verify::trace_layer_names(f.q);
  ASSERT_EQ(f.trace.size(), f.q.layers.size());
  ASSERT_GE(f.trace.size(), 6u);
  EXPECT_EQ(verify::compare_traces(f.trace, f.trace, names).layer, -1);
  for (size_t k : {size_t{0}, size_t{2}, f.trace.size() / 2, f.trace.size() - 1}) {
    const size_t index = f.trace[k].size() / 3;
    const int delta = 2 + static_cast<int>(k);
    const auto dev = perturbed(f.trace, k, index, delta);
    const auto t = verify::compare_traces(f.trace, dev, names);
    EXPECT_EQ(t.layer, static_cast<int>(k));
    EXPECT_EQ(t.layer_name, names[k]);
    EXPECT_EQ(t.max_abs_diff, delta) << "layer " << k;
    EXPECT_EQ(t.first_index, index);
    EXPECT_EQ(t.differing, 1u);
    EXPECT_EQ(t.size, f.trace[k].size());
  }
  EXPECT_NE(names[0].find(model::op_name(f.q.layers[0].op)), std::string::npos);
  // A device that stopped after 3 layers diverges at the 4th, with all of its values missing.
  std::vector<std::vector<int8_t>> cut(f.trace.begin(), f.trace.begin() + 3);
  const auto t = verify::compare_traces(f.trace, cut, names);
  EXPECT_EQ(t.layer, 3);
  EXPECT_EQ(t.differing, f.trace[3].size());
}

TEST(VerifyTriage, CrcTraceFetchesOnlyTheFirstDifferingLayer) {
  TraceFixture f;
  const auto names = verify::trace_layer_names(f.q);
  auto crcs_of = [](const std::vector<std::vector<int8_t>> &t, std::vector<uint32_t> *sizes, std::vector<uint32_t> *crcs) {
    sizes->clear();
    crcs->clear();
    for (const auto &l : t) {
      sizes->push_back(static_cast<uint32_t>(l.size()));
      crcs->push_back(qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(l.data()), static_cast<uint32_t>(l.size())));
    }
  };
  std::vector<uint32_t> sizes, crcs;
  std::vector<int> fetched;
  crcs_of(f.trace, &sizes, &crcs);
  auto none = verify::compare_trace_crcs(f.trace, sizes, crcs, names, [&](int l) {
    fetched.push_back(l);
    return f.trace[static_cast<size_t>(l)];
  });
  EXPECT_EQ(none.layer, -1);
  EXPECT_TRUE(fetched.empty());
  for (size_t k : {size_t{1}, f.trace.size() - 2}) {
    const size_t index = f.trace[k].size() - 1;
    const auto dev = perturbed(f.trace, k, index, 5);
    crcs_of(dev, &sizes, &crcs);
    fetched.clear();
    const auto t = verify::compare_trace_crcs(f.trace, sizes, crcs, names, [&](int l) {
      fetched.push_back(l);
      return dev[static_cast<size_t>(l)];
    });
    EXPECT_EQ(fetched, std::vector<int>{static_cast<int>(k)});
    EXPECT_EQ(t.layer, static_cast<int>(k));
    EXPECT_EQ(t.layer_name, names[k]);
    EXPECT_EQ(t.max_abs_diff, 5);
    EXPECT_EQ(t.first_index, index);
    EXPECT_EQ(t.differing, 1u);
  }
  sizes.pop_back();
  EXPECT_THROW(verify::compare_trace_crcs(f.trace, sizes, crcs, names, [](int) { return std::vector<int8_t>{}; }), Error);
}

// ---- ties and many classes ----

// A shared top int8 score is decided for the first class in order on both sides: counted, said in the
// summary, verdict.json and the flips; a device that breaks ties the other way is named as such.
TEST(VerifyVerdict, TiesAreCountedSaidAndMarked) {
  json host = make_host(30);
  // Image 3 (label 0, right on the host): rock and scissors tie at the top; the first, rock, wins.
  host["images"][3]["scores"] = {60, -100, 60};
  ASSERT_EQ(host["images"][3]["pred"], 0);
  const json device = make_device(host, 1);
  json fp32 = host;
  fp32["precision"] = "fp32";
  fp32["images"][3]["pred"] = 2;  // FP32 said scissors: the INT8 flip is the tie rule's choice
  fp32["images"][3]["scores"] = {0.3, 0.1, 0.6};
  verify::VerifyOptions opt;
  opt.fp32 = fp32;
  const auto r = verify::verify(host, device, opt);
  EXPECT_TRUE(r.equivalent);
  EXPECT_EQ(r.ties, 1);
  EXPECT_EQ(r.off_rule, 0);
  EXPECT_TRUE(r.images[3].tie);
  EXPECT_TRUE(r.images[3].host_tie);
  EXPECT_EQ(r.images[3].margin, 0);
  EXPECT_FALSE(r.images[4].tie);
  ASSERT_TRUE(r.fp32.has_value());
  ASSERT_EQ(r.fp32->flipped.size(), 1u);
  EXPECT_TRUE(r.fp32->flipped[0].tie);
  const std::string s = verify::format_summary(r);
  EXPECT_NE(s.find("ties          1 of 30 device outputs share the top score (margin 0): decided for the first tied class"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("INT8 margin 0 int8 steps (1/256 probability each) (a tie: INT8 decided for the first tied class)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("outputs       softmax probabilities: margins in int8 steps (1/256 probability each)"), std::string::npos)
      << s;
  const auto j = verify::verdict_json(r, "h.json", "d.json");
  EXPECT_EQ(j["ties"], 1);
  EXPECT_EQ(j["off_rule"], 0);
  EXPECT_EQ(j["images"][3]["tie"], true);
  EXPECT_EQ(j["images"][4]["tie"], false);
  EXPECT_EQ(j["fp32"]["flipped"][0]["tie"], true);

  // A device that gives the tie to the last class: a decision mismatch, marked as a tie and as off the rule.
  json last = device;
  last["images"][3]["pred"] = 2;
  const auto r2 = verify::verify(host, last, {});
  EXPECT_FALSE(r2.equivalent);
  EXPECT_EQ(r2.off_rule, 1);
  EXPECT_TRUE(r2.images[3].off_rule);
  const std::string s2 = verify::format_summary(r2);
  EXPECT_NE(s2.find("(tie for the top score on the host and the device: the first tied class wins)"), std::string::npos) << s2;
  EXPECT_NE(s2.find("(the device's decision is not the first maximum of its scores)"), std::string::npos) << s2;
  EXPECT_NE(s2.find("tie rule      1 device decision(s) are not the first maximum"), std::string::npos) << s2;
}

// Many classes: no K x K matrices (a top-confusions summary on the console, sparse cells in verdict.json).
TEST(VerifyVerdict, ManyClassesAreSummarisedNotPrintedInFull) {
  const int k = 300;
  json host = make_host(12);
  std::vector<std::string> classes;
  for (int i = 0; i < k; ++i) classes.push_back("c" + std::to_string(i));
  host["classes"] = classes;
  for (auto &e : host["images"]) {
    std::vector<int> s(k, -128);
    const int pred = e["pred"];
    s[static_cast<size_t>(pred)] = 100;
    e["scores"] = s;
  }
  const json device = make_device(host, 1);
  const auto r = verify::verify(host, device, {});
  EXPECT_TRUE(r.equivalent);
  EXPECT_TRUE(r.device_confusion.empty());
  EXPECT_TRUE(r.host_full_confusion.empty());
  const std::string s = verify::format_summary(r);
  EXPECT_EQ(s.find("True \\ Pred"), std::string::npos);
  EXPECT_NE(s.find("300 classes (too many to print"), std::string::npos) << s.substr(0, 2000);
  EXPECT_LT(s.size(), 6000u);
  const auto j = verify::verdict_json(r, "h.json", "d.json");
  EXPECT_TRUE(j["device_confusion"].is_null());
  ASSERT_TRUE(j["device_confusion_cells"].is_array());
  int64_t total = 0;
  for (const auto &c : j["device_confusion_cells"]) total += c[2].get<int64_t>();
  EXPECT_EQ(total, 12);
  EXPECT_TRUE(j["host_full"]["confusion"].is_null());
  EXPECT_TRUE(j["host_full"]["confusion_cells"].is_array());
  // 3 classes keep the dense matrices readers know.
  const auto small = verify::verdict_json(verify::verify(make_host(6), make_device(make_host(6), 1), {}), "h", "d");
  EXPECT_TRUE(small["device_confusion"].is_array());
  EXPECT_FALSE(small.contains("device_confusion_cells"));
}

// One label per node: verify's triage names layers with quant::layer_label, which shows a DAG node's producers.
TEST(LayerLabel, ChainNodesShowNoEdgesDagNodesNameTheirProducers) {
  EXPECT_EQ(quant::format_layer_label(3, "Conv2D", "relu", {}), "3 Conv2D+relu");
  EXPECT_EQ(quant::format_layer_label(3, "Conv2D", "relu", {2}), "3 Conv2D+relu");
  EXPECT_EQ(quant::format_layer_label(0, "Conv2D", "", {model::kGraphInput}), "0 Conv2D");
  EXPECT_EQ(quant::format_layer_label(7, "Add", "relu", {3, 6}), "7 Add+relu <- 3,6");
  EXPECT_EQ(quant::format_layer_label(5, "Conv2D", "", {model::kGraphInput}), "5 Conv2D <- in");
  EXPECT_EQ(quant::format_layer_label(9, "Concat", "", {8, model::kGraphInput, 2}), "9 Concat <- 8,in,2");
  quant::QModel q;
  q.layers.resize(3);
  q.layers[0].op = model::Op::Conv2D;
  q.layers[0].q.activation = "relu";
  q.layers[1].op = model::Op::Conv2D;
  q.layers[1].inputs = {model::kGraphInput};
  q.layers[2].op = model::Op::Add;
  q.layers[2].inputs = {0, 1};
  EXPECT_EQ(quant::layer_labels(q), (std::vector<std::string>{"0 Conv2D+relu", "1 Conv2D <- in", "2 Add <- 0,1"}));
  EXPECT_EQ(verify::trace_layer_names(q), quant::layer_labels(q));
  EXPECT_THROW((void)quant::layer_label(q, 3), Error);
}
