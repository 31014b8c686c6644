#include "verify/verify.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/json_read.h"
#include "eval/evaluate.h"
#include "eval/results_io.h"
#include "quant/labels.h"

namespace qp::verify {

namespace {

// Every unusable-input failure: exit code 2, the thing that is wrong, and the fix.
[[noreturn]] void unusable(const std::string &what, const std::string &fix) {
  throw Error(what + (fix.empty() ? "" : "\n  fix: " + fix), 2);
}

using eval::ImageResult;

// A results file as verify reads it: the codec's typed form (eval/results_io.h), named for messages.
struct Parsed {
  std::string name;  // "host results 'host.json'", for messages
  eval::ResultsFile file;
  const std::string &precision() const { return file.results.precision; }
  const std::string &model_sha256() const { return file.results.model_sha256; }
  const std::vector<std::string> &classes() const { return file.results.classes; }
  const std::vector<ImageResult> &images() const { return file.results.images; }
};

std::string short_hash(const std::string &h) {
  return h.size() > 12 ? h.substr(0, 12) + "..." : h;
}

std::string lower(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join(const std::vector<std::string> &v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// Reads a results file through the codec; `int8` requires INT8 results (integer score vectors). Every
// image must carry its pixel hash, which verify matches on. Unusable input exits with code 2.
Parsed parse_results(const json &j, const std::string &name, bool int8, const std::string &fix) {
  Parsed p;
  p.name = name;
  eval::ReadOptions ro;
  ro.require_int8 = int8;
  ro.require_image_sha256 = true;
  p.file = eval::read_results(j, json_read::Source{name, fix, 2}, ro);
  return p;
}

AccuracyCI accuracy_of(int64_t correct, int64_t n) {
  AccuracyCI a;
  a.n = n;
  a.correct = correct;
  a.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  a.ci95 = wilson95(correct, n);
  return a;
}

Fp32Comparison compare_fp32(const json &fp32, const Parsed &host) {
  const std::string fix = "pass the FP32 model's results on the same test set (qparity eval --model fp32.onnx --out)";
  const Parsed f = parse_results(fp32, "--fp32 results", false, fix);
  if (f.precision() == "int8") unusable("--fp32 results are from an INT8 model", fix);
  if (f.classes() != host.classes())
    unusable("--fp32 results have classes [" + join(f.classes()) + "] but the host has [" + join(host.classes()) + "]", fix);
  eval::ImageMatcher m(f.images());
  std::vector<std::pair<size_t, size_t>> pairs;  // (FP32 image, host image)
  for (size_t i = 0; i < host.images().size(); ++i) {
    const ImageResult &h = host.images()[i];
    const long k = m.find(h);
    if (k < 0)
      unusable("host image '" + h.file + "' is not among the --fp32 results' " + std::to_string(f.images().size()) + " images",
               fix);
    pairs.emplace_back(static_cast<size_t>(k), i);
  }
  const eval::DecisionAgreement d = eval::decision_agreement(f.images(), host.images(), pairs);
  Fp32Comparison c;
  c.n = d.n;
  c.same = d.same;
  c.agreement = d.agreement;
  c.fp32_only_right = d.only_a_right;
  c.int8_only_right = d.only_b_right;
  c.mcnemar_p = d.mcnemar_p;
  for (size_t k : d.flipped) {
    const ImageResult &fi = f.images()[pairs[k].first], &h = host.images()[pairs[k].second];
    c.flipped.push_back({h.file, h.label, fi.pred, h.pred, h.margin(), h.tie()});
  }
  return c;
}

// "logits (scale 0.0421, zero point 3): margins in int8 steps (0.0421 logit units each), conf = softmax of the
// dequantized logits (display only)", or the same for a softmax's probabilities.
std::string output_line(const eval::Int8Output &o) {
  char b[96];
  std::snprintf(b, sizeof b, " (scale %.4g, zero point %d)", o.scale, static_cast<int>(o.zero_point));
  return (o.logits ? "logits" + std::string(b) : std::string("softmax probabilities")) + ": margins in " + o.margin_unit() +
         ", conf = " + (o.logits ? "softmax of the dequantized logits (display only)" : "(q + 128) / 256");
}

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100.0 * x);
  return b;
}

std::string fmt_acc(const AccuracyCI &a) {
  char b[160];
  std::snprintf(b, sizeof b, "%.2f%% (%lld/%lld), 95%% CI [%.1f%%, %.1f%%]", 100.0 * a.accuracy,
                static_cast<long long>(a.correct), static_cast<long long>(a.n), 100.0 * a.ci95.lo, 100.0 * a.ci95.hi);
  return b;
}

std::string fmt_scores(const std::vector<int> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string xml_escape(const std::string &s) {
  std::string o;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += (c < 0x20 && c != '\t' && c != '\n') ? '?' : ch;  // control characters are not allowed in XML 1.0
    }
  }
  return o;
}

ordered_json ci_json(const Interval &i) {
  return ordered_json::array({i.lo, i.hi});
}

}  // namespace

