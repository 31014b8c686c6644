// Evaluation of a model on a dataset split: per-image predictions, accuracy with its Wilson 95%
// interval, and the confusion matrix (rows = true class, columns = predicted, as in the seed).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/image_folder.h"
#include "model/onnx_io.h"
#include "quant/qmodel.h"

namespace qp::eval {

// What an INT8 model's output vector means (results files carry it as "output"). Probabilities: the model ends in
// a Softmax (scale 1/256, zero point -128), conf = (q + 128) / 256. Logits: it ends without one (Dense, global
// average pooling, Mean, ...; scale and zero point from calibration), conf = the softmax of the dequantized logits
// scale * (q - zero_point), computed on the host in double, for display only. Either way the decision is the
// first maximum of the int8 vector (dequantizing is monotonic, so that is the logits' first maximum too, ties
// included), and a margin counts int8 steps: 1/256 of probability each, or `scale` logit units each.
struct Int8Output {
  bool logits = false;
  double scale = 1.0 / 256.0;
  int32_t zero_point = -128;
  static Int8Output of(const quant::QModel &m);  // the model's last layer: Softmax or not, and its output quantization
  double conf(const std::vector<int> &q) const;  // top-1 confidence of an int8 vector (0 for none)
  // How a margin reads, e.g. "int8 steps (1/256 probability each)" or "int8 steps (0.0421 logit units each)".
  std::string margin_unit() const;
  bool operator==(const Int8Output &) const = default;
};

struct ImageResult {
  std::string file;
  std::string sha256;
  int label = -1;
  int pred = -1;
  std::vector<float> scores;  // softmax probabilities (FP32 models)
  std::vector<int> qscores;   // the int8 output vector (INT8 models)
  double conf() const;        // top-1 probability; INT8: output.conf(qscores)
  int margin() const;         // INT8: top-1 minus top-2 in int8 steps (0 for FP32)
  // Two classes share the top score (INT8: margin 0; FP32: equal probabilities). The decision is then
  // the first of them in class order, on the host and on the device alike (first_argmax).
  bool tie() const;
  std::optional<int64_t> cycles, micros;  // device results: the board's cycle count and time for this image
  Int8Output output;  // INT8: what qscores mean (the same for every image of a Results: Results::set_output)
};

// The decision margin of an int8 output vector: top-1 minus top-2 in int8 steps (0 for a tie or fewer than
// two values). The one definition (ImageResult::margin, verify, device run, the report's rows).
int int8_margin(const std::vector<int> &scores);

// The decision rule everywhere (host engines, eval, verify, inspect, the firmware's qp_app_argmax):
// the index of the first maximum, so a tie goes to the class that comes first. -1 for no values.
template <typename T>
int first_argmax(const std::vector<T> &v) {
  int best = v.empty() ? -1 : 0;
  for (size_t k = 1; k < v.size(); ++k)
    if (v[k] > v[static_cast<size_t>(best)]) best = static_cast<int>(k);
  return best;
}

// Whether the two highest values of `v` are equal (a tie for the decision).
template <typename T>
bool top_tie(const std::vector<T> &v) {
  const int best = first_argmax(v);
  for (size_t k = 0; k < v.size(); ++k)
    if (static_cast<int>(k) != best && v[k] == v[static_cast<size_t>(best)]) return true;
  return false;
}

struct Results {
  std::string model;
  std::string model_sha256;
  std::string precision = "fp32";
  std::vector<std::string> classes;
  std::vector<std::vector<int>> confusion;  // [true][pred]
  std::vector<ImageResult> images;
  Int8Output output;  // INT8: what the score vectors mean
  void set_output(const Int8Output &o);  // sets `output` here and on every image
  int correct() const;
  double accuracy() const;
  int ties() const;  // images whose top score is shared (ImageResult::tie)
};

// Confusion matrices of more than kConfusionTableMax classes are summarised on the console (the
// largest off-diagonal counts), not printed in full. Above kConfusionDenseMax classes no K x K matrix
// is built at all (10,000 classes would cost 400 MB per matrix): the JSON carries the non-zero cells.
constexpr size_t kConfusionTableMax = 20;
constexpr size_t kConfusionDenseMax = 256;

// One non-zero cell of a confusion matrix.
struct ConfusionCell {
  int truth = 0, pred = 0;
  int64_t count = 0;
  bool operator==(const ConfusionCell &o) const { return truth == o.truth && pred == o.pred && count == o.count; }
};

// (label, pred) of every image, in order.
std::vector<std::pair<int, int>> label_pred(const std::vector<ImageResult> &images);

// The non-zero cells, sorted by (truth, pred); pairs with a negative index are left out.
std::vector<ConfusionCell> confusion_cells(const std::vector<std::pair<int, int>> &label_pred);

// Writes the confusion matrix under j[key]: the dense [true][pred] matrix up to kConfusionDenseMax
// classes; above, j[key] is null and j[key + "_cells"] lists the non-zero cells as [true, pred, count].
void put_confusion_json(nlohmann::ordered_json &j, const std::string &key, size_t classes,
                        const std::vector<std::pair<int, int>> &label_pred);

// The console form: the full table (format_confusion) up to kConfusionTableMax classes; above it a
// summary: "confusion matrix: 1000 classes (not printed; in the JSON), 12 images off the diagonal;
// top confusions:" and the `top` largest off-diagonal cells, "  true cat -> pred dog: 3".
std::string format_confusion_or_top(const std::vector<std::string> &classes,
                                    const std::vector<std::pair<int, int>> &label_pred, size_t top = 10);

// "" when no image has a tie, else one line: "3 image(s) with a tie for the top score (margin 0):
// decided for the first tied class in class order".
std::string format_ties(const Results &r);

// Runs the FP32 executor on every image of `split` (labels must index model.graph.classes), in
// parallel over `threads` (0 = all cores). Deterministic: results are in the split's order.
Results evaluate_fp32(const model::ModelFile &model, const data::Split &split, int threads = 0);

// Runs the integer engine (reference kernels) on every image; scores are the int8 output vectors.
Results evaluate_int8(const quant::QModel &model, const std::string &model_path, const std::string &model_sha256,
                      const data::Split &split, int threads = 0, quant::Backend backend = quant::Backend::Optimized,
                      quant::OptIsa isa = quant::OptIsa::Auto);

// Decision agreement of two result sets over the same images (same files in the same order):
// decision_agreement (results_io.h) over the pairs (i, i).
double agreement(const Results &a, const Results &b);

// The confusion matrix [true][pred] of (label, pred) pairs; empty above kConfusionDenseMax classes (the
// pairs stand in for it: confusion_cells). A pair outside the classes is a qp::Error, never skipped or
// written out of bounds. The one definition (eval, device run, verify, the report).
std::vector<std::vector<int>> confusion_matrix(const std::vector<std::pair<int, int>> &label_pred, size_t classes);
// The same from results (the images' label/pred); the error names the image.
std::vector<std::vector<int>> confusion_matrix(const std::vector<ImageResult> &images, size_t classes);

// The seed's table: "True \ Pred" header, one row per true class.
std::string format_confusion(const std::vector<std::string> &classes, const std::vector<std::vector<int>> &confusion);

// Accuracy line with the Wilson 95% interval, e.g. "accuracy 96.49% (412/427), 95% CI [94.3%, 97.9%]".
std::string format_accuracy(const Results &r);

// results.json, through the codec (results_io.h):
// {"model", "model_sha256", "precision", "n", "classes", "accuracy", "accuracy_ci95",
// "confusion", "ties", "images": [{"file", "sha256", "label", "pred", "scores", "conf"}]}; INT8 results carry
// "output" (Int8Output: {"kind": "probabilities" | "logits", "scale", "zero_point", "margin_unit"}), integer scores
// and a "margin" per image; an image whose top score is shared has "tie": true. Above
// kConfusionDenseMax classes "confusion" is null and "confusion_cells" holds [true, pred, count] cells.
void write_results_json(const Results &r, const std::string &path);

}  // namespace qp::eval
