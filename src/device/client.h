// The host side of the serial protocol (qp_proto.h): one request at a time, each answered by exactly one
// reply, over an unreliable byte stream.
//
//   auto link = qp::device::open_serial("/dev/ttyUSB0", 115200);
//   qp::device::Client client(*link);
//   qp::device::Hello hello = client.wait_ready(10000);   // the READY frame the firmware sends at boot
//   qp::device::Inference r = client.infer(rgb);          // rgb: in_h * in_w * in_c bytes
//
// An image that does not fit one frame with its request is staged first with IMAGE requests (in order, up to
// QP_IMAGE_MAX_CHUNK bytes each), then INFER/TRACE/LAYER go without pixels ("the staged image"). An inference
// consumes the staged image, so every request stages it again; a device reboot (READY) or a NOT_STAGED refusal
// in the middle restarts the whole upload, so nothing ever runs on a half-staged image.
//
// Reliability: every attempt of a request gets a fresh sequence number and a reply is accepted only with the
// expected type and the sequence number of one of the current request's attempts, so stale replies and
// duplicates are dropped (and counted). A frame lost either way is resent after timeout_ms, up to `retries`
// extra times; requests are idempotent, so a resend is always safe. A READY frame in the middle of a request
// means the device rebooted: it is counted, on_reset is called and the request is resent.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device/link.h"
#include "device/qp_proto.h"

namespace qp::device {

struct Hello {
  int proto_version = 0;
  std::string model_hash;  // 64 lowercase hex chars: SHA-256 of the INT8 ONNX file the firmware was made from
  std::string target;      // "qemu-rv32", "esp32s3", ...
  uint32_t arena_bytes = 0, clock_hz = 0;
  int classes = 0, layers = 0, in_h = 0, in_w = 0, in_c = 0;
};

struct Inference {
  int pred = 0;
  std::vector<int8_t> scores;  // one per class
  uint64_t cycles = 0;         // cycle counter delta (instructions under QEMU -icount)
  uint32_t micros = 0;         // 0 when the board has no timer
};

struct Trace {
  int pred = 0;
  std::vector<uint32_t> size, crc;  // bytes and CRC-32 of every layer's output
};

struct ClientOptions {
  int timeout_ms = 5000;  // per attempt
  int retries = 3;        // extra attempts after a timeout
  int classes = 0;        // the model's classes: an INFER reply with another score count is refused (0: not checked)
};

struct ClientStats {
  uint64_t frames_sent = 0;      // request frames written, resends included
  uint64_t retries = 0;          // resends (after a timeout or a device reboot)
  uint64_t bad_frames = 0;       // candidate frames the decoder rejected (bad CRC, version or length)
  uint64_t skipped_bytes = 0;    // bytes the decoder discarded while hunting for a frame
  uint64_t resets_detected = 0;  // unexpected READY frames (device reboots)
  uint64_t stale_replies = 0;    // valid frames dropped: another request's sequence number or an unexpected type
  uint64_t image_chunks = 0;     // IMAGE chunks the device acknowledged
  uint64_t image_restarts = 0;   // image uploads started again (the device rebooted or lost the staged image)
};

class Client {
 public:
  explicit Client(Stream &s, ClientOptions o = {});
  ~Client();
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  // Waits for the READY frame a device sends at boot, ignoring anything else.
  Hello wait_ready(int timeout_ms);
  Hello hello();
  Inference infer(const std::vector<uint8_t> &rgb);
  Trace trace(const std::vector<uint8_t> &rgb);
  // The raw int8 output of `layer` (size bytes), fetched with LAYER requests in chunks.
  std::vector<int8_t> layer_output(const std::vector<uint8_t> &rgb, int layer, uint32_t size);
  // RESET -> RESET_R, then waits (timeout_ms) for the READY of the restarted device.
  void reset();
  const ClientStats &stats() const { return stats_; }

  std::function<void(const Hello &)> on_reset;  // called when READY arrives unexpectedly (the device rebooted)

 private:
  struct Frame {
    uint8_t version = 0;
    uint8_t type = 0;
    uint16_t seq = 0;
    std::vector<uint8_t> payload;
  };
  bool next_frame(Frame &f, int timeout_ms);
  // image_step: a READY (reboot) or a NOT_STAGED ERROR is returned to the caller instead of resent or thrown.
  Frame request(uint8_t type, const std::vector<uint8_t> &payload, uint8_t reply_type, bool image_step = false);
  // type with payload head + rgb in one frame when it fits, else rgb staged by IMAGE and type with head alone.
  Frame image_request(uint8_t type, const std::vector<uint8_t> &head, const std::vector<uint8_t> &rgb, uint8_t reply_type);
  void check_version(const Frame &f) const;
  Hello parse_hello(const Frame &f, const char *what) const;
  uint16_t next_seq();

  Stream &s_;
  ClientOptions o_;
  ClientStats stats_;
  std::unique_ptr<qp_proto_decoder_t> dec_;
  std::vector<uint8_t> rx_, tx_;
  size_t rx_pos_ = 0, rx_len_ = 0;
  uint16_t seq_ = 0;
};

}  // namespace qp::device
