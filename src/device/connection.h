// One connected device, whichever kind: an emulated board booted on a firmware ELF (QEMU) or a real
// board on a serial port, with the protocol client on top and its HELLO read. Used by `device run`,
// `device hello` and triage.
#pragma once
#include <memory>
#include <string>

#include "device/client.h"
#include "device/emulator.h"
#include "device/link.h"
#include "quant/qdq_onnx.h"

namespace qp::device {

struct ConnectOptions {
  std::string port;      // qemu-rv32, qemu-xtensa or a serial device
  std::string firmware;  // emulated: the ELF to boot (required)
  int baud = 921600;     // serial
  std::string workdir = "/tmp";  // emulated: console logs
  int index = 0;                 // emulated: instance number
  bool icount = true;            // emulated: exact instruction counts
  bool semihost_link = false;    // qemu-rv32: semihosting instead of the UART
  ClientOptions client;
};

class Connection {
 public:
  // Connects and reads HELLO (an emulated board announces READY when it boots; a real board is asked).
  // With `expect`, a device running firmware of another model (or another shape) is refused with a
  // clear error naming the fix.
  Connection(const ConnectOptions &o, const quant::QModelFile *expect = nullptr);
  Client &client() { return *client_; }
  const Hello &hello() const { return hello_; }

 private:
  std::unique_ptr<Emulator> emu_;      // declared before the client: destroyed after it
  std::unique_ptr<Stream> serial_;
  std::unique_ptr<Client> client_;
  Hello hello_;
};

}  // namespace qp::device
