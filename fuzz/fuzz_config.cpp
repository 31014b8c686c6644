// libFuzzer harness: pipeline config files (src/pipeline, read_config): the same bytes read as a TOML file
// and as a JSON file. Malformed files must give a qp::Error naming the file (and the line for TOML).
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "pipeline/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  for (const char *suffix : {".toml", ".json"}) {
    const std::string path = qp::fuzz::scratch_file(data, size, suffix);
    qp::fuzz::run_expecting_qp_errors([&] {
      for (const auto &[k, v] : qp::pipeline::read_config(path)) (void)k.size(), (void)v.size();
    });
  }
  return 0;
}
