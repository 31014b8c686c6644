// Emulated boards (see emulator.h).
#include "device/emulator.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace qp::device {
namespace fs = std::filesystem;

bool is_emulated_port(const std::string &port) { return port == "qemu-rv32" || port == "qemu-xtensa"; }

namespace {

bool on_path(const std::string &exe) {
  const char *path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && access((fs::path(dir) / exe).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

Emulator::Emulator(const EmulatorOptions &o) {
  if (!is_emulated_port(o.target)) fail("unknown emulated board '" + o.target + "'", "use qemu-rv32 or qemu-xtensa");
  if (!fs::is_regular_file(o.elf)) fail("firmware '" + o.elf + "' does not exist", "build it with 'qparity firmware --target " + o.target + "'");
  fs::create_directories(o.workdir);
  const std::string tag = o.target + "-" + std::to_string(o.index);
  log_ = (fs::path(o.workdir) / (tag + ".console.log")).string();
  std::vector<std::string> args;
  const bool rv32 = o.target == "qemu-rv32";
  const bool uart = rv32 && !o.semihost_link;
  if (rv32 && o.semihost_link) {
    args = {"qemu-system-riscv32", "-M", "virt", "-cpu", "rv32,f=false,d=false", "-bios", "none", "-semihosting-config",
            "enable=on,arg=firmware,arg=qp-semihost", "-display", "none", "-monitor", "none", "-serial", "none", "-kernel", o.elf};
    if (o.icount) args.insert(args.end(), {"-icount", "shift=0,sleep=off"});
  } else if (rv32) {
    // A UNIX socket path must stay short (108 bytes): keep it in /tmp.
    socket_ = "/tmp/qparity-" + std::to_string(getpid()) + "-" + std::to_string(o.index) + ".sock";
    fs::remove(socket_);
    args = {"qemu-system-riscv32", "-M", "virt", "-cpu", "rv32,f=false,d=false", "-bios", "none", "-semihosting-config",
            "enable=on", "-display", "none", "-monitor", "none", "-chardev",
            "socket,id=u0,path=" + socket_ + ",server=on,wait=on", "-serial", "chardev:u0", "-kernel", o.elf};
    if (o.icount) args.insert(args.end(), {"-icount", "shift=0,sleep=off"});
  } else {
    args = {"qemu-system-xtensa", "-M", "sim", "-cpu", "lx106", "-semihosting", "-display", "none", "-monitor", "none",
            "-serial", "none", "-device", "loader,file=" + o.elf + ",cpu-num=0"};
    if (o.icount) args.insert(args.end(), {"-icount", "shift=5,sleep=off"});
  }
  if (!on_path(args[0])) fail(args[0] + " is not installed", "install QEMU: scripts/install-deps.sh build (package qemu-system-misc)");
  for (const auto &a : args) command_ += (command_.empty() ? "" : " ") + a;

  int to_child[2] = {-1, -1}, from_child[2] = {-1, -1};
  if (!uart && (pipe(to_child) != 0 || pipe(from_child) != 0)) fail("could not create pipes for QEMU");
  const int log_fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) fail("could not write '" + log_ + "'", "check that the output folder is writable");
  pid_ = fork();
  if (pid_ < 0) fail("could not start QEMU (fork failed)");
  if (pid_ == 0) {
    const int devnull = open("/dev/null", O_RDWR);
    if (uart) {
      dup2(devnull, 0);
      dup2(log_fd, 1);
    } else {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
    }
    dup2(log_fd, 2);
    setpgid(0, 0);
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  if (uart) {
    try {
      stream_ = connect_unix_socket(socket_, 15000);
    } catch (const Error &e) {
      const std::string tail = console_tail();
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      fail("QEMU (" + o.target + ") did not come up: " + std::string(e.what()) + "\n" + tail, "run the command by hand: " + command_);
    }
  } else {
    close(to_child[0]);
    close(from_child[1]);
    fcntl(to_child[1], F_SETFD, FD_CLOEXEC);
    fcntl(from_child[0], F_SETFD, FD_CLOEXEC);
    stream_ = open_fd_stream(from_child[0], to_child[1], o.target + " (QEMU semihosting)");
  }
}

std::string Emulator::console_tail(size_t bytes) const {
  std::ifstream in(log_, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

Emulator::~Emulator() {
  stream_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!socket_.empty()) {
    std::error_code ec;
    fs::remove(socket_, ec);
  }
}

}  // namespace qp::device
