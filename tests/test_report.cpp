// qparity report: the HTML page and summary.json from small synthetic run folders.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "common/stats.h"
#include "common/sha256.h"
#include "data/image_io.h"
#include "model/ir.h"
#include "model/onnx_io.h"
#include "pipeline/pipeline.h"
#include "report/report.h"
#include "test_util.h"
#include "verify/verify.h"

namespace qp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

void write_text(const fs::path &p, const std::string &s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

std::string read_text(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every heat-map table of the page as a matrix of its cell counts (the row totals left out).
std::vector<std::vector<std::vector<long>>> heat_tables(const std::string &html) {
  std::vector<std::vector<std::vector<long>>> out;
  const std::regex table("<table class=\"heat\">([\\s\\S]*?)</table>"), row("<tr><th>[\\s\\S]*?</tr>"),
      cell("<td style=\"[^\"]*\">([0-9,]+)</td>");
  for (std::sregex_iterator t(html.begin(), html.end(), table), end; t != end; ++t) {
    const std::string body = (*t)[1];
    std::vector<std::vector<long>> m;
    for (std::sregex_iterator r(body.begin(), body.end(), row); r != end; ++r) {
      const std::string rs = r->str();
      std::vector<long> cells;
      for (std::sregex_iterator c(rs.begin(), rs.end(), cell); c != end; ++c) {
        std::string v = (*c)[1];
        v.erase(std::remove(v.begin(), v.end(), ','), v.end());
        cells.push_back(std::stol(v));
      }
      m.push_back(cells);
    }
    out.push_back(m);
  }
  return out;
}

// A run folder with 6 test images (one named a<b>&.png), FP32 and INT8 host results, a 4-image
// device subset, and (optionally) verify's verdict on them (`verdict` holds keys that replace verify's).
struct FakeRun {
  test::TempDir tmp;
  fs::path run;
  std::vector<std::string> files, shas;
  std::vector<int> labels{0, 0, 1, 1, 2, 2}, int8_pred{0, 1, 1, 1, 2, 0}, fp32_pred{0, 1, 1, 2, 2, 0};
  json int8, fp32, device, verdict;

  explicit FakeRun(bool device_flip = false) {
    run = tmp / "run";
    fs::create_directories(run);
    const std::vector<std::string> names{"rock/r0.png",  "rock/a<b>&.png",  "paper/p0.png",
                                         "paper/p1.png", "scissors/s0.png", "scissors/s1.png"};
    for (size_t i = 0; i < names.size(); ++i) {
      const fs::path p = tmp / "imgs" / names[i];
      fs::create_directories(p.parent_path());
      data::write_png(p.string(), test::random_image(32, 32, 10 + i));
      files.push_back(p.string());
      shas.push_back(sha256_file_hex(p.string()));
    }
    int8 = results("int8", int8_pred, true);
    fp32 = results("fp32", fp32_pred, false);
    // Device subset: images 1, 2, 4, 5; host preds 1, 1, 2, 0.
    device = results("int8", int8_pred, true);
    json imgs = json::array();
    for (size_t i : {1, 2, 4, 5}) {
      json im = int8["images"][i];
      im["cycles"] = 1000000 + i;
      im["micros"] = 39680;
      if (device_flip && i == 2) {
        im["pred"] = 0;
        im["scores"] = json::array({100, -120, -128});
      }
      imgs.push_back(im);
    }
    device["images"] = imgs;
    device["n"] = 4;
    device["platform"] = "device";
    device["device"] = {{"target", "esp32-c3"},
                        {"port", "qemu-rv32"},
                        {"instructions_per_inference", 6000000},
                        {"est_ms", {{"160", 37.5}, {"240", 25.0}}},
                        {"arena_bytes", 24576},
                        {"flash_bytes", 180000}};
    verdict = json::object();
  }

  json results(const std::string &precision, const std::vector<int> &pred, bool int8_scores) {
    json j = {{"model", precision + ".onnx"},
              {"model_sha256", std::string(64, precision == "int8" ? 'c' : 'f')},
              {"precision", precision},
              {"classes", {"rock", "paper", "scissors"}}};
    json imgs = json::array();
    std::vector<std::vector<int>> cm(3, std::vector<int>(3, 0));
    int correct = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      json s = int8_scores ? json::array({-128, -128, -128}) : json::array({0.1, 0.1, 0.1});
      s[static_cast<size_t>(pred[i])] = int8_scores ? json(127) : json(0.8);
      imgs.push_back(
          {{"file", files[i]}, {"sha256", shas[i]}, {"label", labels[i]}, {"pred", pred[i]}, {"scores", s}, {"conf", 0.99}});
      ++cm[static_cast<size_t>(labels[i])][static_cast<size_t>(pred[i])];
      correct += labels[i] == pred[i];
    }
    j["images"] = imgs;
    j["confusion"] = cm;
    j["n"] = files.size();
    j["accuracy"] = static_cast<double>(correct) / static_cast<double>(files.size());
    j["accuracy_ci95"] = {0.3, 0.9};
    return j;
  }

  void write(bool with_verdict = true) {
    write_text(run / "int8-host-results.json", int8.dump());
    write_text(run / "fp32-results.json", fp32.dump());
    write_text(run / "device.json", device.dump());
    if (with_verdict) {  // what `qparity verify --json` writes for these files
      const auto computed = verify::verify(int8, device, {});
      json v = json::parse(verify::verdict_json(computed, "int8-host-results.json", "device.json").dump());
      for (const auto &[k, x] : verdict.items()) v[k] = x;
      write_text(run / "verdict.json", v.dump());
    }
    write_text(run / "pipeline.json", json{{"version", "0.0-test"},
                                           {"command", "qparity pipeline --synth --out run"},
                                           {"seed", 7},
                                           {"started", "2025-01-01T00:00:00Z"},
                                           {"stages", {{{"name", "train"}, {"seconds", 3.5}, {"skipped", false}}}}}
                                          .dump());
  }
};

TEST(Report, FullRunShowsVerdictMatricesAndEscapedNames) {
  FakeRun f;
  f.write();
  const auto r = report::build_report(f.run.string());
  EXPECT_EQ(r.verdict, "EQUIVALENT");
  EXPECT_NE(r.html.find("<div class=\"vbig\">EQUIVALENT</div>"), std::string::npos);
  const auto tables = heat_tables(r.html);
  ASSERT_GE(tables.size(), 3u);
  // Full test set on the host (from int8 preds), the subset on the host and on the device.
  EXPECT_EQ(tables[0], (std::vector<std::vector<long>>{{1, 1, 0}, {0, 2, 0}, {1, 0, 1}}));
  EXPECT_EQ(tables[1], (std::vector<std::vector<long>>{{0, 1, 0}, {0, 1, 0}, {1, 0, 1}}));
  EXPECT_EQ(tables[2], tables[1]);
  EXPECT_NE(r.html.find("a&lt;b&gt;&amp;.png"), std::string::npos);
  EXPECT_EQ(r.html.find("a<b>"), std::string::npos);
  EXPECT_NE(r.html.find("data:image/png;base64,"), std::string::npos);
  for (const char *bad : {"http://", "https://", "<script", "<link", "src=\"//", "url("})
    EXPECT_EQ(r.html.find(bad), std::string::npos) << bad;
  // The device log lists every subset image; FP32 vs INT8 finds the one flip (image 3).
  EXPECT_NE(r.html.find("4/4</td>"), std::string::npos);
  EXPECT_NE(r.html.find("<b>5 of 6</b>"), std::string::npos);
  EXPECT_NE(r.html.find("qparity pipeline --synth --out run"), std::string::npos);
}

TEST(Report, SummaryJsonHasEveryKey) {
  FakeRun f;
  f.write();
  const auto w = report::write_report(f.run.string());
  const json s = json::parse(read_text(w.summary_path));
  const std::map<std::string, std::vector<std::string>> keys = {
      {"dataset", {"classes", "train", "test"}},
      {"fp32", {"accuracy", "confusion"}},
      {"int8_host", {"accuracy", "confusion"}},
      {"subset", {"n", "host_confusion", "device_confusion"}},
      {"equivalence", {"verdict", "decision_matches", "bitexact_outputs", "mismatch_upper_bound_95"}},
      {"model", {"params", "macs", "fp32_bytes", "int8_bytes", "compression"}},
      {"device", {"target", "instructions_per_inference", "est_ms", "arena_bytes", "flash_bytes"}}};
  for (const auto &[group, names] : keys) {
    ASSERT_TRUE(s.contains(group)) << group;
    for (const auto &k : names) EXPECT_TRUE(s[group].contains(k)) << group << "." << k;
  }
  EXPECT_EQ(s["equivalence"]["verdict"], "EQUIVALENT");
  EXPECT_EQ(s["subset"]["n"], 4);
  EXPECT_EQ(s["int8_host"]["confusion"], json({{1, 1, 0}, {0, 2, 0}, {1, 0, 1}}));
  EXPECT_EQ(s["dataset"]["test"], 6);
  EXPECT_EQ(s["device"]["instructions_per_inference"], 6000000);
  EXPECT_TRUE(s["model"]["params"].is_null());  // no fp32.onnx in this run
  EXPECT_TRUE(fs::exists(f.run / "report.html"));
}

TEST(Report, MissingArtifactsBecomeNotRunSections) {
  test::TempDir tmp;
  const auto w = report::write_report(tmp.str());
  const std::string html = read_text(w.html_path);
  EXPECT_NE(html.find("NO VERDICT"), std::string::npos);
  size_t not_run = 0;
  for (size_t p = html.find("<b>Not run.</b>"); p != std::string::npos; p = html.find("<b>Not run.</b>", p + 1)) ++not_run;
  EXPECT_GE(not_run, 8u);
  EXPECT_EQ(html.find("could not be drawn"), std::string::npos);
  const json s = json::parse(read_text(w.summary_path));
  EXPECT_TRUE(s["equivalence"]["verdict"].is_null());
  EXPECT_TRUE(s["fp32"]["accuracy"].is_null());
  EXPECT_TRUE(s["subset"]["device_confusion"].is_null());
  EXPECT_GE(w.report.missing.size(), 9u);
  // A corrupt artifact is shown as unreadable, and the rest still renders.
  write_text(tmp / "verdict.json", "{\"verdict\": \"EQUIV");
  write_text(tmp / "inspection.json", "[1, 2]");
  const auto r = report::build_report(tmp.str());
  EXPECT_NE(r.html.find("Unreadable"), std::string::npos);
  EXPECT_EQ(r.problems.size(), 2u);
  EXPECT_THROW(report::build_report((tmp / "nope").string()), Error);
}

TEST(Report, ComputesTheSubsetFromDeviceJsonWithoutAVerdict) {
  FakeRun f(/*device_flip=*/true);
  f.write(/*with_verdict=*/false);
  fs::remove(fs::path(f.files[4]));  // a thumbnail source gone: placeholder, no crash
  const auto r = report::build_report(f.run.string());
  EXPECT_EQ(r.verdict, "NOT EQUIVALENT");
  EXPECT_NE(r.html.find("<div class=\"vbig\">NOT EQUIVALENT</div>"), std::string::npos);
  const auto tables = heat_tables(r.html);
  ASSERT_GE(tables.size(), 3u);
  EXPECT_EQ(tables[1], (std::vector<std::vector<long>>{{0, 1, 0}, {0, 1, 0}, {1, 0, 1}}));  // host
  EXPECT_EQ(tables[2], (std::vector<std::vector<long>>{{0, 1, 0}, {1, 0, 0}, {1, 0, 1}}));  // device: p0 -> rock
  EXPECT_EQ(r.summary["equivalence"]["decision_matches"], 3);
  EXPECT_EQ(r.summary["equivalence"]["bitexact_outputs"], 3);
  EXPECT_NEAR(r.summary["equivalence"]["mismatch_upper_bound_95"].get<double>(), clopper_pearson_upper95(1, 4), 1e-12);
  // The numbers are verify's own (its verdict computed here), not a second matching rule.
  EXPECT_EQ(r.summary["equivalence"]["source"], "qparity verify on device.json and int8-host-results.json (no verdict.json)");
  EXPECT_NE(r.html.find("image not found"), std::string::npos);
  EXPECT_NE(r.html.find("Mismatched images"), std::string::npos);
}

// Without verdict.json the report asks verify; when verify refuses the pair (here: another model's device
// results) the page gives no verdict, says why, and still shows the device's own numbers.
TEST(Report, NoVerdictWhenVerifyRefusesThePair) {
  FakeRun f;
  f.device["model_sha256"] = std::string(64, 'e');
  f.write(/*with_verdict=*/false);
  const auto r = report::build_report(f.run.string());
  EXPECT_EQ(r.verdict, "");
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems.back().find("different models"), std::string::npos) << r.problems.back();
  EXPECT_EQ(r.summary["subset"]["n"], 4);
  EXPECT_TRUE(r.summary["equivalence"]["verdict"].is_null());
  EXPECT_EQ(r.summary["equivalence"]["source"], "device.json only (no host comparison)");
}

