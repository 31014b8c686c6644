// The firmware model package as a quant::Engine (see device_engine.h).
#include "device/device_engine.h"

#include "common/error.h"

namespace qp::device {

DeviceEngine::DeviceEngine(const ConnectOptions &o, const quant::QModelFile &model)
    : mf_(model), port_(o.port), conn_(std::make_unique<Connection>(o, &model)) {}

DeviceEngine::~DeviceEngine() = default;

std::string DeviceEngine::name() const {
  const std::string fw = conn_->hello().target + " firmware";
  return is_emulated_port(port_) ? fw : fw + " on " + port_;
}

size_t DeviceEngine::output_size() const {
  const auto &m = mf_.model;
  return m.layers.empty() ? static_cast<size_t>(m.input.size()) : static_cast<size_t>(m.layers.back().out.size());
}

const std::vector<uint8_t> &DeviceEngine::pixels(const quant::EngineInput &in) const {
  if (in.is_tensor())
    fail("the " + name() + " takes image pixels (it maps them through its own pixel table), not an int8 input tensor",
         "pass the image's pixels (quant::EngineInput::from_pixels), or run the int8 tensor on a host engine");
  const size_t want = static_cast<size_t>(mf_.model.input.size());
  if (in.pixels.size() != want)
    fail("the " + name() + " got an input of " + std::to_string(in.pixels.size()) + " bytes, but " + mf_.path + " takes " +
             model::shape_str(mf_.model.input) + " = " + std::to_string(want),
         "prepare the image at the model's input size (HxWxC, HWC order)");
  return in.pixels;
}

std::vector<int8_t> DeviceEngine::infer(const quant::EngineInput &in) {
  return conn_->client().infer(pixels(in)).scores;
}

quant::NodeTrace DeviceEngine::trace(const quant::EngineInput &in) {
  Trace t = conn_->client().trace(pixels(in));
  if (t.size.size() != t.crc.size())
    fail("the " + name() + "'s trace has " + std::to_string(t.size.size()) + " node sizes but " + std::to_string(t.crc.size()) +
             " CRCs",
         "regenerate and reflash the firmware");
  quant::NodeTrace r;
  r.size = std::move(t.size);
  r.crc = std::move(t.crc);
  return r;
}

std::vector<int8_t> DeviceEngine::node_output(const quant::EngineInput &in, int node) {
  const auto &layers = mf_.model.layers;
  if (node < 0 || static_cast<size_t>(node) >= layers.size())
    fail("the " + name() + " has no node " + std::to_string(node) + " (" + mf_.path + " has " + std::to_string(layers.size()) + ")",
         "ask for a node in 0.." + std::to_string(static_cast<int>(layers.size()) - 1));
  const auto size = static_cast<uint32_t>(layers[static_cast<size_t>(node)].out.size());
  return conn_->client().layer_output(pixels(in), node, size);
}

}  // namespace qp::device
