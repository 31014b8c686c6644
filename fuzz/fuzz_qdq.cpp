// libFuzzer harness: the INT8 QDQ ONNX reader (src/quant/qdq_onnx, load_qdq_onnx) and, for a model it
// accepts, both host engines on one image. The reader must refuse what the kernels cannot run (layers that do
// not chain, scales or zero points out of range, tensors of the wrong size); a model it accepts must give the
// same int8 output on the reference and the optimized backend (differential check), with no ASan report.
// Mutation is structure-aware (onnx_mutator.h). The reader takes a path: each input goes through /dev/shm.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "onnx_mutator.h"
#include "quant/qdq_onnx.h"
#include "quant/qmodel.h"

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
  return qp::fuzz::mutate_onnx(data, size, max_size, seed);
}

namespace {

int64_t macs(const qp::quant::QModel &m) {
  int64_t n = 0;
  for (const auto &l : m.layers) n += static_cast<int64_t>(l.q.weight.size()) * std::max(1, l.out.h * l.out.w);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string path = qp::fuzz::scratch_file(data, size, ".onnx");
  qp::fuzz::run_expecting_qp_errors([&] {
    const qp::quant::QModelFile f = qp::quant::load_qdq_onnx(path);
    const qp::quant::QModel &m = f.model;
    if (m.input.size() <= 0 || m.input.size() > 64 * 64 * 3 || macs(m) > 2'000'000) return;
    std::vector<uint8_t> rgb(static_cast<size_t>(m.input.h) * m.input.w * 3);
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37 + 11);
    const qp::quant::Int8Engine ref(m, qp::quant::Backend::Reference);
    const std::vector<int8_t> a = ref.run(rgb.data());
    const qp::quant::Int8Engine opt(m, qp::quant::Backend::Optimized);
    const std::vector<int8_t> b = opt.run(rgb.data());
    if (a != b || a.size() != ref.output_size()) {
      std::fprintf(stderr, "FINDING: reference and optimized engines disagree (%zu vs %zu values)\n", a.size(), b.size());
      std::abort();
    }
  });
  return 0;
}
