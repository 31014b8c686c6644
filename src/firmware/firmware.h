// The firmware stage as one call: load the INT8 model, pick the self-test subset, generate the
// project, and for an emulated target build it and measure it.
#pragma once
#include <cstdint>
#include <string>

#include "firmware/build.h"
#include "firmware/codegen.h"
#include "quant/model_file.h"

namespace qp::firmware {

struct FirmwareOptions {
  std::string model;        // INT8 ONNX (QDQ) from `qparity quantize`
  std::string target = "esp32";
  std::string out;
  std::string subset_from;  // a test split; empty: no self-test subset
  std::string subset = "50";
  uint64_t seed = 1;
  bool force = false;
  bool skip_bad = false;    // skip unreadable images of subset_from instead of failing
  bool build = true;        // emulated targets: build and check the footprint
  std::string make_args;    // extra arguments for make (tests)
  Kernels kernels = Kernels::Mcu;
  quant::InputOverride input;  // --input-range/--mean/--std/--classes for a model that does not state them
};

struct FirmwareResult {
  std::string dir, elf;  // elf empty when not built
  MemoryPlan plan;
  Footprint footprint;   // filled when built
  std::string model_sha256;
  size_t subset_images = 0;
  size_t subset_requested = 0;  // > subset_images when the images would not fit a quarter of the flash budget
};

FirmwareResult make_firmware(const FirmwareOptions &o);

}  // namespace qp::firmware
