// compare_trace_crcs: kept apart from verify.cpp because it links the protocol's CRC-32 (qp_proto.c).
#include "common/error.h"
#include "qp_proto.h"
#include "verify/verify.h"

namespace qp::verify {

TriageResult compare_trace_crcs(const std::vector<std::vector<int8_t>> &host, const std::vector<uint32_t> &device_sizes,
                                const std::vector<uint32_t> &device_crcs, const std::vector<std::string> &names,
                                const std::function<std::vector<int8_t>(int layer)> &fetch_layer) {
  if (device_sizes.size() != device_crcs.size())
    throw Error("device trace has " + std::to_string(device_sizes.size()) + " layer sizes but " +
                std::to_string(device_crcs.size()) + " CRCs");
  const size_t layers = std::max(host.size(), device_sizes.size());
  for (size_t i = 0; i < layers; ++i) {
    static const std::vector<int8_t> none;
    const auto &h = i < host.size() ? host[i] : none;
    const bool on_device = i < device_sizes.size();
    const uint32_t crc = qp_proto_crc32(0, reinterpret_cast<const uint8_t *>(h.data()), static_cast<uint32_t>(h.size()));
    if (on_device && i < host.size() && device_sizes[i] == h.size() && device_crcs[i] == crc) continue;
    // First layer whose size or checksum differs: fetch it whole and measure.
    const std::vector<int8_t> d = on_device ? fetch_layer(static_cast<int>(i)) : std::vector<int8_t>{};
    TriageResult t = compare_traces({h}, {d}, {});
    t.layer = static_cast<int>(i);  // the checksums differ even when the fetched bytes happen to agree
    t.layer_name = i < names.size() ? names[i] : "";
    t.size = h.size();
    return t;
  }
  return {};
}

}  // namespace qp::verify