json load_results_json(const std::string &path, const std::string &role) {
  const std::string fix = "pass a results.json written by 'qparity eval --out' (host) or 'qparity device run' (device)";
  if (!std::filesystem::is_regular_file(path)) unusable(role + " file '" + path + "' does not exist", fix);
  std::ifstream in(path);
  try {
    return json::parse(in);
  } catch (const std::exception &e) {
    unusable(role + " file '" + path + "' is not JSON (" + std::string(e.what()).substr(0, 160) + ")", fix);
  }
}

std::string VerifyReport::verdict_line() const {
  const int64_t bad_decisions = n - decision_matches, bad_outputs = n - bitexact_outputs;
  if (!equivalent)
    return "NOT EQUIVALENT: " + std::to_string(bad_decisions) + " of " + std::to_string(n) + " decision" + (n == 1 ? "" : "s") +
           " differ" + (bad_decisions == 1 ? "s" : "");
  if (bitexact) return "EQUIVALENT (bit-exact)";
  return "EQUIVALENT, " + std::to_string(bad_outputs) + " output vector" + (bad_outputs == 1 ? " differs" : "s differ");
}

VerifyReport verify(const json &host_json, const json &device_json, const VerifyOptions &opt) {
  const std::string host_fix = "pass the host's INT8 results (qparity eval --model int8.onnx --data DIR --out host.json)";
  const std::string dev_fix = "pass the device's results (qparity device run ... --out device.json)";
  const Parsed host = parse_results(host_json, opt.host_name, true, host_fix);
  const Parsed dev = parse_results(device_json, opt.device_name, true, dev_fix);

  const std::string host_platform = host.file.platform.empty() ? "host" : host.file.platform, dev_platform = dev.file.platform;
  if (dev_platform != "device")
    unusable(opt.device_name + " did not come from a device (\"platform\": \"" + dev_platform + "\")", dev_fix);
  if (host_platform == "device") unusable(opt.host_name + " came from a device, not from the host", host_fix);

  // The same model on both sides: the file both evaluated, and the hash the firmware reported.
  if (host.model_sha256().empty()) unusable(opt.host_name + " has no model_sha256", host_fix);
  if (dev.model_sha256().empty()) unusable(opt.device_name + " has no model_sha256", dev_fix);
  const std::string same_model_fix = "run the device and the host on the same INT8 file (regenerate the firmware from it)";
  if (host.model_sha256() != dev.model_sha256())
    unusable("different models: the host evaluated " + short_hash(host.model_sha256()) + " but the device results are for " +
                 short_hash(dev.model_sha256()),
             same_model_fix);
  const json device_info = json::parse(dev.file.device.dump());
  if (device_info.is_object() && device_info.contains("model_hash") && device_info["model_hash"].is_string()) {
    const std::string reported = lower(device_info["model_hash"].get<std::string>());
    if (reported != host.model_sha256())
      unusable("different models: the device firmware reports model " + short_hash(reported) + " but the host evaluated " +
                   short_hash(host.model_sha256()),
               same_model_fix);
  }
  if (host.classes() != dev.classes())
    unusable("different classes: the host has [" + join(host.classes()) + "], the device [" + join(dev.classes()) + "]",
             "use the same model and dataset on both sides");
  if (dev.images().empty())
    unusable(opt.device_name + " lists no images (empty subset)", "run the device on a subset of at least one image");
  if (host.images().empty()) unusable(opt.host_name + " lists no images", host_fix);

  const eval::Int8Output &out = host.file.results.output;
  if (!(dev.file.results.output == out))
    unusable("the host's int8 outputs are " + std::string(out.logits ? "logits" : "softmax probabilities") +
                 " but the device's are " + (dev.file.results.output.logits ? "logits" : "softmax probabilities") +
                 " (or quantized differently)",
             same_model_fix);
  VerifyReport r;
  r.model_sha256 = host.model_sha256();
  r.classes = host.classes();
  r.output = out;
  r.device_info = device_info;
  r.subset_info = json::parse(dev.file.subset.dump());
  const size_t C = host.classes().size();

  eval::ImageMatcher matcher(host.images());
  std::vector<std::pair<int, int>> host_sub, dev_sub, host_full;
  int64_t host_sub_correct = 0, dev_correct = 0, host_full_correct = 0;
  for (const auto &d : dev.images()) {
    const long k = matcher.find(d);
    if (k == -1)
      unusable("device image '" + d.file + "' (sha256 " + short_hash(d.sha256) + ") is not among the host's " +
                   std::to_string(host.images().size()) + " images",
               "evaluate the host on the data the device subset was drawn from (qparity eval --data DIR)");
    if (k == -2) unusable(opt.device_name + " lists the pixels of '" + d.file + "' more than once (duplicate images)", dev_fix);
    const ImageResult &h = host.images()[static_cast<size_t>(k)];
    if (h.label != d.label)
      unusable("image '" + d.file + "' is labelled '" + r.classes[static_cast<size_t>(h.label)] + "' on the host but '" +
                   r.classes[static_cast<size_t>(d.label)] + "' on the device",
               "use the same dataset and class order on both sides");
    ImageComparison c;
    c.file = d.file;
    c.sha256 = d.sha256;
    c.label = d.label;
    c.host_pred = h.pred;
    c.device_pred = d.pred;
    c.decision_match = h.pred == d.pred;
    c.bitexact = h.qscores == d.qscores;
    c.host_scores = h.qscores;
    c.device_scores = d.qscores;
    c.margin = d.margin();
    c.conf = d.conf();
    c.tie = d.tie();
    c.host_tie = h.tie();
    c.off_rule = d.pred != eval::first_argmax(d.qscores);
    r.ties += c.tie;
    r.off_rule += c.off_rule;
    c.cycles = d.cycles;
    c.micros = d.micros;
    r.decision_matches += c.decision_match;
    r.bitexact_outputs += c.bitexact;
    host_sub.emplace_back(h.label, h.pred);
    dev_sub.emplace_back(d.label, d.pred);
    host_sub_correct += h.pred == h.label;
    dev_correct += d.pred == d.label;
    if ((!c.decision_match || !c.bitexact) && opt.triage) {
      TriageEntry t;
      t.file = d.file;
      try {
        t.result = opt.triage(json(eval::image_json(d)));
      } catch (const std::exception &e) {
        t.error = e.what();
      }
      r.triage.push_back(std::move(t));
    }
    r.images.push_back(std::move(c));
  }
  for (const auto &h : host.images()) {
    host_full.emplace_back(h.label, h.pred);
    host_full_correct += h.pred == h.label;
  }
  r.n = static_cast<int64_t>(dev.images().size());
  r.equivalent = r.decision_matches == r.n;
  r.bitexact = r.bitexact_outputs == r.n;
  r.mismatch_upper_bound_95 = clopper_pearson_upper95(r.n - r.decision_matches, r.n);
  r.host_full_confusion = eval::confusion_matrix(host_full, C);
  r.host_subset_confusion = eval::confusion_matrix(host_sub, C);
  r.device_confusion = eval::confusion_matrix(dev_sub, C);
  r.host_full_lp = std::move(host_full);
  r.host_subset_lp = std::move(host_sub);
  r.device_lp = std::move(dev_sub);
  r.host_full = accuracy_of(host_full_correct, static_cast<int64_t>(host.images().size()));
  r.host_subset = accuracy_of(host_sub_correct, r.n);
  r.device = accuracy_of(dev_correct, r.n);
  if (opt.fp32) r.fp32 = compare_fp32(*opt.fp32, host);
  return r;
}

