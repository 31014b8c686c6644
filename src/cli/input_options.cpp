#include "cli/input_options.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "quant/input_map.h"

namespace fs = std::filesystem;

namespace qp::cli {

void InputArgs::add(CLI::App *cmd, bool with_classes) {
  cmd->add_option("--input-range", range,
                  "Real range the pixels 0..255 map onto: 0,1 (default, p/255), 0,255, -1,1 or any LO,HI");
  cmd->add_option("--mean", mean, "Per-channel mean subtracted after --input-range (e.g. 0.485,0.456,0.406)");
  cmd->add_option("--std", stdev, "Per-channel std divided after --mean (e.g. 0.229,0.224,0.225)");
  if (with_classes)
    cmd->add_option("--classes", classes, "Class names in output order, comma-separated (else labels.txt, model, dataset)");
}

quant::InputConvention InputArgs::convention(int channels) const {
  quant::InputConvention ic = range.empty() ? quant::InputConvention{} : quant::parse_input_range(range);
  quant::set_mean_std(ic, mean, stdev);
  quant::check_convention(ic, channels);
  return ic;
}

quant::InputOverride InputArgs::to_override(const std::string &model_path) const {
  quant::InputOverride o;
  if (convention_given()) {
    quant::InputConvention ic = range.empty() ? quant::InputConvention{} : quant::parse_input_range(range);
    quant::set_mean_std(ic, mean, stdev);
    o.convention = ic;
  }
  o.classes = named_classes(model_path);
  return o;
}

void InputArgs::apply(model::Graph &g) const {
  if (!convention_given()) return;
  const auto ic = convention(g.input.c);
  g.input_real = ic.is_default() ? std::vector<float>{} : quant::input_real_table(ic, g.input.c);
}

std::vector<std::string> InputArgs::named_classes(const std::string &model_path) const {
  std::vector<std::string> names;
  if (!classes.empty()) {
    std::stringstream ss(classes);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) names.push_back(item);
    if (names.empty() || classes.back() == ',' || classes.find(",,") != std::string::npos)
      fail("--classes '" + classes + "' has an empty name", "pass the names separated by single commas, e.g. --classes a,b,c");
    return names;
  }
  const fs::path labels = fs::path(model_path).parent_path() / "labels.txt";
  if (!fs::is_regular_file(labels)) return names;
  std::ifstream in(labels);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

void InputArgs::check_class_count(const std::string &model_path, const std::vector<std::string> &names, int outputs) const {
  if (static_cast<int>(names.size()) == outputs) return;
  const std::string from = !classes.empty() ? "--classes"
                           : fs::is_regular_file(fs::path(model_path).parent_path() / "labels.txt")
                               ? "'" + (fs::path(model_path).parent_path() / "labels.txt").string() + "'"
                               : "the class names";
  fail(from + " names " + std::to_string(names.size()) + " classes but '" + model_path + "' outputs " + std::to_string(outputs) +
           " scores",
       "pass --classes with " + std::to_string(outputs) + " names in output order (or a labels.txt beside the model)");
}

}  // namespace qp::cli
