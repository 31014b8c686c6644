// Subcommand registration for the qparity CLI. Each stage's commands live in their own file; each
// registers its options and a callback that throws qp::Error on bad input.
#pragma once
#include <CLI/CLI.hpp>

namespace qp::cli {

void add_data_commands(CLI::App &app);      // data synth | preview | check
void add_model_commands(CLI::App &app);     // train, eval, info, init
void add_quant_commands(CLI::App &app);     // quantize, compare
void add_firmware_commands(CLI::App &app);  // firmware
void add_device_commands(CLI::App &app);    // device run | hello
void add_verify_commands(CLI::App &app);    // verify
void add_inspect_commands(CLI::App &app);   // inspect
void add_report_commands(CLI::App &app);    // report
void add_pipeline_commands(CLI::App &app);  // pipeline

}  // namespace qp::cli
