// Emulated ESP32-class boards: starts QEMU on a firmware ELF and connects a byte stream to it.
//   qemu-rv32:   qemu-system-riscv32 -M virt, the protocol on the board's 16550 UART (a UNIX socket chardev)
//   qemu-xtensa: qemu-system-xtensa -M sim -cpu lx106, the protocol on semihosting stdin/stdout (pipes)
// With icount, the firmware's cycle counter counts instructions exactly and deterministically.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

#include "device/link.h"

namespace qp::device {

// True for the ports that name an emulated board ("qemu-rv32", "qemu-xtensa").
bool is_emulated_port(const std::string &port);

struct EmulatorOptions {
  std::string target;   // qemu-rv32 or qemu-xtensa
  std::string elf;      // firmware built for that target
  std::string workdir;  // where the socket and the console log go
  int index = 0;        // instance number (several run in parallel)
  bool icount = true;   // exact instruction counts (about 2.7x slower)
  bool semihost_link = false;  // qemu-rv32: the protocol over semihosting stdin/stdout instead of the UART (bulk runs)
};

class Emulator {
 public:
  // Starts QEMU and connects; throws qp::Error (with QEMU's output) when it does not come up.
  explicit Emulator(const EmulatorOptions &o);
  ~Emulator();  // kills QEMU (SIGKILL: a QEMU blocked in a semihosting read ignores SIGTERM)
  Emulator(const Emulator &) = delete;
  Emulator &operator=(const Emulator &) = delete;

  Stream &stream() { return *stream_; }
  const std::string &console_log() const { return log_; }  // QEMU's stderr: the firmware's console
  std::string console_tail(size_t bytes = 2000) const;
  std::string command() const { return command_; }

 private:
  pid_t pid_ = -1;
  std::unique_ptr<Stream> stream_;
  std::string log_, socket_, command_;
};

}  // namespace qp::device