std::string format_summary(const VerifyReport &r) {
  std::string o = r.verdict_line() + "\n";
  char b[512];
  std::string target = "device";
  if (r.device_info.is_object() && r.device_info.contains("target") && r.device_info["target"].is_string())
    target = r.device_info["target"].get<std::string>();
  std::string subset;
  if (r.subset_info.is_object() && r.subset_info.contains("of") && r.subset_info["of"].is_number_integer())
    subset = " of " + std::to_string(r.subset_info["of"].get<int64_t>());
  std::snprintf(b, sizeof b, "model %s, %s, %lld images%s\n", r.model_sha256.substr(0, 12).c_str(), target.c_str(),
                static_cast<long long>(r.n), subset.c_str());
  o += b;
  const int64_t k = r.n - r.decision_matches;
  std::snprintf(b, sizeof b,
                "decisions     %lld/%lld match\nint8 outputs  %lld/%lld bit-exact\n"
                "mismatches    %lld in %lld: device mismatch rate < %.2f%% (95%% one-sided Clopper-Pearson)\n",
                static_cast<long long>(r.decision_matches), static_cast<long long>(r.n),
                static_cast<long long>(r.bitexact_outputs), static_cast<long long>(r.n), static_cast<long long>(k),
                static_cast<long long>(r.n), 100.0 * r.mismatch_upper_bound_95);
  o += b;
  o += "outputs       " + output_line(r.output) + "\n";
  o += "accuracy      host, full set " + fmt_acc(r.host_full) + "\n";
  o += "              host, subset   " + fmt_acc(r.host_subset) + "\n";
  o += "              device         " + fmt_acc(r.device) + "\n";
  if (r.ties > 0)
    o += "ties          " + std::to_string(r.ties) + " of " + std::to_string(r.n) +
         " device outputs share the top score (margin 0): decided for the first tied class in class order, "
         "on the host and the device alike\n";
  if (r.off_rule > 0)
    o += "tie rule      " + std::to_string(r.off_rule) +
         " device decision(s) are not the first maximum of their own scores: the firmware breaks ties differently\n";

  // The two subset matrices side by side (a top-confusions summary each above kConfusionTableMax classes).
  auto lines = [](const std::string &s) {
    std::vector<std::string> v;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  };
  const auto left = lines(eval::format_confusion_or_top(r.classes, r.host_subset_lp));
  const auto right = lines(eval::format_confusion_or_top(r.classes, r.device_lp));
  size_t w = 0;
  for (const auto &l : left) w = std::max(w, l.size());
  w += 4;
  auto row = [&](const std::string &a, const std::string &c) {
    return a + std::string(w > a.size() ? w - a.size() : 1, ' ') + c + "\n";
  };
  o += "\n" + row("host (subset)", "device");
  for (size_t i = 0; i < std::max(left.size(), right.size()); ++i)
    o += row(i < left.size() ? left[i] : "", i < right.size() ? right[i] : "");

  auto cls = [&](int c) { return c >= 0 && static_cast<size_t>(c) < r.classes.size() ? r.classes[static_cast<size_t>(c)] : "?"; };
  bool header = false;
  for (const auto &im : r.images) {
    if (im.decision_match && im.bitexact) continue;
    if (!header) o += "\ndifferences\n";
    header = true;
    o += std::string(im.decision_match ? "  output   " : "  DECISION ") + im.file + ": true " + cls(im.label) + ", host " +
         cls(im.host_pred) + " " + fmt_scores(im.host_scores) + ", device " + cls(im.device_pred) + " " +
         fmt_scores(im.device_scores) +
         (im.tie || im.host_tie ? std::string(" (tie for the top score on the ") +
                                      (im.tie && im.host_tie ? "host and the device" : im.tie ? "device" : "host") +
                                      ": the first tied class wins)"
                                : "") +
         (im.off_rule ? " (the device's decision is not the first maximum of its scores)" : "") + "\n";
  }
  for (const auto &t : r.triage) {
    if (!t.error.empty()) {
      o += "  triage   " + t.file + ": failed: " + t.error + "\n";
    } else if (t.result.layer < 0) {
      o += "  triage   " + t.file + ": every layer output matches on a rerun\n";
    } else {
      std::snprintf(
          b, sizeof b,
          "  triage   %s: first diverging layer %d (%s), max |diff| %d int8 steps, %zu of %zu values differ from index %zu\n",
          t.file.c_str(), t.result.layer, t.result.layer_name.c_str(), t.result.max_abs_diff, t.result.differing, t.result.size,
          t.result.first_index);
      o += b;
    }
  }
  if (r.fp32) {
    const auto &f = *r.fp32;
    std::snprintf(b, sizeof b, "\nFP32 vs INT8 (host, full set): agreement %s (%lld/%lld), %zu flipped, McNemar exact p = %.4g\n",
                  pct(f.agreement).c_str(), static_cast<long long>(f.same), static_cast<long long>(f.n), f.flipped.size(),
                  f.mcnemar_p);
    o += b;
    for (const auto &fl : f.flipped)
      o += "  flipped " + fl.file + ": true " + cls(fl.label) + ", FP32 " + cls(fl.fp32_pred) + ", INT8 " + cls(fl.int8_pred) +
           ", INT8 margin " + std::to_string(fl.margin) + " " + r.output.margin_unit() +
           (fl.tie ? " (a tie: INT8 decided for the first tied class)" : "") + "\n";
  }
  return o;
}

