// Byte streams to a device: pipes and sockets (an emulator), a serial port (a board), a QEMU UNIX socket.
//
//   auto link = qp::device::open_serial("/dev/ttyUSB0", 115200);   // or connect_unix_socket(path, 5000)
//   link->write(frame, n);
//   size_t got = link->read(buf, sizeof buf, 100);                 // 0 after 100 ms of silence
//
// Every failure is a qp::Error naming the port and the fix. A stream owns its file descriptors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace qp::device {

class Stream {  // a byte pipe to a device
 public:
  virtual ~Stream() = default;
  // Writes all n bytes; throws qp::Error when the device is gone.
  virtual void write(const uint8_t *data, size_t n) = 0;
  // Waits up to timeout_ms for at least one byte; returns the bytes read, 0 on timeout. Throws qp::Error on
  // end of file (the device is gone).
  virtual size_t read(uint8_t *data, size_t cap, int timeout_ms) = 0;
  // What the stream is connected to, for messages ("/dev/ttyUSB0", "socket /tmp/qemu.sock").
  virtual std::string name() const { return "device"; }
};

// Pipes/sockets; owns and closes the fds (the same fd twice is fine). `name` appears in error messages.
std::unique_ptr<Stream> open_fd_stream(int read_fd, int write_fd, const std::string &name = "device");

// A serial port in raw 8N1 at `baud`, opened exclusively (TIOCEXCL + flock). A missing port, a busy port, a
// permission problem and an unsupported baud rate each give a qp::Error naming the port and the fix.
std::unique_ptr<Stream> open_serial(const std::string &path, int baud);

// Connects to a UNIX stream socket, retrying until timeout_ms (QEMU creates the socket a moment after start).
std::unique_ptr<Stream> connect_unix_socket(const std::string &path, int timeout_ms);

}  // namespace qp::device
