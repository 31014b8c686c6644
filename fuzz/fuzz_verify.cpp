// libFuzzer harness: `qparity verify`'s reading of results JSON (src/verify: the host's results.json, the
// device's device.json and optional FP32 results) through to the verdict and its outputs. Untrusted
// numbers must be checked, not truncated; missing or mistyped keys must be a qp::Error naming the file
// and the key, never an escaped nlohmann exception (type_error, out_of_range).
//
// Input: the host JSON, then "\n--\n", the device JSON, then optionally "\n--\n" and FP32 results JSON.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "verify/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string text(reinterpret_cast<const char *>(data), size);
  const std::string sep = "\n--\n";
  const size_t a = text.find(sep);
  if (a == std::string::npos) return 0;
  const size_t b = text.find(sep, a + sep.size());
  using qp::verify::json;
  const json host = json::parse(text.substr(0, a), nullptr, false);
  const json device = json::parse(text.substr(a + sep.size(), b == std::string::npos ? std::string::npos : b - a - sep.size()),
                                  nullptr, false);
  if (host.is_discarded() || device.is_discarded()) return 0;  // syntax errors: nlohmann's parser, not ours
  qp::verify::VerifyOptions opt;
  if (b != std::string::npos) {
    json fp32 = json::parse(text.substr(b + sep.size()), nullptr, false);
    if (fp32.is_discarded()) return 0;
    opt.fp32 = std::move(fp32);
  }
  opt.triage = [](const json &) { return qp::verify::TriageResult{}; };
  qp::fuzz::run_expecting_qp_errors([&] {
    const qp::verify::VerifyReport r = qp::verify::verify(host, device, opt);
    (void)qp::verify::format_summary(r);
    (void)qp::verify::verdict_json(r, "host.json", "device.json").dump();
    (void)qp::verify::junit_xml(r);
  });
  return 0;
}
