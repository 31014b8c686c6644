// libFuzzer harness: the serial protocol's streaming decoder and payload parsers (src/device/qp_proto.c),
// the code that reads every byte a device sends. Properties checked on top of ASan/UBSan:
//   - a decoded frame is well formed (length within the maximum, payload inside the decoder's buffer)
//     and re-encoding it gives bytes that a fresh decoder decodes to the same frame;
//   - every payload parser that accepts a payload returns values within the protocol's bounds, and
//     serialising them again gives the same payload bytes (parse and print agree).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "device/qp_proto.h"

namespace {

void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    std::abort();
  }
}

void check_payloads(const uint8_t *p, uint16_t n) {
  static uint8_t out[QP_PROTO_MAX_PAYLOAD];
  qp_hello_t h;
  if (qp_proto_get_hello(p, n, &h)) {
    check(h.classes <= QP_PROTO_MAX_CLASSES && h.layers <= QP_PROTO_MAX_LAYERS, "HELLO out of bounds");
    const uint16_t m = qp_proto_put_hello(&h, out);
    check(m == n && std::memcmp(out, p, n) == 0, "HELLO does not round-trip");
  }
  qp_infer_reply_t r;
  if (qp_proto_get_infer_reply(p, n, &r)) {
    check(r.classes <= QP_PROTO_MAX_CLASSES && r.pred < r.classes, "INFER reply out of bounds");
    const uint16_t m = qp_proto_put_infer_reply(&r, out);
    check(m == n && std::memcmp(out, p, n) == 0, "INFER reply does not round-trip");
  }
  qp_trace_reply_t t;
  if (qp_proto_get_trace_reply(p, n, &t)) {
    check(t.layers <= QP_PROTO_MAX_LAYERS, "TRACE reply out of bounds");
    const uint16_t m = qp_proto_put_trace_reply(&t, out);
    check(m == n && std::memcmp(out, p, n) == 0, "TRACE reply does not round-trip");
  }
  qp_layer_request_t q;
  if (qp_proto_get_layer_request(p, n, &q)) {
    check(q.layer < QP_PROTO_MAX_LAYERS && q.length <= QP_PROTO_MAX_PAYLOAD - 5u, "LAYER request out of bounds");
    const uint16_t m = qp_proto_put_layer_request(&q, out);
    check(m == QP_LAYER_REQUEST_BYTES && std::memcmp(out, p, m) == 0, "LAYER request does not round-trip");
  }
  qp_image_request_t im;
  if (qp_proto_get_image_request(p, n, &im)) {
    check(im.length >= 1 && im.length <= QP_IMAGE_MAX_CHUNK && im.bytes == p + QP_IMAGE_HEADER_BYTES, "IMAGE out of bounds");
    const uint16_t m = qp_proto_put_image_request(&im, out);
    check(m == n && std::memcmp(out, p, n) == 0, "IMAGE request does not round-trip");
    qp_stage_t st{12288u, im.length};  // staging never runs past the image, whatever the offset
    if (qp_stage_chunk(&st, im.offset, im.length) == 0) check(st.staged <= st.total, "IMAGE staged past the end");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static qp_proto_decoder_t dec, again;
  static uint8_t frame_bytes[QP_PROTO_MAX_FRAME];
  qp_proto_decoder_init(&dec);
  for (size_t i = 0; i < size; ++i) {
    qp_frame_t f;
    if (!qp_proto_decoder_feed(&dec, data[i], &f)) continue;
    check(f.length <= QP_PROTO_MAX_PAYLOAD, "frame longer than the maximum payload");
    check(f.length == 0 || (f.payload >= dec.buf && f.payload + f.length <= dec.buf + sizeof dec.buf),
          "payload outside the decoder's buffer");
    // The payload must be bytes the decoder received (not necessarily the last ones: after a bad candidate
    // the decoder rescans the bytes it holds and may complete a frame found inside them).
    check(std::search(data, data + i + 1, f.payload, f.payload + f.length) != data + i + 1 || f.length == 0,
          "payload is not among the bytes received");
    const std::vector<uint8_t> payload(f.payload, f.payload + f.length);
    check_payloads(payload.data(), f.length);
    // Re-encode and decode with a fresh decoder: the same frame, completed exactly on the last byte.
    const uint32_t n = qp_proto_encode(f.type, f.seq, payload.data(), f.length, frame_bytes, sizeof frame_bytes);
    check(n == QP_PROTO_HEADER_BYTES + f.length + QP_PROTO_CRC_BYTES, "re-encoding failed");
    qp_proto_decoder_init(&again);
    int got = 0;
    qp_frame_t g{};
    for (uint32_t k = 0; k < n; ++k) {
      got = qp_proto_decoder_feed(&again, frame_bytes[k], &g);
      check(!got || k + 1 == n, "re-encoded frame completed early");
    }
    check(got && g.type == f.type && g.seq == f.seq && g.length == f.length &&
              (f.length == 0 || std::memcmp(g.payload, payload.data(), f.length) == 0),
          "re-encoded frame does not decode to the same frame");
  }
  // The payload parsers on raw bytes too (the decoder only hands them CRC-checked payloads).
  if (size <= QP_PROTO_MAX_PAYLOAD) check_payloads(data, static_cast<uint16_t>(size));
  return 0;
}
