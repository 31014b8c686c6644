// triage_engines (see verify.h): the first node whose CRC differs between two engines, then its full tensor.
#include "common/error.h"
#include "quant/engine.h"
#include "verify/verify.h"

namespace qp::verify {

TriageResult triage_engines(quant::Engine &reference, quant::Engine &other, const quant::EngineInput &in,
                            const std::vector<std::string> &names) {
  const quant::NodeTrace a = reference.trace(in), b = other.trace(in);
  for (const auto *t : {&a, &b})
    if (t->size.size() != t->crc.size() || (!t->tensors.empty() && t->tensors.size() != t->size.size()))
      throw Error("the " + (t == &a ? reference.name() : other.name()) + " engine's trace has " +
                  std::to_string(t->size.size()) + " node sizes, " + std::to_string(t->crc.size()) + " CRCs and " +
                  std::to_string(t->tensors.size()) + " tensors");
  const size_t nodes = std::max(a.size.size(), b.size.size());
  for (size_t i = 0; i < nodes; ++i) {
    const bool in_a = i < a.size.size(), in_b = i < b.size.size();
    if (in_a && in_b && a.size[i] == b.size[i] && a.crc[i] == b.crc[i]) continue;
    // First node whose size or checksum differs (or that one engine lacks): its full output from each.
    auto full = [&](quant::Engine &e, const quant::NodeTrace &t, bool present) -> std::vector<int8_t> {
      if (!present) return {};
      return t.has_tensors() ? t.tensors[i] : e.node_output(in, static_cast<int>(i));
    };
    const std::vector<int8_t> ha = full(reference, a, in_a), hb = full(other, b, in_b);
    TriageResult t = compare_traces({ha}, {hb}, {});
    t.layer = static_cast<int>(i);  // the checksums differ even when the fetched bytes happen to agree
    t.layer_name = i < names.size() ? names[i] : "";
    t.size = ha.size();
    return t;
  }
  return {};
}

}  // namespace qp::verify
