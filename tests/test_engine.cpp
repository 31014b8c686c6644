// quant::Engine (src/quant/engine.h): the host engines behind the one interface report the same nodes, and the
// generic triage (verify::triage_engines) names the node where two engines first differ, whichever engines they
// are: full tensors on both sides, or CRCs only with one node fetched. The device engine: test_firmware.cpp.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "common/error.h"
#include "quant/engine.h"
#include "quant/input_map.h"
#include "quant/qmodel.h"
#include "test_quant_util.h"
#include "test_util.h"
#include "verify/verify.h"

using namespace qp;

namespace {

// Residual Adds (identity and projection shortcuts), a Concat, pooling, Dense, Softmax: every node kind the
// trace order has to get right.
const char *const kEngineSpec =
    "conv3x3(8) relu add{ conv3x3(8) relu conv3x3(8) | } relu add{ conv3x3s2(8) | conv1x1s2(8) } relu "
    "concat{ conv1x1(4) | } maxpool2 gap dense(K) softmax";

quant::EngineInput image_input(int size, uint64_t seed) {
  return quant::EngineInput::from_pixels(test::random_image(size, size, seed).pixels);
}

// A host engine seen through a device's eyes: its trace gives sizes and CRCs only, one node's output is fetched
// on request (counted), and it may stop after `nodes` nodes.
class CrcOnlyEngine : public quant::Engine {
 public:
  CrcOnlyEngine(quant::Engine &inner, size_t nodes = SIZE_MAX) : inner_(inner), nodes_(nodes) {}
  std::string name() const override { return "crc-only " + inner_.name(); }
  size_t output_size() const override { return inner_.output_size(); }
  std::vector<int8_t> infer(const quant::EngineInput &in) override { return inner_.infer(in); }
  quant::NodeTrace trace(const quant::EngineInput &in) override {
    quant::NodeTrace t = inner_.trace(in);
    t.tensors.clear();
    if (t.size.size() > nodes_) {
      t.size.resize(nodes_);
      t.crc.resize(nodes_);
    }
    return t;
  }
  std::vector<int8_t> node_output(const quant::EngineInput &in, int node) override {
    fetched.push_back(node);
    return inner_.node_output(in, node);
  }
  std::vector<int> fetched;

 private:
  quant::Engine &inner_;
  size_t nodes_;
};

std::vector<quant::OptIsa> available_isas() {
  std::vector<quant::OptIsa> r;
  for (auto isa : {quant::OptIsa::Portable, quant::OptIsa::Avx2, quant::OptIsa::AvxVnni,
                   quant::OptIsa::Avx512Vnni, quant::OptIsa::Neon,
                   quant::OptIsa::NeonDot})
    if (quant::opt_isa_available(isa)) r.push_back(isa);
  return r;
}

}  // namespace

TEST(Engine, HostEnginesReportIdenticalNodesOfAResidualModel) {
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, kEngineSpec, 16, 5);
  const auto names = verify::trace_layer_names(m);
  quant::Int8Engine ref(m, quant::Backend::Reference);
  EXPECT_EQ(ref.name(), "host reference");
  std::vector<std::unique_ptr<quant::Int8Engine>> opts;
  for (const auto isa : available_isas()) {
    opts.push_back(std::make_unique<quant::Int8Engine>(m, quant::Backend::Optimized, isa));
    EXPECT_EQ(opts.back()->name(), std::string("host optimized (") + quant::opt_isa_name(isa) + ")");
  }
  ASSERT_FALSE(opts.empty());
  const auto table = quant::input_table(m.convention, m.input_params(), m.input.c);
  for (uint64_t s = 0; s < 3; ++s) {
    const auto in = image_input(16, 40 + s);
    quant::Engine &r = ref;
    const quant::NodeTrace t = r.trace(in);
    ASSERT_EQ(t.size.size(), m.layers.size());
    ASSERT_EQ(t.tensors.size(), m.layers.size());
    for (size_t k = 0; k < m.layers.size(); ++k) {
      EXPECT_EQ(t.size[k], static_cast<uint32_t>(m.layers[k].out.size())) << names[k];
      EXPECT_EQ(t.crc[k], quant::node_crc(t.tensors[k])) << names[k];
    }
    const auto out = r.infer(in);
    ASSERT_EQ(out.size(), r.output_size());
    EXPECT_EQ(out, t.tensors.back());
    EXPECT_EQ(r.node_output(in, 3), t.tensors[3]);
    // The int8 input tensor itself gives the same run as its pixels.
    std::vector<int8_t> x(in.pixels.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = table[(i % static_cast<size_t>(m.input.c)) * 256 + in.pixels[i]];
    EXPECT_EQ(r.trace(quant::EngineInput::from_tensor(x)).crc, t.crc);
    for (auto &o : opts) {
      const quant::NodeTrace u = o->trace(in);
      EXPECT_EQ(u.size, t.size) << o->name();
      EXPECT_EQ(u.crc, t.crc) << o->name();
      EXPECT_EQ(o->infer(in), out) << o->name();
      const auto tr = verify::triage_engines(ref, *o, in, names);
      EXPECT_EQ(tr.layer, -1) << o->name() << ": " << tr.layer_name;
    }
  }
}

