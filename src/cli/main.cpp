// qparity: train a small CNN, quantize it to INT8, and prove it decides the same on a microcontroller.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "common/error.h"

int main(int argc, char **argv) {
  CLI::App app{"qparity " QPARITY_VERSION ": FP32 training, INT8 quantization and desktop/MCU decision equivalence"};
  app.set_version_flag("--version", "qparity " QPARITY_VERSION);
  app.require_subcommand(1);
  qp::cli::add_data_commands(app);
  qp::cli::add_model_commands(app);
  qp::cli::add_quant_commands(app);
  qp::cli::add_firmware_commands(app);
  qp::cli::add_device_commands(app);
  qp::cli::add_verify_commands(app);
  qp::cli::add_inspect_commands(app);
  qp::cli::add_report_commands(app);
  qp::cli::add_pipeline_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const qp::Error &e) {
    std::fprintf(stderr, "qparity: error: %s\n", e.what());
    return e.exit_code();
  } catch (const qp::ExitStatus &s) {
    return s.code;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "qparity: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
