// qparity device: run an INT8 model on a device (emulated board or real board on a serial port).
#include <cstdio>

#include "cli/commands.h"
#include "cli/input_options.h"
#include "common/error.h"
#include "device/connection.h"
#include "device/runner.h"

namespace qp::cli {

namespace {

void add_device_run(CLI::App &device) {
  auto o = std::make_shared<device::RunOptions>();
  auto no_icount = std::make_shared<bool>(false);
  auto input = std::make_shared<InputArgs>();
  auto *cmd = device.add_subcommand("run", "Evaluate the representative subset (or all) of a test split on a device");
  cmd->add_option("--model", o->model, "INT8 model (.onnx, .tflite); the device must run firmware generated from it")->required();
  cmd->add_option("--data", o->data, "Test split folder (class subfolders)")->required();
  cmd->add_option("--port", o->port, "qemu-rv32, qemu-xtensa (emulated boards) or a serial port such as /dev/ttyUSB0")->required();
  cmd->add_option("--baud", o->baud, "Serial baud rate (real boards)")->capture_default_str();
  cmd->add_option("--subset", o->subset, "Images: a count (stratified by class, seeded) or 'all'")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for choosing the subset")->capture_default_str();
  cmd->add_option("--out", o->out, "Device results to write (device.json)")->required();
  cmd->add_option("--firmware-dir", o->firmware_dir, "Emulated: where to generate and build the firmware (default: beside --out)");
  cmd->add_option("--firmware", o->firmware_elf, "Emulated: run this prebuilt firmware ELF instead of generating one");
  cmd->add_option("--jobs", o->jobs, "Emulated: parallel QEMU instances (0 = one per core for 100+ images)")->capture_default_str();
  cmd->add_option("--timeout-ms", o->timeout_ms, "Per-reply timeout before a resend")->capture_default_str();
  cmd->add_option("--link", o->link, "qemu-rv32: uart (the board's UART), semihost (faster bulk runs) or auto (uart below 100 images)")
      ->capture_default_str();
  cmd->add_flag("--no-icount", *no_icount, "Emulated: run faster without exact instruction counting");
  cmd->add_flag("--skip-bad", o->skip_bad, "Skip and count unreadable images instead of failing");
  cmd->add_flag("--fresh", o->fresh, "Start over instead of resuming an interrupted run's journal");
  cmd->add_flag("--force", o->force, "Overwrite --out if it exists");
  input->add(cmd);  // as given to 'qparity firmware' (the firmware of another convention is another model)
  cmd->callback([o, no_icount, input] {
    o->icount = !*no_icount;
    o->input = input->to_override(o->model);
    device::run_device(*o);
    std::printf("wrote %s\n", o->out.c_str());
  });
}

void add_device_hello(CLI::App &device) {
  struct Args {
    std::string port, firmware;
    int baud = 921600;
  };
  auto a = std::make_shared<Args>();
  auto *cmd = device.add_subcommand("hello", "Ask a device which model it runs (HELLO)");
  cmd->add_option("--port", a->port, "A serial port such as /dev/ttyUSB0, or qemu-rv32/qemu-xtensa with --firmware")->required();
  cmd->add_option("--firmware", a->firmware, "Emulated: the firmware ELF to boot");
  cmd->add_option("--baud", a->baud, "Serial baud rate")->capture_default_str();
  cmd->callback([a] {
    device::ConnectOptions co;
    co.port = a->port;
    co.firmware = a->firmware;
    co.baud = a->baud;
    co.icount = false;
    const device::Connection conn(co);
    const auto &h = conn.hello();
    std::printf("device on %s: target %s, protocol v%d\nmodel sha256 %s\nclasses %d, layers %d, input %dx%dx%d, arena %u bytes, clock %u Hz\n",
                a->port.c_str(), h.target.c_str(), h.proto_version, h.model_hash.c_str(), h.classes, h.layers, h.in_h, h.in_w,
                h.in_c, h.arena_bytes, h.clock_hz);
  });
}

}  // namespace

void add_device_commands(CLI::App &app) {
  auto *device = app.add_subcommand("device", "Run a model on a device over the serial protocol");
  device->require_subcommand(1);
  add_device_run(*device);
  add_device_hello(*device);
}

}  // namespace qp::cli
