// Evaluation of a model on a dataset split: per-image predictions, accuracy with its Wilson 95%
// interval, and the confusion matrix (rows = true class, columns = predicted, as in the seed).
#pragma once
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "model/onnx_io.h"
#include "quant/qmodel.h"

namespace qp::eval {

struct ImageResult {
  std::string file;
  std::string sha256;
  int label = -1;
  int pred = -1;
  std::vector<float> scores;  // softmax probabilities (FP32 models)
  std::vector<int> qscores;   // the int8 output vector (INT8 models)
  double conf() const;        // top-1 probability; (q + 128) / 256 for INT8
  int margin() const;         // INT8: top-1 minus top-2 in int8 steps (0 for FP32)
};

struct Results {
  std::string model;
  std::string model_sha256;
  std::string precision = "fp32";
  std::vector<std::string> classes;
  std::vector<std::vector<int>> confusion;  // [true][pred]
  std::vector<ImageResult> images;
  int correct() const;
  double accuracy() const;
};

// Runs the FP32 executor on every image of `split` (labels must index model.graph.classes), in
// parallel over `threads` (0 = all cores). Deterministic: results are in the split's order.
Results evaluate_fp32(const model::ModelFile &model, const data::Split &split, int threads = 0);

// Runs the integer engine (reference kernels) on every image; scores are the int8 output vectors.
Results evaluate_int8(const quant::QModel &model, const std::string &model_path, const std::string &model_sha256,
                      const data::Split &split, int threads = 0, quant::Backend backend = quant::Backend::Optimized);

// Decision agreement of two result sets over the same images (same files in the same order).
double agreement(const Results &a, const Results &b);

// Confusion matrix from results (the images' label/pred).
std::vector<std::vector<int>> confusion_matrix(const std::vector<ImageResult> &images, size_t classes);

// The seed's table: "True \ Pred" header, one row per true class.
std::string format_confusion(const std::vector<std::string> &classes, const std::vector<std::vector<int>> &confusion);

// Accuracy line with the Wilson 95% interval, e.g. "accuracy 96.49% (412/427), 95% CI [94.3%, 97.9%]".
std::string format_accuracy(const Results &r);

// results.json: {"model", "model_sha256", "precision", "n", "classes", "accuracy", "accuracy_ci95",
// "confusion", "images": [{"file", "sha256", "label", "pred", "scores", "conf"}]}; INT8 results carry
// integer scores and a "margin" per image.
void write_results_json(const Results &r, const std::string &path);

}  // namespace qp::eval
