// Decision equivalence of the host and the device: the verdict `qparity verify` gives, from two
// results.json files of the same INT8 model (the host's, usually the whole test set, and the device's,
// a subset of it), plus the triage that names the first layer where a mismatching image diverges.
//
//   nlohmann::json host = qp::verify::load_results_json("host.json", "--host");
//   nlohmann::json device = qp::verify::load_results_json("device.json", "--device");
//   qp::verify::VerifyReport r = qp::verify::verify(host, device, {});
//   std::puts(qp::verify::format_summary(r).c_str());   // r.equivalent: every decision matched
//
// Unusable input (not a results file, not INT8, different model hashes or classes, a device image the
// host did not evaluate, an empty subset, duplicates) throws qp::Error with exit code 2, so the CLI's
// exit codes are a CI gate: 0 equivalent, 1 not equivalent, 2 unusable input.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/stats.h"
#include "eval/evaluate.h"
#include "quant/qmodel.h"

namespace qp::verify {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Where one image's layer outputs first differ between the host and the device. layer == -1: no
// difference. max_abs_diff, first_index and differing describe that first diverging layer only (the
// layers after it inherit its error, so their differences say nothing new).
struct TriageResult {
  int layer = -1;
  std::string layer_name;
  int max_abs_diff = 0;    // largest |host - device| over the layer's elements (int8 steps)
  size_t first_index = 0;  // first differing element (the runtime's NHWC order)
  size_t differing = 0;    // how many elements differ (a size difference counts the missing ones)
  size_t size = 0;         // the host layer's element count
};

// Compares two full traces (every layer's int8 output, as Int8Engine::run(..., &trace) gives them).
// A layer the device lacks, or one of another size, diverges there. names[i] names layer i (may be short).
TriageResult compare_traces(const std::vector<std::vector<int8_t>> &host, const std::vector<std::vector<int8_t>> &device,
                            const std::vector<std::string> &names);

// Compares a full host trace with the device's per-layer sizes and CRC-32s (qp_proto_crc32, the
// protocol's TRACE reply), then fetches only the first differing layer's full output from the device
// through `fetch_layer(layer)` to measure the difference. Nothing is fetched when every CRC matches.
TriageResult compare_trace_crcs(const std::vector<std::vector<int8_t>> &host, const std::vector<uint32_t> &device_sizes,
                                const std::vector<uint32_t> &device_crcs, const std::vector<std::string> &names,
                                const std::function<std::vector<int8_t>(int layer)> &fetch_layer);

// Triage of two engines running the same model (quant/engine.h: host reference, host optimized, a device's
// firmware) on one input: compares their per-node sizes and CRC-32s, then takes the first differing node's full
// output from each (from its trace where the engine gives tensors, else one Engine::node_output call) and
// measures the difference; `reference` plays the host's part (TriageResult::size is its node's size). Nothing is
// fetched when every CRC matches. The same code compares host reference vs host optimized, or host vs board.
TriageResult triage_engines(quant::Engine &reference, quant::Engine &other, const quant::EngineInput &in,
                            const std::vector<std::string> &names);

// "3 Conv2D+relu", "7 Add+relu <- 3,6": one name per QModel layer, in trace order (quant::layer_labels, the
// one label per node). The trace is in topological order, so the first diverging node's inputs all agree:
// the error starts there.
std::vector<std::string> trace_layer_names(const quant::QModel &m);

struct VerifyOptions {
  std::string host_name = "host results", device_name = "device results";  // how messages name the inputs
  // FP32 results over the host's images (optional): FP32 <-> INT8 agreement, flips, McNemar.
  std::optional<json> fp32;
  // Called for every image whose decision or output vector differs, with the device's image entry;
  // its result goes into the report. An exception it throws is recorded, not propagated.
  std::function<TriageResult(const json &image)> triage;
};

struct ImageComparison {
  std::string file, sha256;
  int label = -1, host_pred = -1, device_pred = -1;
  bool decision_match = false, bitexact = false;
  std::vector<int> host_scores, device_scores;
  double conf = 0;  // the device's top-1 confidence (eval::Int8Output::conf: (q + 128) / 256, or softmax of the logits)
  int margin = 0;   // the device's top-1 minus top-2 in int8 steps (VerifyReport::output: probability or logit units)
  // The device's top score is shared (margin 0): the decision is the first tied class, by the rule
  // the host and the firmware share (eval::first_argmax). host_tie: the same on the host's scores.
  bool tie = false, host_tie = false;
  // The device's decision is not the first maximum of its own scores (it broke the tie rule).
  bool off_rule = false;
  std::optional<int64_t> cycles, micros;
};

struct AccuracyCI {
  int64_t n = 0, correct = 0;
  double accuracy = 0;
  Interval ci95{0, 1};  // Wilson
};

struct TriageEntry {
  std::string file;
  TriageResult result;
  std::string error;  // set when the triage callback failed
};

struct Fp32Flip {
  std::string file;
  int label = -1, fp32_pred = -1, int8_pred = -1, margin = 0;  // margin: INT8, in int8 steps
  bool tie = false;  // the INT8 top score is shared (margin 0): the flip is the tie rule's choice
};

struct Fp32Comparison {
  int64_t n = 0, same = 0;
  double agreement = 0;
  int64_t fp32_only_right = 0, int8_only_right = 0;
  double mcnemar_p = 1;
  std::vector<Fp32Flip> flipped;
};

struct VerifyReport {
  bool equivalent = false;  // every decision matches
  bool bitexact = false;    // every int8 output vector matches too
  int64_t n = 0, decision_matches = 0, bitexact_outputs = 0;
  int64_t ties = 0;      // device outputs whose top score is shared (margin 0)
  int64_t off_rule = 0;  // device decisions that are not the first maximum of their scores
  double mismatch_upper_bound_95 = 1;  // one-sided Clopper-Pearson on the decision mismatch rate
  std::string model_sha256;
  std::vector<std::string> classes;
  eval::Int8Output output;  // what the int8 vectors mean (probabilities or logits), the same in both files
  // Empty above eval::kConfusionDenseMax classes; the (label, pred) pairs below always hold them.
  std::vector<std::vector<int>> host_full_confusion, host_subset_confusion, device_confusion;
  std::vector<std::pair<int, int>> host_full_lp, host_subset_lp, device_lp;
  AccuracyCI host_full, host_subset, device;
  std::vector<ImageComparison> images;  // in the device file's order
  std::vector<TriageEntry> triage;
  std::optional<Fp32Comparison> fp32;
  json device_info;  // the device file's "device" and "subset" objects, passed through (null if absent)
  json subset_info;
  // "EQUIVALENT (bit-exact)", "EQUIVALENT, 2 output vectors differ", "NOT EQUIVALENT: 1 of 50 decisions differ".
  std::string verdict_line() const;
};

// Reads a results.json; a missing file or bad JSON throws qp::Error (exit code 2) naming `role`.
json load_results_json(const std::string &path, const std::string &role);

// The verdict. Throws qp::Error with exit code 2 on unusable input (see the top of this file).
VerifyReport verify(const json &host, const json &device, const VerifyOptions &opt);

// The human summary `qparity verify` prints (verdict on its own line first).
std::string format_summary(const VerifyReport &r);

// verdict.json, keys in this order (the report stage reads them):
//   "verdict": "EQUIVALENT" | "NOT EQUIVALENT", "summary" (verdict_line), "bitexact", "n", "decision_matches",
//   "bitexact_outputs", "ties", "off_rule", "mismatch_upper_bound_95", "mismatch_rate_ci95" (two-sided
//   Clopper-Pearson), "classes", "output" ({"kind": "probabilities" | "logits", "scale", "zero_point",
//   "margin_unit", "conf"}: what the int8 vectors, margins and confidences mean),
//   "host_subset_confusion", "device_confusion", "host_full": {"n", "correct", "accuracy", "ci95", "confusion"},
//   "host_subset" and "device": {"n", "correct", "accuracy", "ci95"}, "images": [{"file", "sha256", "label",
//   "host_pred", "device_pred", "decision_match", "bitexact", "host_scores", "device_scores", "conf", "margin",
//   "tie", "host_tie", "cycles", "micros"}] (cycles/micros null when the device gave none), "mismatches": [file...],
//   "triage": [{"file", "layer", "layer_name", "max_abs_diff", "first_index", "differing", "size", "error"?}],
//   "fp32": {"n", "agreement", "flipped": [{"file", "label", "fp32_pred", "int8_pred", "margin", "tie"}], "mcnemar_p",
//   "fp32_only_right", "int8_only_right"} (only with FP32 results), "host", "device_file" (paths), "model_sha256",
//   "device_info" and "subset" (the device file's "device" and "subset" objects). Above
//   eval::kConfusionDenseMax classes each confusion key is null and a "<key>_cells" list of
//   [true, pred, count] sits beside it (eval::put_confusion_json).
ordered_json verdict_json(const VerifyReport &r, const std::string &host_path, const std::string &device_path);

// JUnit XML: testsuite "qparity.verify", one testcase per image, a failure for a decision mismatch.
std::string junit_xml(const VerifyReport &r);

}  // namespace qp::verify
