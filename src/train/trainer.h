// FP32 training with libtorch: Adam with cosine learning-rate decay, batch 64, augmentation (flips,
// small shifts, colour jitter), a stratified validation split, best-validation checkpoint and early
// stopping. CUDA when libtorch and a GPU provide it, else all CPU cores. Deterministic on CPU for a
// given seed. Writes the model (ONNX) plus <stem>.train.csv and <stem>.curve.svg beside it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/ir.h"

namespace qp::train {

struct TrainOptions {
  std::string data_dir;  // ROOT with train/ (and optionally test/)
  std::string out;       // model.onnx
  std::string arch = "rps-cnn";
  model::Shape input{3, 32, 32};  // the model input (CHW; C = 1 luma or 3 RGB): images are loaded at this size
  int epochs = 80;
  int batch = 64;
  double lr = 2e-3;
  double weight_decay = 5e-4;  // L2, as in Adam's weight_decay
  double val_fraction = 0.1;
  int patience = 20;  // epochs without validation improvement before stopping
  uint64_t seed = 1;
  int threads = 0;              // CPU threads; 0 = all cores
  std::string device = "auto";  // auto | cpu | cuda
  bool skip_bad = false;
  bool force = false;  // overwrite an existing --out
  bool augment = true;
};

struct EpochLog {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, lr = 0, seconds = 0;
};

struct TrainSummary {
  std::vector<EpochLog> log;
  int best_epoch = 0;
  double best_val_acc = 0;
  double images_per_second = 0;  // training images processed per second (forward + backward)
  double seconds = 0;            // whole training loop
  std::string device;
  int train_images = 0, val_images = 0;
  model::Graph graph;  // trained weights (best checkpoint)
};

// Throws qp::Error on bad input (data, architecture, output path).
TrainSummary train_model(const TrainOptions &opt);

// Paths written beside the model: <stem>.train.csv and <stem>.curve.svg.
std::string train_log_path(const std::string &model_path);
std::string train_curve_path(const std::string &model_path);

}  // namespace qp::train
