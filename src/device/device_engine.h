// The firmware model package on a device as a quant::Engine (quant/engine.h): a run is INFER, the per-node
// report is TRACE (every node's size and CRC-32, no bytes), one node's full output is LAYER (fetched in chunks).
// The device runs the model it was generated from (HELLO's model hash is checked on connecting), so the
// node sizes and the output length are the model's.
//
//   qp::device::ConnectOptions co;                 // port "qemu-rv32" + firmware ELF, or a serial port
//   qp::device::DeviceEngine dev(co, model_file);  // connects, checks HELLO against the model
//   qp::quant::NodeTrace t = dev.trace(qp::quant::EngineInput::from_pixels(rgb));   // t.crc: one per node
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "device/connection.h"
#include "quant/engine.h"
#include "quant/model_file.h"

namespace qp::device {

class DeviceEngine : public quant::Engine {
 public:
  // Connects (an emulated board is booted) and refuses a device that runs another model (Connection).
  // `model` must outlive the engine.
  DeviceEngine(const ConnectOptions &o, const quant::QModelFile &model);
  ~DeviceEngine() override;
  // "<HELLO's target> firmware" ("qemu-rv32 firmware"), " on <port>" added for a serial port.
  std::string name() const override;
  size_t output_size() const override;
  // The device takes pixels only (it maps them through its own pixel table): an int8 tensor throws qp::Error.
  std::vector<int8_t> infer(const quant::EngineInput &in) override;
  quant::NodeTrace trace(const quant::EngineInput &in) override;  // sizes and CRCs, no tensors
  std::vector<int8_t> node_output(const quant::EngineInput &in, int node) override;
  Connection &connection() { return *conn_; }

 private:
  const std::vector<uint8_t> &pixels(const quant::EngineInput &in) const;
  const quant::QModelFile &mf_;
  std::string port_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace qp::device
