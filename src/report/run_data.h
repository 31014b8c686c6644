// Internal to src/report: what the report reads from a run folder, and the numbers it derives from
// it (subset equivalence when verdict.json is missing, FP32 vs INT8 agreement), shared by the loader
// (report.cpp) and the HTML renderer (render_html.cpp).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qp::report::detail {

using json = nlohmann::json;
using Matrix = std::vector<std::vector<int64_t>>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One JSON artifact of the run folder.
struct Artifact {
  std::string name;      // path relative to RUN, e.g. "verdict.json"
  bool present = false;  // the file exists
  bool ok = false;       // ... and parsed as a JSON object
  std::string error;     // why it did not parse
  json j = json::object();
};

struct ModelFacts {
  std::string name;
  bool present = false, ok = false;
  std::string error;
  int64_t params = -1, macs = -1, file_bytes = -1, param_bytes = -1;
  std::string sha256, arch, input;  // input: HxWxC, e.g. "32x32x3" (model::input_size_str)
  int layers = 0;
  std::map<std::string, std::string> metadata;  // the ONNX file's qparity.* metadata
};

// One image of the device subset, host and device side by side.
struct SubsetRow {
  std::string file, sha256;
  int label = -1, host_pred = -1, device_pred = -1;
  bool has_host = false;
  int bitexact = -1;  // 1, 0, or -1 when unknown
  double conf = kNaN, cycles = kNaN, micros = kNaN;
  int64_t margin = -1;
};

struct Equivalence {
  bool available = false;  // a device stage ran (device.json or verdict.json)
  std::string source;      // where the numbers come from
  std::string verdict;     // "EQUIVALENT" / "NOT EQUIVALENT" / "" (undecidable)
  int bitexact = -1;       // all outputs bit-exact: 1, 0, -1 unknown
  int64_t n = 0, decision_matches = -1, bitexact_outputs = -1;
  double upper95 = kNaN;
  Matrix host_cm, device_cm;  // empty above eval::kConfusionDenseMax classes
  std::vector<std::pair<int, int>> host_lp, device_lp;  // (label, pred) per subset image: top confusions
  int64_t ties = -1;  // subset images whose device top score is shared (margin 0); -1 unknown
  std::vector<SubsetRow> rows;
  std::vector<std::string> mismatches;
  json triage = json::array();
  int64_t unmatched = 0;  // device images without a host result (verify refuses those: stays 0)
};

struct Flip {
  std::string file, sha256;
  int label = -1, fp32_pred = -1, int8_pred = -1;
  int64_t margin = -1;  // INT8, int8 steps; 0 = a tie, decided for the first tied class
};

struct Fp32VsInt8 {
  bool available = false;
  std::string source;
  int64_t n = 0, agree = 0, only_fp32 = -1, only_int8 = -1;
  double agreement = kNaN, mcnemar_p = kNaN;
  std::vector<Flip> flips;
};

struct TrainCurve {
  bool present = false;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;  // one per epoch, in `columns` order
  std::string svg_file_bytes;             // fp32.curve.svg when the CSV is missing
  int column(const std::string &name) const {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<int>(i);
    return -1;
  }
};

// What the INT8 output vectors mean (eval::Int8Output), for the page's wording: verdict.json's "output", else a
// results file's; absent (runs made before logit-output models): a softmax's probabilities.
struct OutputMeaning {
  bool logits = false;
  std::string margin_unit = "int8 steps";  // e.g. "int8 steps (0.0421 logit units each)"
  std::string conf_rule = "(q + 128) / 256 of the winning int8 score";
};

struct RunData {
  std::string dir;
  Artifact pipeline, fp32, int8, device, verdict, inspection, footprint;
  ModelFacts fp32_model, int8_model;
  TrainCurve curve;
  std::vector<std::string> classes;
  std::string data_dir;  // as resolved on this machine ("" when unknown)
  int64_t train_count = -1, test_count = -1;
  Equivalence eq;
  Fp32VsInt8 fi;
  OutputMeaning output;
  std::vector<std::string> missing, problems;
};

// The training epoch whose weights were exported (the best validation epoch, not the last one): from
// fp32.onnx's qparity.train.best_epoch / qparity.train.val_accuracy when recorded, else the row of
// fp32.train.csv that training keeps (highest val_acc; on equal accuracy the lower val_loss, then the
// earlier epoch). epoch -1 when neither is available.
struct BestEpoch {
  int64_t epoch = -1;
  double val_acc = kNaN;
  std::string source;
};
BestEpoch best_epoch(const RunData &r);

RunData load_run(const std::string &dir);
std::string render_html(const RunData &r);
json build_summary(const RunData &r);

// The path of a results file's image on this machine ("" when it cannot be found): as written
// (absolute, or relative to the current folder), relative to RUN, or a trailing part of it under RUN
// or the data folder (a run folder that was moved or copied).
std::string resolve_image(const RunData &r, const std::string &file);

// Tolerant JSON accessors: a missing key or a value of the wrong type gives the fallback.
inline const json &at(const json &j, const char *key) {
  static const json null_json;
  if (j.is_object()) {
    auto it = j.find(key);
    if (it != j.end()) return *it;
  }
  return null_json;
}
inline double num(const json &j, const char *key, double fallback = kNaN) {
  const json &v = at(j, key);
  return v.is_number() ? v.get<double>() : fallback;
}
// An integer value read exactly: false for anything else (a fraction, an unsigned value past int64, a float
// beyond int64's range), never a truncated or wrapped number.
inline bool exact_int(const json &v, int64_t *out) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
  *out = static_cast<int64_t>(d);
  return true;
}
inline int64_t inum(const json &j, const char *key, int64_t fallback = -1) {
  int64_t x = 0;
  return exact_int(at(j, key), &x) ? x : fallback;
}
// A class index (label or prediction): -1 unless an integer in [0, INT32_MAX] (2^32 + 1 is not class 1).
inline int class_index(const json &j, const char *key) {
  const int64_t x = inum(j, key);
  return x >= 0 && x <= INT32_MAX ? static_cast<int>(x) : -1;
}
inline std::string str(const json &j, const char *key, const std::string &fallback = "") {
  const json &v = at(j, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return fallback;
}
inline int tri(const json &j, const char *key) {
  const json &v = at(j, key);
  return v.is_boolean() ? (v.get<bool>() ? 1 : 0) : -1;
}
// (label, pred) of every entry of a results file's "images" (entries without both are left out).
inline std::vector<std::pair<int, int>> label_pred_of(const json &images) {
  std::vector<std::pair<int, int>> v;
  if (images.is_array())
    for (const auto &img : images) {
      const int64_t l = inum(img, "label"), p = inum(img, "pred");
      if (l >= 0 && p >= 0 && l <= INT32_MAX && p <= INT32_MAX) v.emplace_back(static_cast<int>(l), static_cast<int>(p));
    }
  return v;
}

// A square-or-not matrix of counts; empty when `v` is not an array of arrays of numbers.
inline Matrix matrix(const json &v) {
  Matrix m;
  if (!v.is_array()) return {};
  for (const auto &row : v) {
    if (!row.is_array()) return {};
    std::vector<int64_t> r;
    for (const auto &c : row) {
      int64_t x = 0;
      if (!exact_int(c, &x) || x < 0) return {};  // counts
      r.push_back(x);
    }
    m.push_back(std::move(r));
  }
  return m;
}

}  // namespace qp::report::detail
