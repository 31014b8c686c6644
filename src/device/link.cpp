// Byte streams to a device (see link.h): poll(2)-based reads with a timeout, writes that survive a closed
// peer without SIGPIPE, termios for serial ports.
#include "device/link.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.h"

namespace qp::device {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// write(2) to a pipe whose reader is gone raises SIGPIPE, which would kill the process. Block it for this
// thread around the write and swallow the pending signal, so the caller gets EPIPE instead.
ssize_t write_no_sigpipe(int fd, const uint8_t *data, size_t n) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  const ssize_t w = ::write(fd, data, n);
  const int saved_errno = errno;
  if (w < 0 && saved_errno == EPIPE && !sigismember(&old_set, SIGPIPE)) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved_errno;
  return w;
}

class FdStream : public Stream {
 public:
  FdStream(int read_fd, int write_fd, std::string name) : read_fd_(read_fd), write_fd_(write_fd), name_(std::move(name)) {
    struct stat st {};
    is_socket_ = ::fstat(write_fd_, &st) == 0 && S_ISSOCK(st.st_mode);
  }
  ~FdStream() override {
    ::close(read_fd_);
    if (write_fd_ != read_fd_) ::close(write_fd_);
  }
  FdStream(const FdStream &) = delete;
  FdStream &operator=(const FdStream &) = delete;

  void write(const uint8_t *data, size_t n) override {
    size_t done = 0;
    while (done < n) {
      const ssize_t w = is_socket_ ? ::send(write_fd_, data + done, n - done, MSG_NOSIGNAL)
                                   : write_no_sigpipe(write_fd_, data + done, n - done);
      if (w > 0) {
        done += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // non-blocking serial port: wait for room
        pollfd p{write_fd_, POLLOUT, 0};
        const int r = ::poll(&p, 1, 5000);
        if (r == 0)
          fail("writing to " + name_ + " stalled for 5 s",
               "is the board still connected and running? (a board in its bootloader does not read the port)");
        continue;
      }
      gone(w < 0 ? errno : EPIPE);
    }
  }

  size_t read(uint8_t *data, size_t cap, int timeout_ms) override {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
      pollfd p{read_fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, ms_left(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) gone(errno);
      if (r == 0) return 0;
      const ssize_t got = ::read(read_fd_, data, cap);
      if (got > 0) return static_cast<size_t>(got);
      if (got == 0) gone(0);
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        if (ms_left(deadline) == 0) return 0;
        continue;
      }
      gone(errno);
    }
  }

  std::string name() const override { return name_; }

 private:
  [[noreturn]] void gone(int err) const {
    fail("the device on " + name_ + " is gone (" + (err == 0 ? std::string("end of stream") : std::strerror(err)) + ")",
         "check that the board is still plugged in / the emulator is still running, then run the command again");
  }

  int read_fd_, write_fd_;
  std::string name_;
  bool is_socket_ = false;
};

// The termios constant for a baud rate, or B0 when the platform has none.
speed_t baud_constant(int baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
#ifdef B460800
    case 460800: return B460800;
#endif
#ifdef B500000
    case 500000: return B500000;
#endif
#ifdef B576000
    case 576000: return B576000;
#endif
#ifdef B921600
    case 921600: return B921600;
#endif
#ifdef B1000000
    case 1000000: return B1000000;
#endif
#ifdef B1500000
    case 1500000: return B1500000;
#endif
#ifdef B2000000
    case 2000000: return B2000000;
#endif
#ifdef B3000000
    case 3000000: return B3000000;
#endif
    default: return B0;
  }
}

}  // namespace

std::unique_ptr<Stream> open_fd_stream(int read_fd, int write_fd, const std::string &name) {
  return std::make_unique<FdStream>(read_fd, write_fd, name);
}

