// qparity firmware: generate the device firmware for an INT8 model (and build it for emulated boards).
#include <cstdio>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "firmware/firmware.h"

namespace qp::cli {

void add_firmware_commands(CLI::App &app) {
  auto o = std::make_shared<firmware::FirmwareOptions>();
  auto no_build = std::make_shared<bool>(false);
  auto kernels = std::make_shared<std::string>("mcu");
  auto input = std::make_shared<InputArgs>();
  auto *cmd = app.add_subcommand("firmware", "Generate firmware for an INT8 model: ESP-IDF project + Arduino sketch, or an emulated board");
  cmd->add_option("--model", o->model, "INT8 model: QDQ .onnx from 'qparity quantize', or an int8 .tflite")->required();
  cmd->add_option("--target", o->target, "esp32, esp32s3, esp32c3 (ESP-IDF project), qemu-rv32 or qemu-xtensa (emulated)")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Folder to write the project to")->required();
  cmd->add_option("--subset-from", o->subset_from, "Test split whose representative subset is embedded as a boot self-test");
  cmd->add_option("--subset", o->subset, "Self-test images: a count or 'all'")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for choosing the subset")->capture_default_str();
  cmd->add_flag("--skip-bad", o->skip_bad, "Skip unreadable images of --subset-from instead of failing");
  cmd->add_flag("--force", o->force, "Regenerate an existing firmware folder written by qparity");
  cmd->add_flag("--no-build", *no_build, "Emulated targets: only generate, do not build");
  cmd->add_option("--kernels", *kernels, "mcu (optimized for 32-bit MCUs) or reference (the numeric specification); same bytes")
      ->capture_default_str();
  input->add(cmd);  // a foreign model's input convention and classes (a .tflite states none)
  cmd->callback([o, no_build, kernels, input] {
    o->build = !*no_build;
    o->input = input->to_override(o->model);
    if (*kernels == "mcu")
      o->kernels = firmware::Kernels::Mcu;
    else if (*kernels == "reference")
      o->kernels = firmware::Kernels::Reference;
    else
      fail("--kernels must be mcu or reference (got '" + *kernels + "')");
    const auto r = firmware::make_firmware(*o);
    std::printf("firmware for %s -> %s (model sha256 %.16s...)\n", o->target.c_str(), r.dir.c_str(), r.model_sha256.c_str());
    std::printf("tensor arena %u bytes (memory plan; without buffer reuse %u bytes)\n", r.plan.arena_bytes, r.plan.naive_bytes);
    if (r.subset_requested)
      std::printf("self-test: %zu of the %zu requested images fit a quarter of the target's flash; embedding %zu\n",
                  r.subset_images, r.subset_requested, r.subset_images);
    if (r.subset_images) std::printf("self-test: %zu images embedded, run at boot\n", r.subset_images);
    if (!r.elf.empty()) {
      const auto &f = r.footprint;
      std::printf("built %s\n", r.elf.c_str());
      std::printf("flash %llu / %llu bytes (code %llu, of which qparity's own %llu; model weights %llu; self-test images %llu)\n",
                  static_cast<unsigned long long>(f.flash_bytes), static_cast<unsigned long long>(f.flash_budget),
                  static_cast<unsigned long long>(f.code_bytes), static_cast<unsigned long long>(f.runtime_code_bytes),
                  static_cast<unsigned long long>(f.weights_bytes), static_cast<unsigned long long>(f.subset_bytes));
      std::printf("RAM %llu / %llu bytes (arena %llu, stack %llu); no floating-point support linked, no heap\n",
                  static_cast<unsigned long long>(f.ram_bytes), static_cast<unsigned long long>(f.ram_budget),
                  static_cast<unsigned long long>(f.arena_bytes), static_cast<unsigned long long>(f.stack_bytes));
    } else if (firmware::find_target(o->target).kind == "esp-idf") {
      std::printf("build and flash: cd %s && idf.py set-target %s && idf.py -p PORT flash monitor (see README.md there)\n",
                  r.dir.c_str(), o->target.c_str());
    }
  });
}

}  // namespace qp::cli