TEST(Report, SameRunSameBytes) {
  FakeRun f;
  f.write();
  const auto a = report::write_report(f.run.string());
  const std::string html1 = read_text(a.html_path), sum1 = read_text(a.summary_path);
  const auto b = report::write_report(f.run.string());  // overwriting inside RUN needs no --force
  EXPECT_EQ(read_text(b.html_path), html1);
  // summary.json: the same but for the report stage's own time.
  auto timeless = [](const std::string &text) {
    json j = json::parse(text);
    EXPECT_TRUE(j["report"]["seconds"].is_number()) << "the report stage's time is recorded";
    EXPECT_GE(j["report"]["seconds"].get<double>(), 0.0);
    j.erase("report");
    return j.dump();
  };
  EXPECT_EQ(timeless(read_text(b.summary_path)), timeless(sum1));
}

TEST(Report, OutsideTheRunNeedsForce) {
  FakeRun f;
  f.write();
  const fs::path out = f.tmp / "elsewhere" / "r.html";
  write_text(out, "keep me");
  EXPECT_THROW(report::write_report(f.run.string(), out.string(), false), Error);
  EXPECT_EQ(read_text(out), "keep me");
  report::write_report(f.run.string(), out.string(), true);
  EXPECT_NE(read_text(out).find("EQUIVALENT"), std::string::npos);
}