ordered_json verdict_json(const VerifyReport &r, const std::string &host_path, const std::string &device_path) {
  ordered_json j;
  j["verdict"] = r.equivalent ? "EQUIVALENT" : "NOT EQUIVALENT";
  j["summary"] = r.verdict_line();
  j["bitexact"] = r.bitexact;
  j["n"] = r.n;
  j["decision_matches"] = r.decision_matches;
  j["bitexact_outputs"] = r.bitexact_outputs;
  j["ties"] = r.ties;
  j["off_rule"] = r.off_rule;
  j["mismatch_upper_bound_95"] = r.mismatch_upper_bound_95;
  j["mismatch_rate_ci95"] = ci_json(clopper_pearson95(r.n - r.decision_matches, r.n));
  j["classes"] = r.classes;
  j["output"] = {{"kind", r.output.logits ? "logits" : "probabilities"},
                 {"scale", r.output.scale},
                 {"zero_point", r.output.zero_point},
                 {"margin_unit", r.output.margin_unit()},
                 {"conf", r.output.logits ? "softmax of the dequantized logits (host, double; display only)"
                                          : "(q + 128) / 256"}};
  eval::put_confusion_json(j, "host_subset_confusion", r.classes.size(), r.host_subset_lp);
  eval::put_confusion_json(j, "device_confusion", r.classes.size(), r.device_lp);
  auto acc = [](const AccuracyCI &a) {
    return ordered_json{{"n", a.n}, {"correct", a.correct}, {"accuracy", a.accuracy}, {"ci95", ci_json(a.ci95)}};
  };
  j["host_full"] = acc(r.host_full);
  eval::put_confusion_json(j["host_full"], "confusion", r.classes.size(), r.host_full_lp);
  j["host_subset"] = acc(r.host_subset);
  j["device"] = acc(r.device);
  auto &imgs = j["images"] = ordered_json::array();
  auto &mism = j["mismatches"] = ordered_json::array();
  for (const auto &im : r.images) {
    imgs.push_back({{"file", im.file},
                    {"sha256", im.sha256},
                    {"label", im.label},
                    {"host_pred", im.host_pred},
                    {"device_pred", im.device_pred},
                    {"decision_match", im.decision_match},
                    {"bitexact", im.bitexact},
                    {"host_scores", im.host_scores},
                    {"device_scores", im.device_scores},
                    {"conf", im.conf},
                    {"margin", im.margin},
                    {"tie", im.tie},
                    {"host_tie", im.host_tie},
                    {"cycles", im.cycles ? ordered_json(*im.cycles) : ordered_json()},
                    {"micros", im.micros ? ordered_json(*im.micros) : ordered_json()}});
    if (!im.decision_match) mism.push_back(im.file);
  }
  auto &tri = j["triage"] = ordered_json::array();
  for (const auto &t : r.triage) {
    ordered_json e = {{"file", t.file},
                      {"layer", t.result.layer},
                      {"layer_name", t.result.layer_name},
                      {"max_abs_diff", t.result.max_abs_diff},
                      {"first_index", t.result.first_index},
                      {"differing", t.result.differing},
                      {"size", t.result.size}};
    if (!t.error.empty()) e["error"] = t.error;
    tri.push_back(std::move(e));
  }
  if (r.fp32) {
    ordered_json fl = ordered_json::array();
    for (const auto &f : r.fp32->flipped)
      fl.push_back(
          {{"file", f.file}, {"label", f.label}, {"fp32_pred", f.fp32_pred}, {"int8_pred", f.int8_pred}, {"margin", f.margin},
           {"tie", f.tie}});
    j["fp32"] = {{"n", r.fp32->n},
                 {"agreement", r.fp32->agreement},
                 {"flipped", fl},
                 {"mcnemar_p", r.fp32->mcnemar_p},
                 {"fp32_only_right", r.fp32->fp32_only_right},
                 {"int8_only_right", r.fp32->int8_only_right}};
  }
  j["host"] = host_path;
  j["device_file"] = device_path;
  j["model_sha256"] = r.model_sha256;
  j["device_info"] = r.device_info;
  j["subset"] = r.subset_info;
  return j;
}

