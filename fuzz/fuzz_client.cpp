// libFuzzer harness: the host's protocol client (src/device/client.*) talking to a hostile device.
// The fake device answers each request with the input's next chunk, so the fuzzer controls every byte that
// comes back: raw bytes (garbage, partial frames, stale sequence numbers) or a frame the harness completes
// with the sequence number of the request being answered (so replies reach the payload parsers, not only
// the stale-reply filter). The client must answer with a result inside the protocol's bounds or a qp::Error.
//
// Input: byte 0 picks the calls (bits: wait_ready, hello, infer, trace, layer_output, reset), then chunks:
//   tag u8, length u8, bytes[length]
//   tag & 1 == 0: bytes go to the client as they are
//   tag & 1 == 1: a frame: type = bytes[0], payload = bytes[1..], seq = the last request's (READY: 0),
//                 a wrong CRC when tag & 2
// The stream ends (qp::Error "device gone", as a real link does at end of file) when the chunks run out.
#include <cstdint>
#include <cstring>
#include <vector>

#include "device/client.h"
#include "fuzz_util.h"

namespace {

class FakeDevice : public qp::device::Stream {
 public:
  FakeDevice(const uint8_t *data, size_t size) : p_(data), end_(data + size) {}
  void write(const uint8_t *data, size_t n) override {
    if (n >= QP_PROTO_HEADER_BYTES) last_seq_ = static_cast<uint16_t>(data[4] | (data[5] << 8));
  }
  size_t read(uint8_t *data, size_t cap, int) override {
    if (end_ - p_ < 2) qp::fail("fuzz device: end of input (the device is gone)");
    const uint8_t tag = p_[0];
    size_t len = p_[1];
    p_ += 2;
    if (len > static_cast<size_t>(end_ - p_)) len = static_cast<size_t>(end_ - p_);
    std::vector<uint8_t> out;
    if ((tag & 1) == 0 || len == 0) {
      out.assign(p_, p_ + len);
    } else {
      const uint8_t type = p_[0];
      out.resize(QP_PROTO_MAX_FRAME);
      const uint16_t seq = type == QP_MSG_READY ? 0 : last_seq_;
      const uint32_t n = qp_proto_encode(type, seq, p_ + 1, static_cast<uint16_t>(len - 1), out.data(),
                                         static_cast<uint32_t>(out.size()));
      out.resize(n);
      if ((tag & 2) && n) out.back() ^= 0x5a;
    }
    p_ += len;
    if (out.size() > cap) out.resize(cap);
    if (!out.empty()) std::memcpy(data, out.data(), out.size());
    return out.size();
  }

 private:
  const uint8_t *p_, *end_;
  uint16_t last_seq_ = 0;
};

void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    std::abort();
  }
}

void check_hello(const qp::device::Hello &h) {
  check(h.model_hash.size() == 64 && h.target.size() <= QP_PROTO_TARGET_CHARS, "HELLO: bad hash or target");
  check(h.classes >= 0 && h.classes <= static_cast<int>(QP_PROTO_MAX_CLASSES) && h.layers >= 0 &&
            h.layers <= static_cast<int>(QP_PROTO_MAX_LAYERS),
        "HELLO: classes or layers out of bounds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const uint8_t calls = data[0];
  FakeDevice dev(data + 1, size - 1);
  qp::device::ClientOptions o;
  o.timeout_ms = 60000;  // never reached: the fake device answers at once or ends the stream
  o.retries = 2;
  qp::device::Client client(dev, o);
  client.on_reset = check_hello;
  const std::vector<uint8_t> rgb(12, 7);
  qp::fuzz::run_expecting_qp_errors([&] {
    if (calls & 1) check_hello(client.wait_ready(60000));
    if (calls & 2) check_hello(client.hello());
    if (calls & 4) {
      const qp::device::Inference r = client.infer(rgb);
      check(r.scores.size() <= QP_PROTO_MAX_CLASSES && r.pred >= 0 && r.pred < static_cast<int>(r.scores.size()),
            "INFER: prediction outside the scores");
    }
    if (calls & 8) {
      const qp::device::Trace t = client.trace(rgb);
      check(t.size.size() == t.crc.size() && t.size.size() <= QP_PROTO_MAX_LAYERS, "TRACE: bad layer count");
    }
    if (calls & 16) {
      const uint32_t want = (calls >> 6) * 3000u + 5u;  // 5 .. 9005 bytes: one to three LAYER chunks
      const std::vector<int8_t> out = client.layer_output(rgb, calls & 32 ? 3 : 40, want);
      check(out.size() == want, "LAYER: output size differs from the request");
    }
    if (calls & 32) client.reset();
  });
  return 0;
}