// The report's bound is the one of common/stats (also at n = 0: 1, not NaN); an empty subset shows no bound.
TEST(Report, UsesTheOneClopperPearsonBound) {
  FakeRun f;
  f.write();
  const auto r = report::build_report(f.run.string());
  EXPECT_NEAR(r.summary["equivalence"]["mismatch_upper_bound_95"].get<double>(), clopper_pearson_upper95(0, 4), 1e-12);
  EXPECT_NEAR(clopper_pearson_upper95(0, 4), 1 - std::pow(0.05, 0.25), 1e-12);
}

// The validation accuracy shown is the exported (best) epoch's, not the last epoch's: from fp32.onnx's
// metadata when present, else the training log's best row (the trainer's rule: accuracy, then loss).
TEST(Report, ShowsTheExportedEpochsValidationAccuracyNotTheLast) {
  FakeRun f;
  f.write();
  write_text(f.run / "fp32.train.csv",
             "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,1.0,0.5,1.0,0.6,0.01,1.0\n2,0.5,0.8,0.40,0.9,0.01,1.0\n"
             "3,0.4,0.85,0.45,0.9,0.01,1.0\n4,0.3,0.9,0.9,0.7,0.01,1.0\n");
  auto r = report::build_report(f.run.string());
  EXPECT_NE(r.html.find("exported epoch 2: validation accuracy 90.00%"), std::string::npos);
  EXPECT_EQ(r.html.find("70.00%"), std::string::npos) << "the last epoch's accuracy is not the model's";
  EXPECT_EQ(r.summary["training"]["exported_epoch"], 2);
  EXPECT_DOUBLE_EQ(r.summary["training"]["val_accuracy"].get<double>(), 0.9);
  // fp32.onnx records the epoch training exported: that wins over the log.
  model::Graph g = model::graph_from_spec("rps-cnn", {"rock", "paper", "scissors"});
  model::init_random(g, 1);
  model::save_onnx(g, (f.run / "fp32.onnx").string(),
                   {{"qparity.train.best_epoch", "3"}, {"qparity.train.val_accuracy", "0.912500"}});
  r = report::build_report(f.run.string());
  EXPECT_NE(r.html.find("exported epoch 3: validation accuracy 91.25%"), std::string::npos);
  EXPECT_EQ(r.summary["training"]["exported_epoch"], 3);
  EXPECT_EQ(r.summary["training"]["source"], "fp32.onnx (the exported epoch)");
}

