#include "report/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/stats.h"
#include "data/image_io.h"
#include "eval/evaluate.h"
#include "eval/results_io.h"
#include "model/ir.h"
#include "model/onnx_io.h"
#include "quant/model_file.h"
#include "quant/qdq_onnx.h"
#include "report/run_data.h"
#include "verify/verify.h"

namespace qp::report {

namespace fs = std::filesystem;
using namespace detail;

namespace detail {

namespace {

Artifact read_artifact(const fs::path &dir, const std::string &name, RunData &r) {
  Artifact a;
  a.name = name;
  const fs::path p = dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    r.missing.push_back(name);
    return a;
  }
  a.present = true;
  try {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    a.j = json::parse(ss.str());
    if (!a.j.is_object()) throw std::runtime_error("the top level is not a JSON object");
    a.ok = true;
  } catch (const std::exception &e) {
    a.j = json::object();
    a.error = std::string(e.what()).substr(0, 200);
    r.problems.push_back(name + ": " + a.error);
  }
  return a;
}

ModelFacts read_model(const fs::path &dir, const std::string &name, bool int8, RunData &r) {
  ModelFacts m;
  m.name = name;
  const fs::path p = dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    r.missing.push_back(name);
    return m;
  }
  m.present = true;
  try {
    if (int8) {
      const auto f = quant::load_int8_model(p.string());
      m.file_bytes = f.file_bytes;
      m.sha256 = f.sha256;
      m.param_bytes = f.model.int8_parameter_bytes();
      m.layers = static_cast<int>(f.model.layers.size());
      m.input = model::input_size_str(f.model.input);
      m.metadata = f.metadata;
    } else {
      const auto f = quant::load_fp32_model(p.string());
      m.file_bytes = f.file_bytes;
      m.sha256 = f.sha256;
      m.params = model::param_count(f.graph);
      m.macs = model::mac_count(f.graph);
      m.param_bytes = 4 * m.params;
      m.arch = f.graph.arch;
      m.layers = static_cast<int>(f.graph.layers.size());
      m.input = model::input_size_str(f.graph.input);
      m.metadata = f.metadata;
    }
    m.metadata.erase("qparity.int8.layers");  // the layer list is long and not for display
    m.ok = true;
  } catch (const std::exception &e) {
    m.error = std::string(e.what()).substr(0, 300);
    r.problems.push_back(name + ": " + m.error);
  }
  if (m.file_bytes < 0) m.file_bytes = static_cast<int64_t>(fs::file_size(p, ec));
  if (ec) m.file_bytes = -1;
  return m;
}

// Reads a results artifact through the codec and replaces its JSON by the codec's own rendering of it, so every
// derived number the page shows (accuracy, its interval, confusion, margins, conf) has the one definition of
// src/eval, whatever the file claimed. A file the codec refuses becomes unreadable, with the codec's message.
void read_results(Artifact &a, RunData &r) {
  if (!a.ok) return;
  try {
    const json_read::Source src{a.name, "write it again with qparity eval / device run"};
    const eval::ResultsFile f = eval::read_results(a.j, src);
    a.j = json::parse(eval::results_json(f).dump());
  } catch (const std::exception &e) {
    a.ok = false;
    a.error = std::string(e.what()).substr(0, 300);
    a.j = json::object();
    r.problems.push_back(a.name + ": " + a.error);
  }
}

TrainCurve read_curve(const fs::path &dir, RunData &r) {
  TrainCurve c;
  std::ifstream in(dir / "fp32.train.csv");
  if (in) {
    std::string line;
    if (std::getline(in, line)) {
      std::stringstream hs(line);
      for (std::string col; std::getline(hs, col, ',');) {
        while (!col.empty() && (col.back() == '\r' || col.back() == ' ')) col.pop_back();
        c.columns.push_back(col);
      }
      while (std::getline(in, line)) {
        if (line.empty() || line == "\r") continue;
        std::vector<double> row;
        std::stringstream ls(line);
        for (std::string cell; std::getline(ls, cell, ',');) {
          char *end = nullptr;
          const double v = std::strtod(cell.c_str(), &end);
          row.push_back(end != cell.c_str() ? v : kNaN);
        }
        row.resize(c.columns.size(), kNaN);
        c.rows.push_back(std::move(row));
      }
      c.present = !c.rows.empty();
    }
  }
  if (!c.present) {
    std::ifstream svg(dir / "fp32.curve.svg", std::ios::binary);
    if (svg) {
      std::stringstream ss;
      ss << svg.rdbuf();
      c.svg_file_bytes = ss.str();
      c.present = !c.svg_file_bytes.empty();
    }
  }
  if (!c.present) r.missing.push_back("fp32.train.csv");
  return c;
}

bool is_image_name(const fs::path &p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".webp";
}

int64_t count_images(const fs::path &dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return -1;
  int64_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && is_image_name(it->path())) ++n;
  return n;
}

