// The options of a foreign model's inputs and classes, shared by the commands that read a model and images:
// --input-range LO,HI, --mean/--std (per channel, after the range) and --classes a,b,c.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "model/ir.h"
#include "quant/model_file.h"
#include "quant/qmodel.h"

namespace qp::cli {

struct InputArgs {
  std::string range, mean, stdev, classes;
  // Registers --input-range, --mean, --std and (with_classes) --classes on cmd.
  void add(CLI::App *cmd, bool with_classes = true);
  bool convention_given() const { return !range.empty() || !mean.empty() || !stdev.empty(); }
  // The convention the options state (range 0,1 when --input-range is absent), checked against `channels`.
  quant::InputConvention convention(int channels) const;
  // What the options give for an INT8 model file (quant::apply_input_override: the rule of eval, firmware, device
  // run and verify): the convention when given (checked against the model's channels when applied), the class names
  // of named_classes.
  quant::InputOverride to_override(const std::string &model_path) const;
  // An FP32 graph: the options give its Graph::input_real table (none given: pixels / 255).
  void apply(model::Graph &g) const;
  // The class names the options or a labels.txt beside the model give (one per line), in that order of preference;
  // empty when neither (then the model's metadata, else the dataset's folders name them).
  std::vector<std::string> named_classes(const std::string &model_path) const;
  // Checks the class names against the model's `outputs`: a qp::Error naming both counts and where the names came from.
  void check_class_count(const std::string &model_path, const std::vector<std::string> &classes, int outputs) const;
};

}  // namespace qp::cli