std::unique_ptr<Stream> open_serial(const std::string &path, int baud) {
  const speed_t speed = baud_constant(baud);
  if (speed == B0)
    fail("baud rate " + std::to_string(baud) + " is not supported for serial port " + path,
         "use one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1500000, "
         "2000000, 3000000 (the firmware's rate; 115200 is the default)");
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO)
      fail("serial port " + path + " does not exist",
           "is the board plugged in? list the ports with: ls /dev/ttyUSB* /dev/ttyACM* (macOS: ls /dev/cu.*)");
    if (err == EACCES || err == EPERM)
      fail("no permission to open serial port " + path,
           "add yourself to the dialout group: sudo usermod -aG dialout $USER, then log out and in again");
    if (err == EBUSY)
      fail("serial port " + path + " is busy (another program has it open exclusively)",
           "close idf.py monitor / screen / minicom / any other program using it, then run the command again");
    fail("cannot open serial port " + path + ": " + std::strerror(err), "check the port name (ls /dev/ttyUSB* /dev/ttyACM*)");
  }
  // Nothing owns fd until the stream is made: close it by hand on failure.
  auto bail = [&](const std::string &what, const std::string &fix) {
    ::close(fd);
    fail(what, fix);
  };
  if (!::isatty(fd)) bail(path + " is not a serial port", "pass the board's port, e.g. /dev/ttyUSB0 or /dev/ttyACM0");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    bail("serial port " + path + " is in use by another program",
         "close idf.py monitor / screen / minicom / any other program using it, then run the command again");
  if (::ioctl(fd, TIOCEXCL) != 0 && errno != ENOTTY)
    bail("cannot get exclusive use of serial port " + path + ": " + std::strerror(errno),
         "close any other program using it, then run the command again");
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0) bail("cannot read the settings of serial port " + path + ": " + std::strerror(errno), "");
  ::cfmakeraw(&tio);
  tio.c_cflag &= ~static_cast<tcflag_t>(CSTOPB | PARENB | CSIZE);
#ifdef CRTSCTS
  tio.c_cflag &= ~static_cast<tcflag_t>(CRTSCTS);
#endif
  tio.c_cflag |= CS8 | CLOCAL | CREAD;
  tio.c_cc[VMIN] = 0;
  tio.c_cc[VTIME] = 0;
  if (::cfsetispeed(&tio, speed) != 0 || ::cfsetospeed(&tio, speed) != 0 || ::tcsetattr(fd, TCSANOW, &tio) != 0)
    bail("serial port " + path + " does not accept " + std::to_string(baud) + " baud 8N1: " + std::strerror(errno),
         "try 115200 (every USB-serial adapter supports it) and build the firmware for the same rate");
  ::tcflush(fd, TCIOFLUSH);  // drop whatever the board printed before we opened the port
  return std::make_unique<FdStream>(fd, fd, path);
}

std::unique_ptr<Stream> connect_unix_socket(const std::string &path, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    fail("socket path " + path + " is too long (" + std::to_string(path.size()) + " bytes, at most " +
             std::to_string(sizeof addr.sun_path - 1) + ")",
         "use a shorter path, e.g. under /tmp");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  int last_err = 0;
  for (;;) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("cannot create a socket for " + path + ": " + std::strerror(errno), "");
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) == 0)
      return std::make_unique<FdStream>(fd, fd, "socket " + path);
    last_err = errno;
    ::close(fd);
    if (last_err == EACCES || last_err == EPERM)
      fail("no permission to connect to socket " + path, "check the socket's owner and mode (ls -l " + path + ")");
    if (last_err != ENOENT && last_err != ECONNREFUSED && last_err != EAGAIN && last_err != EINTR)
      fail("cannot connect to socket " + path + ": " + std::strerror(last_err), "check that the path is the emulator's socket");
    if (ms_left(deadline) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20, std::max(1, ms_left(deadline)))));
  }
  fail("no device answered on socket " + path + " within " + std::to_string(timeout_ms) + " ms (" + std::strerror(last_err) + ")",
       "is the emulator running with its serial port on this socket (QEMU: -serial unix:" + path +
           ",server)? check its log for a startup error");
}

}  // namespace qp::device