std::vector<std::string> string_list(const json &v) {
  std::vector<std::string> out;
  if (v.is_array())
    for (const auto &s : v)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// The subset numbers from a verdict (verify's verdict.json, or verify run here): read as verify wrote them.
Equivalence from_verdict(const json &v) {
  Equivalence e;
  e.available = true;
  if (!str(v, "verdict").empty()) e.verdict = str(v, "verdict");
  if (tri(v, "bitexact") >= 0) e.bitexact = tri(v, "bitexact");
  if (inum(v, "n") >= 0) e.n = inum(v, "n");
  if (inum(v, "decision_matches") >= 0) e.decision_matches = inum(v, "decision_matches");
  if (inum(v, "bitexact_outputs") >= 0) e.bitexact_outputs = inum(v, "bitexact_outputs");
  if (std::isfinite(num(v, "mismatch_upper_bound_95"))) e.upper95 = num(v, "mismatch_upper_bound_95");
  e.host_cm = matrix(at(v, "host_subset_confusion"));
  e.device_cm = matrix(at(v, "device_confusion"));
  if (at(v, "mismatches").is_array()) e.mismatches = string_list(at(v, "mismatches"));
  if (at(v, "triage").is_array()) e.triage = at(v, "triage");
  e.ties = 0;
  if (at(v, "images").is_array())
    for (const auto &img : at(v, "images")) {
      SubsetRow row;
      row.file = str(img, "file");
      row.sha256 = str(img, "sha256");
      row.label = class_index(img, "label");
      row.host_pred = class_index(img, "host_pred");
      row.device_pred = class_index(img, "device_pred");
      row.has_host = row.host_pred >= 0;
      row.bitexact = tri(img, "bitexact");
      row.conf = num(img, "conf");
      row.margin = inum(img, "margin");
      row.cycles = num(img, "cycles");
      row.micros = num(img, "micros");
      if (row.label >= 0 && row.host_pred >= 0) e.host_lp.emplace_back(row.label, row.host_pred);
      if (row.label >= 0 && row.device_pred >= 0) e.device_lp.emplace_back(row.label, row.device_pred);
      e.ties += row.margin == 0;
      e.rows.push_back(std::move(row));
    }
  if (inum(v, "ties") >= 0) e.ties = inum(v, "ties");
  if (e.decision_matches < 0 && !e.rows.empty()) {
    e.decision_matches = 0;
    for (const auto &row : e.rows) e.decision_matches += row.has_host && row.host_pred == row.device_pred;
  }
  if (!std::isfinite(e.upper95) && e.n > 0 && e.decision_matches >= 0)
    e.upper95 = clopper_pearson_upper95(e.n - e.decision_matches, e.n);
  return e;
}

// The subset's equivalence as verify decides it: verdict.json when the run has one; else verify itself on
// device.json and the host's INT8 results (the same image matching, statistics and verdict, never a second
// rule here). When verify refuses the pair (other model, unknown image, ...) the page shows why and only the
// device's own numbers.
Equivalence equivalence(RunData &r) {
  if (r.verdict.ok) {
    Equivalence e = from_verdict(r.verdict.j);
    e.source = "verdict.json (qparity verify)";
    return e;
  }
  if (!r.device.ok) return {};
  if (r.int8.ok) {
    try {
      verify::VerifyOptions opt;
      opt.host_name = r.int8.name;
      opt.device_name = r.device.name;
      const auto v = verify::verdict_json(verify::verify(r.int8.j, r.device.j, opt), r.int8.name, r.device.name);
      Equivalence e = from_verdict(json::parse(v.dump()));
      e.source = "qparity verify on device.json and " + r.int8.name + " (no verdict.json)";
      return e;
    } catch (const std::exception &ex) {
      std::string msg = ex.what();
      r.problems.push_back("verify on device.json and " + r.int8.name + ": " + msg.substr(0, msg.find('\n')));
    }
  }
  // The device alone: its decisions and times, no verdict.
  Equivalence e;
  e.available = true;
  e.source = "device.json only (no host comparison)";
  e.ties = 0;
  for (const auto &img : at(r.device.j, "images")) {
    SubsetRow row;
    row.file = str(img, "file");
    row.sha256 = str(img, "sha256");
    row.label = class_index(img, "label");
    row.device_pred = class_index(img, "pred");
    row.conf = num(img, "conf");
    row.margin = inum(img, "margin");
    row.cycles = num(img, "cycles");
    row.micros = num(img, "micros");
    e.device_lp.emplace_back(row.label, row.device_pred);
    e.ties += row.margin == 0;
    e.rows.push_back(std::move(row));
  }
  e.n = static_cast<int64_t>(e.rows.size());
  for (const auto &row : eval::confusion_matrix(e.device_lp, r.classes.size())) e.device_cm.emplace_back(row.begin(), row.end());
  return e;
}

// FP32 <-> INT8 agreement: eval::decision_agreement over the images eval::ImageMatcher pairs (verify's rule),
// from the two results files; else verify's own numbers in verdict.json.
Fp32VsInt8 compare_fp32_int8(const RunData &r) {
  Fp32VsInt8 f;
  if (r.fp32.ok && r.int8.ok) {
    const json_read::Source src{"results", ""};
    const auto a = eval::read_results(r.fp32.j, src), b = eval::read_results(r.int8.j, src);
    eval::ImageMatcher m(a.results.images);
    std::vector<std::pair<size_t, size_t>> pairs;
    for (size_t i = 0; i < b.results.images.size(); ++i)
      if (const long k = m.find(b.results.images[i]); k >= 0) pairs.emplace_back(static_cast<size_t>(k), i);
    if (!pairs.empty()) {
      const auto d = eval::decision_agreement(a.results.images, b.results.images, pairs);
      f.available = true;
      f.source = r.fp32.name + " and " + r.int8.name;
      f.n = d.n;
      f.agree = d.same;
      f.agreement = d.agreement;
      f.only_fp32 = d.only_a_right;
      f.only_int8 = d.only_b_right;
      f.mcnemar_p = d.mcnemar_p;
      for (size_t k : d.flipped) {
        const auto &x = a.results.images[pairs[k].first], &y = b.results.images[pairs[k].second];
        f.flips.push_back({x.file, x.sha256, x.label, x.pred, y.pred, y.margin()});
      }
      return f;
    }
  }
  const json &v = at(r.verdict.j, "fp32");
  if (v.is_object()) {
    f.available = true;
    f.source = "verdict.json";
    f.n = inum(v, "n", 0);
    f.agreement = num(v, "agreement");
    f.agree = std::isfinite(f.agreement) ? std::llround(f.agreement * static_cast<double>(f.n)) : 0;
    f.mcnemar_p = num(v, "mcnemar_p");
    if (at(v, "flipped").is_array())
      for (const auto &x : at(v, "flipped"))
        f.flips.push_back({str(x, "file"), str(x, "sha256"), class_index(x, "label"),
                           class_index(x, "fp32_pred"), class_index(x, "int8_pred"), inum(x, "margin")});
  }
  return f;
}

}  // namespace

