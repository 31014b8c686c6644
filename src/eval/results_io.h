// The one codec for results files: results.json (`qparity eval --out`) and device.json (`qparity device
// run --out`) are written and read back only through these functions, so every stage (eval, device
// run, verify, compare, pipeline CSVs and device log, report) agrees on one schema and one set of checks.
//
//   eval::ResultsFile f = eval::read_results_file("device.json", {"device results 'device.json'", "run it again", 2});
//   f.results.images[0].qscores;     // the int8 output vector, exactly `classes` values in [-128, 127]
//   f.is_device();                   // "platform": "device"
//   eval::write_results_file(f, "copy.json");   // the same keys, in the same order
//
// Schema (keys in this order; [..] only when present):
//   "model", "model_sha256", "precision" ("fp32" | "int8"), ["platform": "device"], "n", "classes", ["output" (INT8:
//   {"kind": "probabilities" | "logits", "scale", "zero_point", "margin_unit"}, eval::Int8Output; absent when
//   read: probabilities)], "accuracy",
//   "accuracy_ci95" (Wilson), "confusion" (dense [true][pred]; null above kConfusionDenseMax classes, then
//   "confusion_cells": [[true, pred, count]...]), "ties", "images": [{"file", "sha256", "label", "pred",
//   "scores" (FP32: softmax probabilities; INT8: the int8 vector), ["margin" (INT8)], "conf", ["cycles",
//   "micros" (device)], ["tie": true]}], ["subset", "device" (device.json: passed through as objects)].
// The derived keys (accuracy, accuracy_ci95, confusion, ties, margin, margin_unit, conf, tie) are written for people and
// other tools; the reader recomputes them from the images (one definition each, evaluate.h) instead of
// trusting them.
//
// Reading is exact (common/json_read): a missing key, a wrong type, an index outside the classes, a score
// outside int8, an image listed twice, or "n" disagreeing with the images is a qp::Error naming the file
// (Source::name), the key path ("images[3].scores[1]") and the fix, with Source::exit_code.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/json_read.h"
#include "eval/evaluate.h"

namespace qp::eval {

struct ResultsFile {
  Results results;                // model, model_sha256 (lower case, "" when absent), precision ("" when absent), classes, images
  std::string platform;           // "device" for device.json, "" when absent (the host)
  nlohmann::ordered_json subset;  // device.json's "subset" object, keys in the file's order (null when absent)
  nlohmann::ordered_json device;  // device.json's "device" object, keys in the file's order (null when absent)
  bool is_device() const { return platform == "device"; }
};

struct ReadOptions {
  // The images must be INT8 results ("precision": "int8"), else "holds fp32 results, not INT8 ones" (verify).
  bool require_int8 = false;
  // Every image must carry its pixel hash "sha256" (verify matches images by it); else it may be absent ("").
  bool require_image_sha256 = false;
};

// Reads a parsed results document. The confusion matrix of the returned Results is recomputed (confusion_matrix).
ResultsFile read_results(const nlohmann::json &j, const json_read::Source &src, const ReadOptions &opt = {});
// Reads a file: a missing file is "<src.name> does not exist", bad JSON "<src.name> is not valid JSON (...)".
ResultsFile read_results_file(const std::string &path, const json_read::Source &src, const ReadOptions &opt = {});

// One image entry as the files hold it ({"file", "sha256", "label", "pred", "scores", ...}, see above).
nlohmann::ordered_json image_json(const ImageResult &i);
// The whole document (see the schema above).
nlohmann::ordered_json results_json(const ResultsFile &f);
// Writes results_json(f) atomically (one key per line, indent 1, as every qparity results file).
void write_results_file(const ResultsFile &f, const std::string &path);

// Pairs the images of two results files: same pixels (SHA-256), preferring the same file name, then the
// same class-folder/file tail (results written from another working directory), then any unclaimed image
// with those pixels. Each pool image is claimed at most once. find() returns the pool index, -1 when no
// pool image has these pixels, -2 when every such image is already claimed. Used by verify (host <->
// device, host <-> FP32) and by the report.
class ImageMatcher {
 public:
  explicit ImageMatcher(const std::vector<ImageResult> &pool);
  long find(const ImageResult &want);

 private:
  const std::vector<ImageResult> &pool_;
  std::vector<bool> claimed_;
  std::vector<std::pair<std::string, size_t>> by_hash_;  // sorted by hash, then pool index
};

// Decision agreement of two result sets over paired images (a[i], b[j]) for each (i, j) in `pairs`: how
// many decisions are the same, which differ ("flipped": indices into `pairs`), who is right alone (each side
// against its own label), and McNemar's exact p on those two counts. The one definition of FP32 <-> INT8
// agreement (compare, verify --fp32, the report); n = 0 gives agreement 0 and p = 1.
struct DecisionAgreement {
  int64_t n = 0, same = 0, only_a_right = 0, only_b_right = 0;
  double agreement = 0, mcnemar_p = 1;
  std::vector<size_t> flipped;
};
DecisionAgreement decision_agreement(const std::vector<ImageResult> &a, const std::vector<ImageResult> &b,
                                     const std::vector<std::pair<size_t, size_t>> &pairs);

}  // namespace qp::eval