// Wide tables scroll sideways inside their section instead of being cut off.
TEST(Report, WideTablesScroll) {
  FakeRun f(/*device_flip=*/true);
  f.verdict["triage"] = {{{"file", "x.png"}, {"layer", 2}, {"layer_name", "2 Conv2D"}, {"max_abs_diff", 3}, {"first_index", 0},
                          {"differing", 1}, {"size", 10}}};
  f.write();
  const auto r = report::build_report(f.run.string());
  auto count = [&](const std::string &needle) {
    size_t n = 0;
    for (size_t p = r.html.find(needle); p != std::string::npos; p = r.html.find(needle, p + 1)) ++n;
    return n;
  };
  for (const std::string t : {"<table class=\"heat\">", "<table class=\"data log\">", "<table class=\"data\">"}) {
    EXPECT_GT(count(t), 0u) << t;
    EXPECT_EQ(count("<div class=\"scroll\">" + t), count(t)) << t << " without a scrolling wrapper";
  }
  EXPECT_NE(r.html.find(".scroll{overflow-x:auto}"), std::string::npos);
}

// An emulated board's per-image time is an estimate from its instruction count: "(est.)" in the
// report's device log and in device-log.txt; a real board's time is a measurement, unmarked.
TEST(Report, EmulatedTimeIsMarkedAsAnEstimate) {
  FakeRun f;
  for (auto &im : f.device["images"]) im["micros"] = 41560;
  f.device["device"]["emulated"] = true;
  f.write();
  auto r = report::build_report(f.run.string());
  EXPECT_NE(r.html.find("Time (est.)</th>"), std::string::npos);
  EXPECT_NE(r.html.find("41.56 ms (est.)</td>"), std::string::npos);
  const std::string log = pipeline::device_log(f.device, "device.json");
  EXPECT_NE(log.find("| Time: 41.56ms (est.) "), std::string::npos) << log;

  f.device["device"]["emulated"] = false;
  f.device["device"]["port"] = "/dev/ttyUSB0";
  f.write();
  r = report::build_report(f.run.string());
  EXPECT_EQ(r.html.find("(est.)"), std::string::npos);
  EXPECT_NE(r.html.find("41.56 ms</td>"), std::string::npos);
  const std::string real = pipeline::device_log(f.device, "device.json");
  EXPECT_EQ(real.find("(est.)"), std::string::npos) << real;
  EXPECT_NE(real.find("| Time: 41.56ms "), std::string::npos) << real;
}