std::string resolve_image(const RunData &r, const std::string &file) {
  if (file.empty()) return "";
  std::error_code ec;
  const fs::path p(file);
  if (fs::is_regular_file(p, ec)) return p.string();
  if (p.is_relative() && fs::is_regular_file(fs::path(r.dir) / p, ec)) return (fs::path(r.dir) / p).string();
  // A moved or copied run: try ever shorter trailing parts of the path under RUN and the data folder.
  std::vector<fs::path> parts;
  for (const auto &part : p.relative_path()) parts.push_back(part);
  for (size_t skip = 1; skip < parts.size(); ++skip) {
    fs::path tail;
    for (size_t i = skip; i < parts.size(); ++i) tail /= parts[i];
    for (const std::string &base : {r.dir, r.data_dir})
      if (!base.empty() && fs::is_regular_file(fs::path(base) / tail, ec)) return (fs::path(base) / tail).string();
  }
  return "";
}

BestEpoch best_epoch(const RunData &r) {
  BestEpoch b;
  const auto &md = r.fp32_model.metadata;
  const auto ep = md.find("qparity.train.best_epoch"), va = md.find("qparity.train.val_accuracy");
  if (ep != md.end() && va != md.end()) {
    char *e1 = nullptr, *e2 = nullptr;
    const long long epoch = std::strtoll(ep->second.c_str(), &e1, 10);
    const double acc = std::strtod(va->second.c_str(), &e2);
    if (e1 != ep->second.c_str() && *e1 == '\0' && e2 != va->second.c_str() && *e2 == '\0' && epoch > 0 && std::isfinite(acc)) {
      b.epoch = epoch;
      b.val_acc = acc;
      b.source = "fp32.onnx (the exported epoch)";
      return b;
    }
  }
  const TrainCurve &c = r.curve;
  const int ca = c.column("val_acc"), cl = c.column("val_loss"), ce = c.column("epoch");
  if (ca < 0) return b;
  double best_acc = kNaN, best_loss = kNaN;
  for (size_t i = 0; i < c.rows.size(); ++i) {
    const double a = c.rows[i][static_cast<size_t>(ca)], l = cl >= 0 ? c.rows[i][static_cast<size_t>(cl)] : kNaN;
    if (!std::isfinite(a)) continue;
    // The trainer's rule: better accuracy, or the same accuracy at a lower loss.
    if (!std::isfinite(best_acc) || a > best_acc || (a == best_acc && std::isfinite(l) && (!std::isfinite(best_loss) || l < best_loss))) {
      best_acc = a;
      best_loss = l;
      const double e = ce >= 0 ? c.rows[i][static_cast<size_t>(ce)] : kNaN;
      b.epoch = std::isfinite(e) ? std::llround(e) : static_cast<int64_t>(i + 1);
    }
  }
  if (std::isfinite(best_acc)) {
    b.val_acc = best_acc;
    b.source = "fp32.train.csv (the best validation epoch, which training exports)";
  }
  return b;
}

