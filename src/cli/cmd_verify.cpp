// qparity verify: decision equivalence of the host and the device, as a CI gate.
// Exit codes: 0 EQUIVALENT, 1 NOT EQUIVALENT, 2 unusable input (every error of this command).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "data/image_io.h"
#include "device/triage.h"
#include "verify/verify.h"

namespace qp::cli {

namespace {

struct VerifyArgs {
  std::string host, device, fp32, json_out, junit_out;
  std::string model, port, firmware;  // triage on the device
  int baud = 921600;
  bool force = false;
  InputArgs input;  // triage: the model's convention and classes when it does not state them
};

void refuse_existing(const std::string &path, const char *flag) {
  if (path.empty() || !std::filesystem::exists(path)) return;
  throw Error("output '" + path + "' (" + flag + ") already exists\n  fix: pass --force to replace it, or choose another path",
              2);
}

void write_text(const std::string &path, const std::string &text) {
  try {
    data::write_file_atomic(path, text.data(), text.size());
  } catch (const Error &e) {
    throw Error(e.what(), 2);
  }
}

}  // namespace

void add_verify_commands(CLI::App &app) {
  auto a = std::make_shared<VerifyArgs>();
  auto *cmd = app.add_subcommand(
      "verify", "Decision equivalence of host and device INT8 results (exit 0 equivalent, 1 not, 2 unusable input)");
  cmd->add_option("--host", a->host, "The host's INT8 results.json (qparity eval --out), usually the whole test set")->required();
  cmd->add_option("--device", a->device, "The device's results.json (qparity device run), a subset of the host's images")
      ->required();
  cmd->add_option("--fp32", a->fp32, "FP32 results.json on the same test set: FP32 <-> INT8 agreement, flips, McNemar");
  cmd->add_option("--json", a->json_out, "Write the verdict as JSON (read by qparity report)");
  cmd->add_option("--junit", a->junit_out, "Write JUnit XML: one test case per image");
  cmd->add_option("--model", a->model, "Triage: the INT8 model (.onnx); with --port, every mismatching image is rerun on the "
                                     "device layer by layer and the first diverging layer is named");
  cmd->add_option("--port", a->port, "Triage: the device (qemu-rv32, qemu-xtensa or a serial port)");
  cmd->add_option("--firmware", a->firmware, "Triage on an emulated board: the firmware ELF");
  cmd->add_option("--baud", a->baud, "Triage on a serial port: baud rate")->capture_default_str();
  cmd->add_flag("--force", a->force, "Replace existing --json / --junit files");
  a->input.add(cmd);
  cmd->callback([a] {
    if (!a->force) {
      refuse_existing(a->json_out, "--json");
      refuse_existing(a->junit_out, "--junit");
    }
    verify::VerifyOptions opt;
    opt.host_name = "host results '" + a->host + "'";
    opt.device_name = "device results '" + a->device + "'";
    const auto host = verify::load_results_json(a->host, "--host");
    const auto device = verify::load_results_json(a->device, "--device");
    if (!a->fp32.empty()) opt.fp32 = verify::load_results_json(a->fp32, "--fp32");
    std::shared_ptr<device::DeviceTriage> triage;
    if (!a->model.empty() && !a->port.empty()) {
      device::TriageOptions to;
      to.model = a->model;
      to.input = a->input.to_override(a->model);
      to.port = a->port;
      to.firmware = a->firmware;
      to.baud = a->baud;
      opt.triage = [a, to, triage](const nlohmann::json &image) mutable {
        if (!triage) triage = std::make_shared<device::DeviceTriage>(to);  // the device starts only on a mismatch
        return (*triage)(image);
      };
    }
    const auto report = verify::verify(host, device, opt);
    std::fputs(verify::format_summary(report).c_str(), stdout);
    if (!a->json_out.empty()) {
      write_text(a->json_out, verify::verdict_json(report, a->host, a->device).dump(1) + "\n");
      std::printf("verdict written to %s\n", a->json_out.c_str());
    }
    if (!a->junit_out.empty()) {
      write_text(a->junit_out, verify::junit_xml(report));
      std::printf("JUnit XML written to %s\n", a->junit_out.c_str());
    }
    std::fflush(stdout);
    if (!report.equivalent) throw ExitStatus{1};
  });
}

}  // namespace qp::cli
