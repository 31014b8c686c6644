// libFuzzer harness: the results journal (src/device/journal), the file an interrupted device run resumes
// from. The input is the journal file. A journal that opens must keep its promise: after one more append,
// reopening it gives the same entries plus the new one (a torn last line was truncated away, nothing else
// lost). Every entry is then read as a device run reads it back on resume (read_journal_entry, a 3-class
// model): a prediction outside the classes, a missing key or a wrong type must be a qp::Error, and an
// accepted entry must hold a class index in range and one score per class. Everything else must be a
// qp::Error naming the file.
#include <cstdint>
#include <map>
#include <string>

#include "device/journal.h"
#include "device/runner.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::string path = qp::fuzz::scratch_file(data, size, ".journal");
  // The header of the seeds in fuzz/corpus/journal (a device run's header has these keys).
  const nlohmann::json header = {{"qparity_device_journal", 1},
                                 {"model_sha256", "fuzz"},
                                 {"port", "qemu-rv32"},
                                 {"subset_sha256", "fuzz"}};
  qp::fuzz::run_expecting_qp_errors([&] {
    std::map<std::string, nlohmann::json> before;
    {
      qp::device::Journal j(path, header, false);
      before = j.entries();
      for (const auto &[k, v] : before)
        if (!j.has(k) || j.get(k) != v) std::abort();
      for (const auto &entry : before)
        qp::fuzz::run_expecting_qp_errors([&] {
          const std::string &k = entry.first;
          const qp::device::Inference r = qp::device::read_journal_entry(entry.second, 3, path, k);
          if (r.pred < 0 || r.pred >= 3 || r.scores.size() != 3) {
            std::fprintf(stderr, "FINDING: journal entry '%s' accepted with pred %d and %zu scores\n", k.c_str(), r.pred,
                         r.scores.size());
            std::abort();
          }
        });
      j.append("fuzz/new.png", {{"pred", 1}, {"scores", {1, 2, 3}}, {"cycles", 10}, {"micros", 0}});
    }
    before["fuzz/new.png"] = {{"pred", 1}, {"scores", {1, 2, 3}}, {"cycles", 10}, {"micros", 0}};
    qp::device::Journal again(path, header, false);
    if (again.entries() != before) {
      std::fprintf(stderr, "FINDING: reopening the journal after an append lost or changed entries (%zu vs %zu)\n",
                   again.entries().size(), before.size());
      std::abort();
    }
  });
  return 0;
}