// The INT8 vectors' meaning as verify or the codec wrote it (every INT8 results file the codec renders carries "output").
OutputMeaning int8_output(const RunData &r) {
  OutputMeaning m;
  for (const Artifact *a : {&r.verdict, &r.int8, &r.device}) {
    const json &o = at(a->j, "output");
    if (!a->ok || !o.is_object()) continue;
    m.logits = str(o, "kind") == "logits";
    m.margin_unit = str(o, "margin_unit", m.margin_unit);
    if (m.logits) m.conf_rule = "the softmax of the dequantized logits (computed on the host in double, for display only)";
    return m;
  }
  return m;
}

RunData load_run(const std::string &dir) {
  RunData r;
  r.dir = dir;
  const fs::path d(dir);
  r.pipeline = read_artifact(d, "pipeline.json", r);
  r.fp32 = read_artifact(d, "fp32-results.json", r);
  {
    std::error_code ec;
    // Runs made before the pipeline named it int8-host-results.json.
    const bool legacy = !fs::exists(d / "int8-host-results.json", ec) && fs::is_regular_file(d / "int8-results.json", ec);
    r.int8 = read_artifact(d, legacy ? "int8-results.json" : "int8-host-results.json", r);
  }
  r.device = read_artifact(d, "device.json", r);
  // The three results files go through the one codec (eval/results_io.h): a file it refuses is unreadable.
  read_results(r.fp32, r);
  read_results(r.int8, r);
  read_results(r.device, r);
  r.verdict = read_artifact(d, "verdict.json", r);
  r.inspection = read_artifact(d, "inspection.json", r);
  r.footprint = read_artifact(d, "firmware/footprint.json", r);
  r.fp32_model = read_model(d, "fp32.onnx", false, r);
  r.int8_model = read_model(d, "int8.onnx", true, r);
  r.curve = read_curve(d, r);

  for (const Artifact *a : {&r.int8, &r.fp32, &r.device, &r.verdict})
    if (r.classes.empty()) r.classes = string_list(at(a->j, "classes"));
  // The data folder: pipeline.json's, as given or relative to RUN, else RUN/data.
  std::error_code ec;
  const std::string given = str(r.pipeline.j, "data");
  for (const fs::path &cand : {fs::path(given), d / given, d / "data"})
    if (!cand.empty() && !(cand == d / "") && fs::is_directory(cand, ec) && r.data_dir.empty() &&
        (fs::is_directory(cand / "train", ec) || fs::is_directory(cand / "test", ec)))
      r.data_dir = cand.string();
  if (r.classes.empty() && !r.data_dir.empty()) {
    std::ifstream in(fs::path(r.data_dir) / "classes.txt");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) r.classes.push_back(line);
  }
  if (!r.data_dir.empty()) r.train_count = count_images(fs::path(r.data_dir) / "train");
  if (r.train_count < 0) r.train_count = inum(r.pipeline.j, "train");
  r.test_count = inum(r.int8.j, "n", inum(r.fp32.j, "n"));
  if (r.test_count < 0 && !r.data_dir.empty()) r.test_count = count_images(fs::path(r.data_dir) / "test");

  r.eq = equivalence(r);
  r.fi = compare_fp32_int8(r);
  r.output = int8_output(r);
  return r;
}