// Ties (margin 0) are marked in the device log and counted; flips that are ties say so. The report
// stage's own row in the timing table is not a fake 0.00 s.
TEST(Report, TiesAreMarkedAndTheReportRowIsNotAFakeZero) {
  FakeRun f;
  f.device["images"][1]["scores"] = {-128, 90, 90};  // paper and scissors tie; paper, the first, wins
  f.int8["images"][3]["scores"] = {-128, 90, 90};    // the FP32 <-> INT8 flip (image 3) is a tie
  f.write(/*with_verdict=*/false);
  json p = json::parse(read_text(f.run / "pipeline.json"));
  p["stages"].push_back({{"name", "report"}, {"seconds", 0.0}, {"skipped", false}});
  write_text(f.run / "pipeline.json", p.dump());
  const auto r = report::build_report(f.run.string());
  EXPECT_EQ(r.summary["equivalence"]["ties"], 1);
  EXPECT_EQ(r.summary["fp32_vs_int8"]["flipped_ties"], 1);
  EXPECT_NE(r.html.find("Ties for the top score</th><td>1 / 4"), std::string::npos);
  EXPECT_NE(r.html.find("first tied class in class order"), std::string::npos);
  EXPECT_NE(r.html.find("\">tie</span>"), std::string::npos);
  EXPECT_NE(r.html.find("margin 0: a tie, the first tied class"), std::string::npos);
  EXPECT_NE(r.html.find("1 of them INT8 ties"), std::string::npos);
  EXPECT_NE(r.html.find("<td>report</td><td class=\"r\">&ndash;</td>"), std::string::npos);
  EXPECT_EQ(r.html.find("<td>report</td><td class=\"r\">0.00</td>"), std::string::npos);
}

