// qparity pipeline: the whole job, from images to the report, in one command.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "common/error.h"
#include "pipeline/pipeline.h"

namespace fs = std::filesystem;

namespace qp::cli {

namespace {

std::string self_path(const char *fallback) {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  return fallback;
}

// The command line as typed (from /proc/self/cmdline), for the report.
std::string command_line() {
  FILE *f = std::fopen("/proc/self/cmdline", "rb");
  if (!f) return "qparity pipeline";
  std::string raw;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) raw.append(buf, n);
  std::fclose(f);
  std::string line;
  size_t start = 0;
  bool first = true;
  for (size_t i = 0; i <= raw.size(); ++i) {
    if (i == raw.size() || raw[i] == '\0') {
      if (i > start) {
        std::string a = raw.substr(start, i - start);
        if (first) a = "qparity";
        first = false;
        line += (line.empty() ? "" : " ") + a;
      }
      start = i + 1;
    }
  }
  return line;
}

}  // namespace

void add_pipeline_commands(CLI::App &app) {
  auto o = std::make_shared<pipeline::PipelineOptions>();
  auto config = std::make_shared<std::string>();
  auto *cmd = app.add_subcommand("pipeline", "The whole job: data, training, INT8, host and device runs, equivalence, inspection, report");
  cmd->add_option("--config", *config, "Read options from a TOML or JSON file (command-line options win)");
  cmd->add_option("--data", o->data, "Your ImageFolder root: DIR/train/<class>/*, DIR/test/<class>/*");
  cmd->add_flag("--synth", o->synth, "Use the built-in synthetic rock/paper/scissors set (written to RUN/data)");
  cmd->add_option("--synth-train", o->synth_train, "Synthetic training images (0 = default)");
  cmd->add_option("--synth-test", o->synth_test, "Synthetic test images (0 = default)");
  cmd->add_option("--arch", o->arch, "Model preset or layer spec")->capture_default_str();
  cmd->add_option("--input", o->input, "Model input HxWxC for training, e.g. 64x64x3 or 96x96x1 (default 32x32x3)");
  cmd->add_option("--fp32", o->fp32_model, "Skip training: use this FP32 ONNX model");
  cmd->add_option("--int8", o->int8_model,
                  "Validate this INT8 model as given (.tflite or QDQ .onnx): no training, no quantizing; DATA/test or DATA itself "
                  "is the split");
  cmd->add_option("--classes", o->classes, "With --int8: class names in output order, comma-separated");
  cmd->add_option("--input-range", o->input_range, "With --int8: the real range pixels map to (0,1 | 0,255 | -1,1)");
  cmd->add_option("--mean", o->mean, "With --int8: per-channel mean subtracted after --input-range");
  cmd->add_option("--std", o->std, "With --int8: per-channel std divided by after --mean");
  cmd->add_option("--epochs", o->epochs, "Training epochs (0 = the trainer's default)");
  cmd->add_option("--device", o->device, "qemu-rv32, qemu-xtensa, a serial port (/dev/ttyUSB0) or none")->capture_default_str();
  cmd->add_option("--target", o->target, "Board for the generated ESP-IDF project (esp32, esp32s3, esp32c3)")->capture_default_str();
  cmd->add_option("--subset", o->subset, "Device images: a count (stratified, seeded) or 'all'")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for data, training, calibration and the subset")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores)");
  cmd->add_option("--out", o->out, "Run folder (artifacts, report)");
  cmd->add_flag("--force", o->force, "Use a non-empty --out that was not made by the pipeline");
  cmd->add_flag("--skip-bad", o->skip_bad, "Skip and count unreadable images in every stage instead of failing");
  cmd->callback([cmd, o, config] {
    if (!config->empty()) {
      std::error_code ec;
      if (fs::exists(*config, ec) && !fs::is_regular_file(*config, ec))
        fail("config file '" + *config + "' is not a file", "pass a TOML or JSON file to --config");
      if (fs::is_regular_file(*config, ec) && !std::ifstream(*config))
        fail("config file '" + *config + "' cannot be read", "check its permissions (chmod a+r)");
      for (const auto &[k, v] : pipeline::read_config(*config)) {
        const std::string name = "--" + k;
        CLI::Option *opt = nullptr;
        try {
          opt = cmd->get_option(name);
        } catch (const CLI::OptionNotFound &) {
          fail("config file '" + *config + "': unknown option '" + k + "'", "use the names of 'qparity pipeline --help' without the dashes");
        }
        if (opt->count() > 0 || k == "config") continue;  // the command line wins
        if (k == "synth" || k == "force" || k == "skip-bad") {
          const bool on = v == "true" || v == "1";
          if (!on && v != "false" && v != "0")
            throw Error("config file '" + *config + "': '" + k + "' must be true or false (got '" + v + "')", 2);
          if (k == "synth") o->synth = on;
          if (k == "force") o->force = on;
          if (k == "skip-bad") o->skip_bad = on;
          continue;
        }
        opt->add_result(v);
        opt->run_callback();
      }
    }
    // Options that contradict each other: refused before anything runs, like any usage error.
    auto given = [cmd](const char *name) { return cmd->get_option(name)->count() > 0; };
    if (given("--int8"))
      for (const char *train_opt : {"--arch", "--epochs", "--input"})
        if (given(train_opt))
          throw Error(std::string(train_opt) + " sets up training, but --int8 validates the given INT8 model as it is\n"
                      "  fix: drop " + train_opt, 2);
    if (given("--fp32"))
      for (const char *train_opt : {"--arch", "--epochs", "--input"})
        if (given(train_opt))
          throw Error(std::string(train_opt) + " sets up training, but --fp32 skips training (it uses the given model)\n"
                      "  fix: drop " + train_opt + ", or drop --fp32 to train a model", 2);
    const int rc = pipeline::run_pipeline(*o, self_path("qparity"), command_line());
    if (rc != 0) throw ExitStatus{rc};
  });
}

}  // namespace qp::cli
