// Device evaluation: runs the representative subset (or the whole test set) of an INT8 model on a
// device — an emulated board (several QEMU instances in parallel) or a real board on a serial port —
// over the serial protocol, journaling each result as it arrives so an interrupted run resumes.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "device/client.h"
#include "quant/model_file.h"

namespace qp::device {

struct RunOptions {
  std::string model;          // INT8 ONNX; the device must report this file's SHA-256
  quant::InputOverride input; // convention and classes the file does not state (quant::apply_input_override)
  std::string data;           // test split
  std::string port;           // qemu-rv32, qemu-xtensa or a serial device such as /dev/ttyUSB0
  int baud = 921600;
  std::string subset = "50";  // a count or "all"
  uint64_t seed = 1;
  std::string out;            // device.json
  std::string firmware_dir;   // emulated: where the firmware is generated and built (default: beside --out)
  std::string firmware_elf;   // emulated: use this prebuilt firmware instead of generating one
  int jobs = 0;               // emulated: parallel QEMU instances (0: one per core for large runs)
  bool icount = true;         // emulated: exact instruction counts
  // qemu-rv32: "uart" (the board's 16550 UART, a real board's driver path), "semihost" (semihosting
  // stdin/stdout: several times faster for bulk runs) or "auto" (the UART below 100 images).
  std::string link = "auto";
  bool fresh = false;         // ignore an existing journal
  bool force = false;         // overwrite --out
  int timeout_ms = 10000;     // per reply
  int threads = 0;            // image loading
  bool skip_bad = false;      // skip unreadable images of the split (counted) instead of failing
  bool quiet = false;
};

// Returns the device.json document (also written to o.out): the results schema of `qparity eval`
// plus "platform", per-image "cycles"/"micros", "subset" and "device".
nlohmann::ordered_json run_device(const RunOptions &o);

// One entry of a device run's journal ({"pred", "scores", "cycles", "micros"}), checked against the model's
// `classes`: every key present, pred in [0, classes), exactly `classes` int8 scores, cycles a uint64 and micros
// a uint32. Anything else is a qp::Error naming the journal file, the entry's key (the image) and the fix
// (delete the journal or pass --fresh). Separate from run_device so fuzzers and tests can call it on any JSON.
Inference read_journal_entry(const nlohmann::json &entry, size_t classes, const std::string &journal_path,
                             const std::string &key);

}  // namespace qp::device
