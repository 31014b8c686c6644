// libFuzzer harness: the TensorFlow Lite reader (src/tflite/tflite_read, read_int8_tflite, and read_fp32_tflite for
// a file whose input is float32 without a QUANTIZE: an FP32 model) on raw bytes and, for an int8 model it accepts,
// both host engines on one input tensor; for an FP32 model, the FP32 executor on one input. The reader must refuse
// (qp::Error) what the kernels cannot run: a buffer the FlatBuffers verifier rejects, indices out of range, shapes
// that do not fit, quantization arrays of the wrong length, buffers shorter than their tensors, a mixed float/int8
// model. An int8 model it accepts must give the same int8 output on the reference and the optimized backend
// (differential check), with no ASan/UBSan report. Seeds: the ResNet-8 fixture and the small .tflite files
// make_corpus.sh writes (valid_fp32_mobile.tflite: an FP32 one).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz_util.h"
#include "model/executor_fp32.h"
#include "quant/qmodel.h"
#include "tflite/tflite_read.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  qp::fuzz::run_expecting_qp_errors([&] {
    if (qp::tflite::is_fp32_tflite_bytes(data, size)) {
      const qp::model::ModelFile f = qp::tflite::read_fp32_tflite(data, size, "fuzz.tflite");
      if (f.graph.input.size() > 64 * 64 * 3 || qp::model::mac_count(f.graph) > 20'000'000) return;
      std::vector<float> x(static_cast<size_t>(f.graph.input.size()));
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37 + 11) % 256) / 255.f;
      const std::vector<float> y = qp::model::Fp32Executor(f.graph).run(x.data());
      if (y.size() != static_cast<size_t>(f.graph.output().size())) {
        std::fprintf(stderr, "FINDING: the FP32 executor returned %zu values for %lld outputs\n", y.size(),
                     static_cast<long long>(f.graph.output().size()));
        std::abort();
      }
      return;
    }
    const qp::tflite::Int8Tflite t = qp::tflite::read_int8_tflite(data, size, "fuzz.tflite");
    const qp::quant::QModel &m = t.file.model;
    int64_t macs = 0;
    for (const auto &l : m.layers) macs += static_cast<int64_t>(l.q.weight.size()) * std::max(1, l.out.h * l.out.w);
    if (m.input.size() <= 0 || m.input.size() > 64 * 64 * 3 || macs > 20'000'000) return;
    std::vector<int8_t> x(static_cast<size_t>(m.input.size()));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>(i * 37 + 11);
    const qp::quant::Int8Engine ref(m, qp::quant::Backend::Reference);
    const std::vector<int8_t> a = ref.run_int8(x.data());
    const qp::quant::Int8Engine opt(m, qp::quant::Backend::Optimized);
    const std::vector<int8_t> b = opt.run_int8(x.data());
    if (a != b || a.size() != ref.output_size()) {
      std::fprintf(stderr, "FINDING: reference and optimized engines disagree (%zu vs %zu values)\n", a.size(), b.size());
      std::abort();
    }
  });
  return 0;
}