// A softmax output saturating at 1.0 is expected, not clipping: no warning colour, said as such
// (also for inspection.json files that still count it as clipped).
TEST(Report, SoftmaxSaturationIsNotAClippingWarning) {
  FakeRun f;
  f.write();
  json insp = {{"n_images", 6},
               {"layers",
                {{{"index", 0}, {"name", "conv1"}, {"op", "Conv2D"}, {"clipped_share", 0.05}, {"saturated_share", 0.05}},
                 {{"index", 1},
                  {"name", "softmax1"},
                  {"op", "Softmax"},
                  {"clipped_share", 0.3},
                  {"saturated_share", 0.4}}}}};
  write_text(f.run / "inspection.json", insp.dump());
  const auto r = report::build_report(f.run.string());
  auto row = [&](const std::string &name) {
    const size_t at = r.html.find("<td>" + name + "</td>");
    EXPECT_NE(at, std::string::npos) << name;
    const size_t b = r.html.rfind("<tr>", at), e = r.html.find("</tr>", at);
    return r.html.substr(b, e - b);
  };
  EXPECT_NE(row("0 Conv2D").find(" warn"), std::string::npos) << "real clipping is still a warning";  // rows by label
  const std::string sm = row("1 Softmax");
  EXPECT_EQ(sm.find("warn"), std::string::npos) << sm;
  EXPECT_NE(sm.find("40.00% <span class=\"note\">saturated at 1.0 (expected for softmax)</span>"), std::string::npos) << sm;
}

