// Building a generated emulator project and measuring the firmware: flash and RAM use from the ELF
// sections against the target's budget, the model's weight bytes, the runtime's code bytes, and the
// absence of floating-point support routines and of a heap allocator.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "firmware/codegen.h"

namespace qp::firmware {

struct Footprint {
  std::string target;
  uint64_t code_bytes = 0;          // all functions (symbol sizes)
  uint64_t runtime_code_bytes = 0;  // qparity's own functions (qp_*): kernels, model, protocol, app, board support
  uint64_t rodata_bytes = 0;        // read-only data (weights live here): flash sections minus code
  uint64_t weights_bytes = 0;       // the model's parameter arrays
  uint64_t subset_bytes = 0;        // embedded self-test images
  uint64_t data_bytes = 0, bss_bytes = 0;
  uint64_t flash_bytes = 0;         // code + read-only data + initialised data
  uint64_t ram_bytes = 0;           // data + bss (arena, buffers, stack reservation)
  uint64_t arena_bytes = 0, naive_arena_bytes = 0;
  uint64_t stack_bytes = 0;         // the stack reserved by the link (0 when unknown)
  uint64_t flash_budget = 0, ram_budget = 0;
  std::vector<std::string> float_symbols;  // soft-float routines found (must be empty)
  nlohmann::json to_json() const;
};

// Reads an ELF32 file's sections and symbols. Throws qp::Error when it is not an ELF32 file.
Footprint elf_footprint(const std::string &elf_path);

// Runs `make` in a generated emulator project (dir) and returns the ELF's path. `extra_make_args`
// are passed to make (tests use them to provoke the link-time checks). On failure, throws qp::Error
// with the end of the build log; a budget, float or heap violation is named as such.
std::string build_firmware(const std::string &dir, const std::string &extra_make_args = "");

// Checks the footprint against the target's budgets and the no-float rule; throws qp::Error naming
// the violation.
void check_footprint(const Footprint &f);

}  // namespace qp::firmware
