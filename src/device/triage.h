// Triage on the device: when an image's decision or output differs between the host and the device,
// rerun it on the device in debug mode (TRACE: size and CRC-32 of every layer's output), compare with
// the host's reference kernels layer by layer, fetch the first differing layer's full output (LAYER)
// and name that layer and the largest difference. Both sides are quant::Engines (the host's Int8Engine,
// device::DeviceEngine) compared by verify::triage_engines, the code that compares any two engines.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "quant/model_file.h"
#include "verify/verify.h"

namespace qp::device {

struct TriageOptions {
  std::string model;     // INT8 ONNX the device runs
  quant::InputOverride input;  // convention and classes the file does not state (quant::apply_input_override)
  std::string port;      // qemu-rv32, qemu-xtensa or a serial port
  std::string firmware;  // emulated: the firmware ELF to boot
  std::string workdir = "/tmp";  // emulated: console logs
  int baud = 921600;
};

class DeviceTriage {
 public:
  explicit DeviceTriage(const TriageOptions &o);
  ~DeviceTriage();
  // image: a results entry with at least "file" (the image is read and prepared as the loader does).
  verify::TriageResult operator()(const nlohmann::json &image);
  // The same for raw pixels (H*W*3, HWC).
  verify::TriageResult triage_pixels(const std::vector<uint8_t> &rgb);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace qp::device