std::string junit_xml(const VerifyReport &r) {
  const int64_t failures = r.n - r.decision_matches;
  char b[256];
  std::string o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  std::snprintf(b, sizeof b, "<testsuites name=\"qparity\" tests=\"%lld\" failures=\"%lld\">\n", static_cast<long long>(r.n),
                static_cast<long long>(failures));
  o += b;
  std::snprintf(b, sizeof b,
                "  <testsuite name=\"qparity.verify\" tests=\"%lld\" failures=\"%lld\" errors=\"0\" skipped=\"0\">\n",
                static_cast<long long>(r.n), static_cast<long long>(failures));
  o += b;
  auto prop = [&](const std::string &k, const std::string &v) {
    o += "      <property name=\"" + xml_escape(k) + "\" value=\"" + xml_escape(v) + "\"/>\n";
  };
  o += "    <properties>\n";
  prop("verdict", r.equivalent ? "EQUIVALENT" : "NOT EQUIVALENT");
  prop("summary", r.verdict_line());
  prop("bitexact", r.bitexact ? "true" : "false");
  prop("decision_matches", std::to_string(r.decision_matches) + "/" + std::to_string(r.n));
  prop("bitexact_outputs", std::to_string(r.bitexact_outputs) + "/" + std::to_string(r.n));
  std::snprintf(b, sizeof b, "%.6f", r.mismatch_upper_bound_95);
  prop("mismatch_upper_bound_95", b);
  prop("model_sha256", r.model_sha256);
  o += "    </properties>\n";
  auto cls = [&](int c) { return c >= 0 && static_cast<size_t>(c) < r.classes.size() ? r.classes[static_cast<size_t>(c)] : "?"; };
  for (const auto &im : r.images) {
    o += "    <testcase classname=\"qparity.verify\" name=\"" + xml_escape(im.file) + "\"";
    if (im.micros) {
      std::snprintf(b, sizeof b, " time=\"%.6f\"", static_cast<double>(*im.micros) / 1e6);
      o += b;
    }
    const std::string detail = "host " + cls(im.host_pred) + " " + fmt_scores(im.host_scores) + ", device " +
                               cls(im.device_pred) + " " + fmt_scores(im.device_scores);
    if (im.decision_match && im.bitexact) {
      o += "/>\n";
      continue;
    }
    o += ">\n";
    if (!im.decision_match) {
      o += "      <failure type=\"decision\" message=\"" +
           xml_escape("decision differs: host " + cls(im.host_pred) + ", device " + cls(im.device_pred) + " (true " +
                      cls(im.label) + ")") +
           "\">" + xml_escape(detail) + "</failure>\n";
    } else {
      o += "      <system-out>" + xml_escape("int8 output vector differs, same decision: " + detail) + "</system-out>\n";
    }
    o += "    </testcase>\n";
  }
  o += "  </testsuite>\n</testsuites>\n";
  return o;
}

