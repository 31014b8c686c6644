// libFuzzer harness: the FP32 ONNX reader (src/model/onnx_io, load_onnx) and, for a model it accepts, the
// FP32 executor on one image: a graph the reader lets through must run without touching memory outside
// its tensors (shape/attribute/weight mismatches surface here as ASan reports). Mutation is structure-aware
// (onnx_mutator.h). The reader takes a path, so each input goes through a file in /dev/shm.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "model/executor_fp32.h"
#include "model/onnx_io.h"
#include "onnx_mutator.h"

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
  return qp::fuzz::mutate_onnx(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string path = qp::fuzz::scratch_file(data, size, ".onnx");
  qp::fuzz::run_expecting_qp_errors([&] {
    const qp::model::ModelFile mf = qp::model::load_onnx(path);
    const qp::model::Graph &g = mf.graph;
    // Run small models only (the seeds are small); the reader's checks are what is under test.
    if (g.input.size() <= 0 || g.input.size() > 64 * 64 * 4 || qp::model::mac_count(g) > 2'000'000) return;
    const qp::model::Fp32Executor exec(g);
    const std::vector<uint8_t> rgb(static_cast<size_t>(g.input.h) * g.input.w * std::max(3, g.input.c), 100);
    const std::vector<float> out = exec.run_rgb(rgb.data());
    if (static_cast<int64_t>(out.size()) != g.output().size()) {
      std::fprintf(stderr, "FINDING: the executor returned %zu values, the graph's output has %lld\n", out.size(),
                   static_cast<long long>(g.output().size()));
      std::abort();
    }
  });
  return 0;
}
