// A connected device (see connection.h).
#include "device/connection.h"

#include "common/error.h"

namespace qp::device {

Connection::Connection(const ConnectOptions &o, const quant::QModelFile *expect) {
  Stream *s = nullptr;
  if (is_emulated_port(o.port)) {
    if (o.firmware.empty())
      fail(o.port + " needs the firmware ELF to boot", "pass --firmware (built by 'qparity firmware --target " + o.port + "')");
    EmulatorOptions eo;
    eo.target = o.port;
    eo.elf = o.firmware;
    eo.workdir = o.workdir;
    eo.index = o.index;
    eo.icount = o.icount;
    eo.semihost_link = o.semihost_link;
    emu_ = std::make_unique<Emulator>(eo);
    s = &emu_->stream();
  } else {
    serial_ = open_serial(o.port, o.baud);
    s = serial_.get();
  }
  client_ = std::make_unique<Client>(*s, o.client);
  hello_ = emu_ ? client_->wait_ready(60000) : client_->hello();
  if (!expect) return;
  const quant::QModel &m = expect->model;
  // Images that do not fit one frame are staged with IMAGE requests (client.h); HELLO carries each side as a u8.
  if (m.input.h > 255 || m.input.w > 255 || m.input.c > 255)
    fail(expect->path + " takes " + model::shape_str(m.input) + " images, more than the device protocol carries (255 per side)",
         "run it on the host with qparity eval, or use a model whose input is at most 255x255");
  if (hello_.model_hash != expect->sha256)
    fail("the device on " + o.port + " runs a different model (firmware made from sha256 " + hello_.model_hash.substr(0, 16) +
             "..., but " + expect->path + " is " + expect->sha256.substr(0, 16) + "...)",
         "flash firmware generated from this model: qparity firmware --model " + expect->path + " --target <board> --out DIR");
  if (hello_.classes != static_cast<int>(m.classes.size()) || hello_.in_h != m.input.h || hello_.in_w != m.input.w ||
      hello_.in_c != m.input.c)
    fail("the device on " + o.port + " reports a model with " + std::to_string(hello_.classes) + " classes and " +
             std::to_string(hello_.in_c) + "x" + std::to_string(hello_.in_h) + "x" + std::to_string(hello_.in_w) +
             " (CxHxW) inputs, but " + expect->path + " has " + std::to_string(m.classes.size()) + " and " +
             std::to_string(m.input.c) + "x" + std::to_string(m.input.h) + "x" + std::to_string(m.input.w),
         "regenerate and reflash the firmware");
}

}  // namespace qp::device