// A host engine whose model has one node's weights changed: the generic triage names that node, against the
// reference and against the optimized engine, with the full comparison's numbers.
TEST(Engine, TriageNamesTheNodeOfAPerturbedHostEngine) {
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, kEngineSpec, 16, 6);
  const auto names = verify::trace_layer_names(m);
  quant::Int8Engine ref(m, quant::Backend::Reference), opt(m);
  const auto in = image_input(16, 77);
  std::vector<std::vector<int8_t>> host;
  ref.run(in.pixels.data(), &host);
  std::vector<size_t> weighted;
  for (size_t k = 0; k < m.layers.size(); ++k)
    if (!m.layers[k].q.bias.empty()) weighted.push_back(k);
  ASSERT_GE(weighted.size(), 5u);
  for (const size_t k : {weighted[1], weighted[3], weighted.back()}) {
    quant::QModel pm = m;
    pm.layers[k].q.bias[0] += 1 << 20;  // channel 0 saturates
    quant::Int8Engine bad(pm, quant::Backend::Reference);
    std::vector<std::vector<int8_t>> dev;
    bad.run(in.pixels.data(), &dev);
    for (size_t j = 0; j < k; ++j) ASSERT_EQ(dev[j], host[j]) << "node " << j << " before the perturbed " << k;
    ASSERT_NE(dev[k], host[k]) << "the perturbation of node " << k << " changed nothing for this image";
    const auto full = verify::compare_traces(host, dev, names);
    for (quant::Engine *e : {static_cast<quant::Engine *>(&ref), static_cast<quant::Engine *>(&opt)}) {
      const auto t = verify::triage_engines(*e, bad, in, names);
      EXPECT_EQ(t.layer, static_cast<int>(k)) << e->name();
      EXPECT_EQ(t.layer_name, names[k]);
      EXPECT_EQ(t.max_abs_diff, full.max_abs_diff);
      EXPECT_EQ(t.first_index, full.first_index);
      EXPECT_EQ(t.differing, full.differing);
      EXPECT_EQ(t.size, host[k].size());
    }
  }
  EXPECT_EQ(names[weighted.back()].find(std::to_string(weighted.back()) + " Dense"), 0u) << names[weighted.back()];
}

// An engine that reports CRCs only (as a device does): nothing is fetched when every node agrees, exactly the
// first differing node otherwise, and a trace that stops early diverges where it stops.
TEST(Engine, TriageFetchesOnlyTheFirstDifferingNodeOfACrcOnlyEngine) {
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, kEngineSpec, 16, 7);
  const auto names = verify::trace_layer_names(m);
  quant::Int8Engine ref(m, quant::Backend::Reference);
  const auto in = image_input(16, 3);
  CrcOnlyEngine same(ref);
  EXPECT_FALSE(same.trace(in).has_tensors());
  EXPECT_EQ(verify::triage_engines(ref, same, in, names).layer, -1);
  EXPECT_TRUE(same.fetched.empty());

  size_t k = 0;
  while (m.layers[k].op != model::Op::Add) ++k;  // perturb the first Add's first producer
  const size_t node = static_cast<size_t>(m.layers[k].inputs[0]);
  ASSERT_FALSE(m.layers[node].q.bias.empty());
  quant::QModel pm = m;
  pm.layers[node].q.bias[1] += 1 << 20;
  quant::Int8Engine bad(pm, quant::Backend::Reference);
  CrcOnlyEngine crc_bad(bad);
  const auto t = verify::triage_engines(ref, crc_bad, in, names);
  EXPECT_EQ(t.layer, static_cast<int>(node));
  EXPECT_EQ(crc_bad.fetched, std::vector<int>{static_cast<int>(node)});
  EXPECT_GT(t.max_abs_diff, 0);
  // Both sides CRC-only: each fetches the node once.
  CrcOnlyEngine crc_ref(ref);
  crc_bad.fetched.clear();
  EXPECT_EQ(verify::triage_engines(crc_ref, crc_bad, in, names).layer, static_cast<int>(node));
  EXPECT_EQ(crc_ref.fetched, std::vector<int>{static_cast<int>(node)});
  EXPECT_EQ(crc_bad.fetched, std::vector<int>{static_cast<int>(node)});

  CrcOnlyEngine cut(ref, 4);
  const auto c = verify::triage_engines(ref, cut, in, names);
  EXPECT_EQ(c.layer, 4);
  EXPECT_EQ(c.differing, static_cast<size_t>(m.layers[4].out.size()));
  EXPECT_TRUE(cut.fetched.empty());  // a node the engine lacks is not asked for
}

TEST(Engine, RefusesAnInputOfTheWrongSizeOrAMissingNode) {
  test::TempDir dir;
  const auto m = test::quantized_random_model(dir, kEngineSpec, 16, 8);
  quant::Int8Engine opt(m);
  quant::Engine &e = opt;
  auto message = [](const std::function<void()> &f) {
    try {
      f();
    } catch (const Error &err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { e.infer(image_input(8, 1)); }).find("got an input of 192 bytes"), std::string::npos);
  EXPECT_NE(message([&] { e.trace(quant::EngineInput::from_tensor(std::vector<int8_t>(5))); }).find(e.name()),
            std::string::npos);
  auto both = image_input(16, 1);
  both.tensor.assign(both.pixels.size(), 0);
  EXPECT_NE(message([&] { e.infer(both); }).find("both pixels and an int8 tensor"), std::string::npos);
  const int n = static_cast<int>(m.layers.size());
  EXPECT_NE(message([&] { e.node_output(image_input(16, 1), n); }).find("has no node " + std::to_string(n)), std::string::npos);
}