// A residual model's per-layer table: every node is named by its one label (quant::format_layer_label, as in
// verify's triage), and a node with two inputs shows both inputs' quantization, named by their producers.
TEST(Report, ResidualLayersShowTheirLabelAndEveryInput) {
  FakeRun f;
  f.write();
  auto layer = [](int index, const char *name, const char *op, const char *act, json inputs) {
    return json{{"index", index}, {"name", name}, {"op", op}, {"activation", act}, {"inputs", inputs}, {"fp32_index", 2 * index},
                {"input", {{"scale", 0.5}, {"zero_point", -1}}}, {"output", {{"scale", 0.25}, {"zero_point", -7}}},
                {"clipped_share", 0.0}, {"saturated_share", 0.0}, {"sqnr_db", 31.5}};
  };
  json insp = {{"n_images", 6},
               {"layers",
                {layer(0, "conv1", "Conv2D", "relu", {{{"layer", -1}, {"scale", 0.0039}, {"zero_point", -128}}}),
                 layer(1, "conv2", "Conv2D", "", {{{"layer", 0}, {"scale", 0.5}, {"zero_point", -1}}}),
                 layer(2, "add1", "Add", "relu",
                       {{{"layer", 0}, {"scale", 0.125}, {"zero_point", -3}},
                        {{"layer", 1}, {"scale", 0.0625}, {"zero_point", 4}}})}},
               {"sensitivity", {{{"layer", 2}, {"name", "add1"}, {"agreement", 0.98}, {"flipped", 1}}}}};
  insp["layers"][1]["tensor"] = "model/conv2d_1/BiasAdd;model/conv2d_1/Conv2D";  // a name from an imported model's file
  write_text(f.run / "inspection.json", insp.dump());
  const auto r = report::build_report(f.run.string());
  EXPECT_NE(r.html.find("<td>0 Conv2D+relu</td><td>0</td>"), std::string::npos);  // the label, the FP32 layer
  EXPECT_NE(r.html.find("<td>1 Conv2D &#39;model/conv2d_1/BiasAdd&#39;</td><td>2</td>"), std::string::npos);
  const size_t at = r.html.find("<td>2 Add+relu &lt;- 0,1</td><td>4</td>");
  ASSERT_NE(at, std::string::npos) << "the Add node's label names its producers";
  const std::string row = r.html.substr(at, r.html.find("</tr>", at) - at);
  EXPECT_NE(row.find("0: 0.125 / -3 + 1: 0.0625 / 4 &rarr; 0.25 / -7"), std::string::npos) << row;
  EXPECT_NE(r.html.find("2 Add+relu &lt;- 0,1"), std::string::npos);
}

// Above 20 classes the page lists the largest confusions instead of a K x K table.
TEST(Report, ManyClassesShowTopConfusionsNotATable) {
  test::TempDir tmp;
  std::vector<std::string> classes;
  for (int i = 0; i < 30; ++i) classes.push_back("c" + std::to_string(i));
  json imgs = json::array();
  for (int i = 0; i < 40; ++i) {
    const int label = i % 30;
    const int pred = i < 3 ? 4 : i == 5 ? 6 : label;  // c0, c1, c2 taken for c4; c5 for c6
    std::vector<int> scores(30, -128);
    scores[static_cast<size_t>(pred)] = 127;
    imgs.push_back({{"file", "f" + std::to_string(i) + ".png"}, {"label", label}, {"pred", pred}, {"scores", scores}});
  }
  json res = {{"precision", "int8"}, {"classes", classes}, {"n", 40}, {"images", imgs}, {"accuracy", 36.0 / 40}};
  write_text(tmp / "int8-host-results.json", res.dump());
  const auto r = report::build_report(tmp.str());
  EXPECT_EQ(r.html.find("<table class=\"heat\">"), std::string::npos);
  EXPECT_NE(r.html.find("30 classes: too many for a table"), std::string::npos);
  const size_t a = r.html.find("<tr><td>c0</td><td>c4</td><td class=\"r\">1</td></tr>"),
               b = r.html.find("<tr><td>c5</td><td>c6</td><td class=\"r\">1</td></tr>");
  EXPECT_NE(a, std::string::npos);
  EXPECT_NE(b, std::string::npos);
  EXPECT_NE(r.html.find("accuracy 90.00%"), std::string::npos);
}

}  // namespace
}  // namespace qp