namespace {

json or_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}
json or_null(int64_t v) {
  return v >= 0 ? json(v) : json(nullptr);
}
json or_null(const Matrix &m) {
  return m.empty() ? json(nullptr) : json(m);
}
json or_null(const std::string &s) {
  return s.empty() ? json(nullptr) : json(s);
}

}  // namespace

json build_summary(const RunData &r) {
  json s;
  s["run"] = {{"command", or_null(str(r.pipeline.j, "command"))},
              {"version", or_null(str(r.pipeline.j, "version"))},
              {"seed", at(r.pipeline.j, "seed")},
              {"started", or_null(str(r.pipeline.j, "started"))}};
  s["dataset"] = {{"classes", r.classes.empty() ? json(nullptr) : json(r.classes)},
                  {"train", or_null(r.train_count)},
                  {"test", or_null(r.test_count)}};
  auto results = [](const Artifact &a) {
    if (!a.ok)
      return json{
          {"accuracy", nullptr}, {"confusion", nullptr}, {"confusion_cells", nullptr}, {"n", nullptr}, {"accuracy_ci95", nullptr}};
    return json{{"accuracy", or_null(num(a.j, "accuracy"))},
                {"accuracy_ci95", at(a.j, "accuracy_ci95").is_array() ? at(a.j, "accuracy_ci95") : json(nullptr)},
                {"confusion", or_null(matrix(at(a.j, "confusion")))},
                {"confusion_cells", at(a.j, "confusion_cells").is_array() ? at(a.j, "confusion_cells") : json(nullptr)},
                {"n", or_null(inum(a.j, "n"))}};
  };
  s["fp32"] = results(r.fp32);
  s["int8_host"] = results(r.int8);
  const Equivalence &e = r.eq;
  s["subset"] = {{"n", e.available ? json(e.n) : json(nullptr)},
                 {"host_confusion", or_null(e.host_cm)},
                 {"device_confusion", or_null(e.device_cm)}};
  s["equivalence"] = {{"verdict", or_null(e.verdict)},
                      {"decision_matches", e.available ? or_null(e.decision_matches) : json(nullptr)},
                      {"bitexact_outputs", e.available ? or_null(e.bitexact_outputs) : json(nullptr)},
                      {"bitexact", e.bitexact < 0 ? json(nullptr) : json(e.bitexact == 1)},
                      {"mismatch_upper_bound_95", or_null(e.upper95)},
                      {"source", or_null(e.source)}};
  int64_t flipped_ties = 0;
  for (const auto &f : r.fi.flips) flipped_ties += f.margin == 0;
  s["equivalence"]["ties"] = e.available && e.ties >= 0 ? json(e.ties) : json(nullptr);
  s["fp32_vs_int8"] = {{"agreement", r.fi.available ? or_null(r.fi.agreement) : json(nullptr)},
                       {"flipped", r.fi.available ? json(r.fi.flips.size()) : json(nullptr)},
                       {"flipped_ties", r.fi.available ? json(flipped_ties) : json(nullptr)},
                       {"mcnemar_p", r.fi.available ? or_null(r.fi.mcnemar_p) : json(nullptr)}};
  const ModelFacts &f = r.fp32_model, &q = r.int8_model;
  const double compression =
      f.file_bytes > 0 && q.file_bytes > 0 ? static_cast<double>(f.file_bytes) / static_cast<double>(q.file_bytes) : kNaN;
  const double param_compression =
      f.param_bytes > 0 && q.param_bytes > 0 ? static_cast<double>(f.param_bytes) / static_cast<double>(q.param_bytes) : kNaN;
  s["model"] = {{"arch", or_null(f.arch.empty() ? str(r.pipeline.j, "arch") : f.arch)},
                {"input", or_null(!f.input.empty() ? f.input : q.input.empty() ? str(r.pipeline.j, "input") : q.input)},
                {"params", or_null(f.params)},
                {"macs", or_null(f.macs)},
                {"fp32_bytes", or_null(f.file_bytes)},
                {"int8_bytes", or_null(q.file_bytes)},
                {"compression", or_null(compression)},
                {"fp32_param_bytes", or_null(f.param_bytes)},
                {"int8_param_bytes", or_null(q.param_bytes)},
                {"param_compression", or_null(param_compression)}};
  const json &dev = at(r.device.j, "device");
  const json &fp = r.footprint.j;
  std::string target = str(dev, "target");
  if (target.empty()) target = str(fp, "target");
  const int64_t arena = inum(dev, "arena_bytes", inum(fp, "arena_bytes"));
  const int64_t flash = inum(dev, "flash_bytes", inum(fp, "flash_bytes"));
  s["device"] = {{"target", or_null(target)},
                 {"port", or_null(str(dev, "port", str(r.pipeline.j, "device")))},
                 {"instructions_per_inference", or_null(inum(dev, "instructions_per_inference"))},
                 {"est_ms", at(dev, "est_ms").is_object() ? at(dev, "est_ms") : json(nullptr)},
                 {"arena_bytes", or_null(arena)},
                 {"flash_bytes", or_null(flash)}};
  const BestEpoch be = best_epoch(r);
  s["training"] = {{"exported_epoch", or_null(be.epoch)},
                   {"val_accuracy", or_null(be.val_acc)},
                   {"epochs", r.curve.rows.empty() ? json(nullptr) : json(r.curve.rows.size())},
                   {"source", or_null(be.source)}};
  s["missing"] = r.missing;
  s["problems"] = r.problems;
  return s;
}

}  // namespace detail

