// Firmware generation: turns an INT8 model (a chain or a DAG with Add/Concat) into a C99 model package
// that holds only data (weights and requantization parameters as static const arrays, a static tensor
// arena laid out by the shared memory planner, one node descriptor per layer for the checked-in layer
// loop src/firmware/app/qp_graph.c) and wraps it, with the runtime kernels, the protocol codec and the device
// application, into a project for one target: an ESP-IDF project (plus an Arduino sketch) for real
// boards, or a Makefile project for the emulated boards.
//
//   auto files = qp::firmware::generate_project(find_target("esp32s3"), model, sha256, subset);
//   qp::firmware::write_project(files, "out/fw", /*force=*/false);
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "quant/plan.h"
#include "quant/qmodel.h"

namespace qp::firmware {

struct Target {
  std::string name;        // what --target takes: esp32, esp32s3, esp32c3, qemu-rv32, qemu-xtensa
  std::string kind;        // "esp-idf" or "qemu"
  std::string description;
  uint32_t flash_budget;   // bytes of flash (code + read-only data) the firmware may use
  uint32_t ram_budget;     // bytes of data RAM (data + bss + stack)
  uint32_t clock_hz;       // the CPU clock used to turn cycles into time
};

const std::vector<Target> &targets();
// Throws qp::Error naming the known targets when `name` is not one of them.
const Target &find_target(const std::string &name);

// Which kernels the generated package calls. Mcu: the MCU-optimized conv/dense kernels of
// qp_runtime_mcu.h (weights packed at generation time, a per-layer scratch in the arena); Reference: the
// reference kernels of qp_runtime.h (the numeric specification). Both give identical bytes.
enum class Kernels { Mcu, Reference };

// The static tensor arena, laid out by the planner the host engines use (quant::plan_arena): one tensor
// per layer output (Flatten aliases its input) plus the input image and each MCU conv's scratch; a tensor
// lives from the layer that writes it to the last layer that reads it, and tensors whose lifetimes overlap
// never share bytes. First fit by decreasing size, 4-byte aligned. layer_inputs[k] names the tensors
// layer k reads (two for Add, one per part for Concat).
using MemoryPlan = quant::ArenaPlan;
MemoryPlan plan_memory(const quant::QModel &m, Kernels kernels = Kernels::Mcu);

struct SubsetImage {
  std::string file;          // shown in the generated comments
  int label = 0;
  std::vector<uint8_t> rgb;  // H*W*3, HWC
};

using Files = std::map<std::string, std::string>;  // relative path -> contents

// The model package: qp_model.h, qp_model.c, qp_subset.h, qp_subset.c. `model_sha256` is the INT8
// ONNX file's SHA-256 (what HELLO reports).
Files generate_model_package(const quant::QModel &m, const std::string &model_sha256, const std::vector<SubsetImage> &subset,
                             MemoryPlan *plan = nullptr, Kernels kernels = Kernels::Mcu);

// The whole project for a target: the package, the runtime, protocol and application sources, and the
// target's build files. Deterministic: the same inputs give the same bytes.
Files generate_project(const Target &t, const quant::QModel &m, const std::string &model_sha256,
                       const std::vector<SubsetImage> &subset, MemoryPlan *plan = nullptr, Kernels kernels = Kernels::Mcu);

// Writes files under dir. An existing non-empty dir that was not written by qparity, or any existing
// dir without `force`, is refused with a clear error (nothing a user saved is overwritten).
void write_project(const Files &files, const std::string &dir, bool force);

// The checked-in firmware sources embedded into the binary at build time (path -> contents).
const Files &embedded_sources();

}  // namespace qp::firmware
