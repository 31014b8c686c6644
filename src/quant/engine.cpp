// The host engines as quant::Engine (engine.h): Int8Engine's runs behind the interface.
#include "quant/engine.h"

#include "common/error.h"
#include "qp_proto.h"
#include "quant/qmodel.h"

namespace qp::quant {

uint32_t node_crc(const std::vector<int8_t> &t) {
  return qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(t.data()), static_cast<uint32_t>(t.size()));
}

NodeTrace node_trace_of(std::vector<std::vector<int8_t>> tensors) {
  NodeTrace t;
  for (const auto &x : tensors) {
    t.size.push_back(static_cast<uint32_t>(x.size()));
    t.crc.push_back(node_crc(x));
  }
  t.tensors = std::move(tensors);
  return t;
}

namespace {

// The input's bytes for Int8Engine: pixels through the pixel table, or the int8 tensor as it is.
void check_input(const EngineInput &in, const QModel &m, const std::string &engine) {
  const size_t want = static_cast<size_t>(m.input.size());
  if (!in.pixels.empty() && !in.tensor.empty())
    fail("an input for the " + engine + " engine holds both pixels and an int8 tensor", "set one of the two");
  if (in.size() != want)
    fail("the " + engine + " engine got an input of " + std::to_string(in.size()) + " bytes, but the model takes " +
             model::shape_str(m.input) + " = " + std::to_string(want),
         "prepare the image at the model's input size (HxWxC, HWC order)");
}

}  // namespace

std::string Int8Engine::name() const {
  if (backend_ == Backend::Reference) return "host reference";
  return std::string("host optimized (") + opt_isa_name(opt_isa_effective(isa_)) + ")";
}

std::vector<int8_t> Int8Engine::infer(const EngineInput &in) {
  check_input(in, m_, name());
  return in.is_tensor() ? run_int8(in.tensor.data()) : run(in.pixels.data());
}

NodeTrace Int8Engine::trace(const EngineInput &in) {
  check_input(in, m_, name());
  std::vector<std::vector<int8_t>> t;
  if (in.is_tensor())
    run_int8(in.tensor.data(), &t);
  else
    run(in.pixels.data(), &t);
  return node_trace_of(std::move(t));
}

std::vector<int8_t> Int8Engine::node_output(const EngineInput &in, int node) {
  if (node < 0 || static_cast<size_t>(node) >= m_.layers.size())
    fail("the " + name() + " engine has no node " + std::to_string(node) + " (the model has " +
             std::to_string(m_.layers.size()) + ")",
         "ask for a node in 0.." + std::to_string(static_cast<int>(m_.layers.size()) - 1));
  return std::move(trace(in).tensors[static_cast<size_t>(node)]);
}

}  // namespace qp::quant