// ---- triage ----

namespace {

// Compares one layer's outputs; `layer` < 0 in the result when they are identical.
TriageResult diff_layer(int layer, const std::vector<int8_t> &h, const std::vector<int8_t> &d,
                        const std::vector<std::string> &names) {
  TriageResult t;
  if (h == d) return t;
  t.layer = layer;
  t.layer_name = static_cast<size_t>(layer) < names.size() ? names[static_cast<size_t>(layer)] : "";
  t.size = h.size();
  const size_t common = std::min(h.size(), d.size());
  bool first = true;
  for (size_t i = 0; i < common; ++i) {
    if (h[i] == d[i]) continue;
    if (first) t.first_index = i;
    first = false;
    ++t.differing;
    t.max_abs_diff = std::max(t.max_abs_diff, std::abs(static_cast<int>(h[i]) - static_cast<int>(d[i])));
  }
  if (first) t.first_index = common;  // only the sizes differ
  t.differing += std::max(h.size(), d.size()) - common;
  return t;
}

}  // namespace

TriageResult compare_traces(const std::vector<std::vector<int8_t>> &host, const std::vector<std::vector<int8_t>> &device,
                            const std::vector<std::string> &names) {
  static const std::vector<int8_t> none;
  const size_t layers = std::max(host.size(), device.size());
  for (size_t i = 0; i < layers; ++i) {
    auto t = diff_layer(static_cast<int>(i), i < host.size() ? host[i] : none, i < device.size() ? device[i] : none, names);
    if (t.layer >= 0) return t;
  }
  return {};
}

std::vector<std::string> trace_layer_names(const quant::QModel &m) {
  return quant::layer_labels(m);  // the one label per node (quant/labels.h)
}

}  // namespace qp::verify
