// One interface over every engine that runs a QModel: the host reference engine, the host optimized engine
// (both quant::Int8Engine) and the firmware model package on a device (device::DeviceEngine, src/device/
// device_engine.h). Each runs the same graph, gives the int8 output vector and can report every node's output
// in trace order (the QModel's layer order), so triage and tests compare any two engines by one code path
// (verify::triage_engines).
//
//   qp::quant::Int8Engine ref(q, qp::quant::Backend::Reference), opt(q);
//   const auto in = qp::quant::EngineInput::from_pixels(rgb);
//   qp::quant::NodeTrace a = ref.trace(in), b = opt.trace(in);   // a.crc == b.crc: every node bit-exact
//
// A run may change an engine's state (a device's connection), so the methods are not const; Int8Engine's own
// const run() stays for callers that share one engine between threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qp::quant {

// What one run takes: the image's pixel bytes (H*W*C, HWC; mapped through the model's pixel table, as the
// loader's images are) or the int8 input tensor itself (H*W*C, HWC, e.g. a TFLite model's own input tensor).
// Exactly one of the two is set.
struct EngineInput {
  std::vector<uint8_t> pixels;
  std::vector<int8_t> tensor;
  static EngineInput from_pixels(std::vector<uint8_t> p) {
    EngineInput in;
    in.pixels = std::move(p);
    return in;
  }
  static EngineInput from_tensor(std::vector<int8_t> t) {
    EngineInput in;
    in.tensor = std::move(t);
    return in;
  }
  bool is_tensor() const { return pixels.empty(); }
  size_t size() const { return is_tensor() ? tensor.size() : pixels.size(); }
};

// Every node's output of one run, in trace order: its byte count and CRC-32 (qp_proto_crc32, the device
// protocol's TRACE checksum) always; the full bytes only where the engine has them at no extra cost (the host
// engines), else `tensors` is empty and Engine::node_output fetches one.
struct NodeTrace {
  std::vector<uint32_t> size, crc;
  std::vector<std::vector<int8_t>> tensors;
  bool has_tensors() const { return !tensors.empty() || size.empty(); }
};

// CRC-32 of one node's bytes, as NodeTrace and the device's TRACE reply compute it.
uint32_t node_crc(const std::vector<int8_t> &t);
// A NodeTrace of full tensors (sizes and CRCs computed from them).
NodeTrace node_trace_of(std::vector<std::vector<int8_t>> tensors);

class Engine {
 public:
  virtual ~Engine() = default;
  // For reports and errors: "host reference", "host optimized (avx2)", "qemu-rv32 firmware", ...
  virtual std::string name() const = 0;
  // The int8 output vector's length (the last node's output).
  virtual size_t output_size() const = 0;
  // Runs one input; returns the int8 output vector. A wrong input size, or an input kind the engine cannot
  // take (a device takes pixels only), throws qp::Error.
  virtual std::vector<int8_t> infer(const EngineInput &in) = 0;
  // Runs one input and reports every node (see NodeTrace).
  virtual NodeTrace trace(const EngineInput &in) = 0;
  // One node's full output for this input (node: index in trace order); a node the model lacks throws qp::Error.
  virtual std::vector<int8_t> node_output(const EngineInput &in, int node) = 0;

 protected:
  Engine() = default;
  Engine(const Engine &) = default;
  Engine &operator=(const Engine &) = default;
};

}  // namespace qp::quant