Report build_report(const std::string &run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec))
    fail("run folder '" + run_dir + "' does not exist or is not a folder",
         "pass the --out folder of 'qparity pipeline' as --run");
  const RunData r = load_run(run_dir);
  Report rep;
  rep.html = render_html(r);
  rep.summary = build_summary(r);
  rep.verdict = r.eq.verdict;
  rep.missing = r.missing;
  rep.problems = r.problems;
  return rep;
}

Written write_report(const std::string &run_dir, const std::string &out_html, bool force) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec))
    fail("run folder '" + run_dir + "' does not exist or is not a folder",
         "pass the --out folder of 'qparity pipeline' as --run");
  Written w;
  w.html_path = out_html.empty() ? (fs::path(run_dir) / "report.html").string() : out_html;
  w.summary_path = (fs::path(run_dir) / "summary.json").string();
  const fs::path out_dir = fs::weakly_canonical(fs::absolute(w.html_path).parent_path(), ec);
  const bool inside_run = !ec && out_dir == fs::weakly_canonical(fs::absolute(run_dir), ec);
  if (fs::exists(w.html_path, ec) && !inside_run && !force)
    fail("'" + w.html_path + "' already exists", "choose another --out, or pass --force to replace it");
  if (fs::is_directory(w.html_path, ec)) fail("--out '" + w.html_path + "' is a folder", "name the .html file to write");
  const auto t0 = std::chrono::steady_clock::now();
  w.report = build_report(run_dir);
  const auto parent = fs::path(w.html_path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  data::write_file_atomic(w.html_path, w.report.html.data(), w.report.html.size());
  // The report stage's own time (reading RUN, drawing, writing the page): the one clock value, kept
  // out of the HTML so the page stays byte-identical for the same RUN.
  w.report.summary["report"] = {{"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  const std::string sj = w.report.summary.dump(2) + "\n";
  data::write_file_atomic(w.summary_path, sj.data(), sj.size());
  return w;
}

}  // namespace qp::report
