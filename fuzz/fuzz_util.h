// Shared by the libFuzzer harnesses. The rule every harness enforces: a qp::Error is an expected outcome
// (the input was refused with a message); any other exception escaping the code under test is a finding
// and aborts the run, like a crash or a sanitizer report.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "common/error.h"

namespace qp::fuzz {

// Runs f(); a qp::Error is swallowed (printed when QP_FUZZ_VERBOSE is set, to see why a seed is refused),
// anything else is reported and aborts (libFuzzer saves the input).
template <typename F>
void run_expecting_qp_errors(F &&f) {
  try {
    f();
  } catch (const qp::Error &e) {
    if (std::getenv("QP_FUZZ_VERBOSE")) std::fprintf(stderr, "qp::Error: %s\n", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "FINDING: %s escaped instead of qp::Error: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "FINDING: a non-std exception escaped instead of qp::Error\n");
    std::abort();
  }
}

// For readers that only take a path: the input written to a per-process file in /dev/shm (memory, so a run
// costs a write(2), not a disk sync). `suffix` is the file name's ending (".onnx", ".json", ...).
inline std::string scratch_file(const uint8_t *data, size_t size, const std::string &suffix) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/qparity-fuzz-" + std::to_string(getpid()) + suffix;
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace qp::fuzz
