// The whole job as one command: data -> FP32 training -> FP32 evaluation -> INT8 quantization -> INT8
// evaluation on the host -> the subset on the device -> equivalence -> inspection -> report. Each
// stage runs the same `qparity <stage>` command a user would type (recorded in RUN/pipeline.json), its
// artifacts land in RUN/, and a rerun skips every stage whose inputs and options did not change.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qp::pipeline {

struct PipelineOptions {
  std::string out;             // the run folder
  std::string data;            // the user's ImageFolder root (train/ and test/); empty with synth
  bool synth = false;          // the built-in synthetic set, written to RUN/data
  int synth_train = 0, synth_test = 0;  // synthetic counts (0: the generator's defaults)
  std::string arch = "rps-cnn";
  std::string input;           // the model input HxWxC for training (empty: the trainer's 32x32x3); see synth_side
  std::string fp32_model;      // skip training: use this FP32 ONNX model
  // Validate this INT8 model as given (.tflite or QDQ .onnx): no training, no quantizing. It is imported
  // into RUN/int8.onnx by `qparity convert` with the class names and input convention below, so every
  // later stage reads one self-describing file. Sections that need an FP32 model say "not run".
  std::string int8_model;
  std::string classes;         // with int8_model: class names (else labels.txt beside it, its metadata, the data's)
  std::string input_range, mean, std;  // with int8_model: its input convention (see qparity convert --help)
  int epochs = 0;              // 0: the trainer's default
  std::string device = "qemu-rv32";  // qemu-rv32, qemu-xtensa, a serial port, or "none"
  std::string target = "esp32";      // the ESP-IDF project generated for real boards
  std::string subset = "50";
  uint64_t seed = 1;
  int threads = 0;
  bool force = false;          // use a non-empty RUN folder that was not made by the pipeline
  bool skip_bad = false;       // pass --skip-bad to every stage that reads images
};

// Reads a TOML (flat `key = value` lines, # comments, [sections] ignored) or JSON (one object) file
// into option names and values as text. Throws qp::Error naming the file, line and fix.
std::map<std::string, std::string> read_config(const std::string &path);
// The same on the file's text; `path` names it in messages (fuzzers call this on bytes).
std::map<std::string, std::string> parse_config(const std::string &text, const std::string &path);

// What the pipeline writes beside a results file it reads back: the per-image CSV (results.json ->
// results.csv) and the seed-format device log ("Image 1/50 | True: paper | Pred: paper | ..."). Every key is
// checked (labels and predictions within the classes, integers that fit): qp::Error naming `name` and the key.
std::string results_csv(const nlohmann::json &results, const std::string &name);
std::string device_log(const nlohmann::json &device, const std::string &name);

// The side the built-in set is rendered at for a training input HxWxC: 32 (the default set, the same bytes
// as without --input) unless the input is larger, then max(H, W), so a 64x64 model sees 64x64 detail.
int synth_side(const std::string &input);

// Checks every option before the first stage runs (nothing is written): --out and exactly one data
// source, --subset ("all" or a positive count), --device (none, an emulated board or an existing
// serial port), --target (an ESP-IDF board), --arch (a preset or a spec that builds for the data's
// classes), --fp32 (an existing FP32 model), counts that must not be negative, the --data layout.
// Throws qp::Error: exit code 2 for a bad option value, 1 for a missing file or folder.
void check_options(const PipelineOptions &o);

// Runs the pipeline (after check_options); `self` is the path of the qparity binary that runs each stage. Returns the exit
// code: 0 EQUIVALENT (or no device stage), 1 NOT EQUIVALENT.
int run_pipeline(const PipelineOptions &o, const std::string &self, const std::string &command_line);

}  // namespace qp::pipeline
