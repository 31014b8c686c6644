// The serial protocol codec (src/device/qp_proto.c): CRC, frames, the streaming decoder under corruption
// and garbage, and every payload's serialisation.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/rng.h"
#include "device/qp_proto.h"

namespace {

struct Decoded {
  uint8_t type;
  uint16_t seq;
  std::vector<uint8_t> payload;
  bool operator==(const Decoded &o) const { return type == o.type && seq == o.seq && payload == o.payload; }
};

std::vector<uint8_t> encode(uint8_t type, uint16_t seq, const std::vector<uint8_t> &payload) {
  std::vector<uint8_t> out(QP_PROTO_MAX_FRAME);
  const uint32_t n = qp_proto_encode(type, seq, payload.empty() ? nullptr : payload.data(), static_cast<uint16_t>(payload.size()),
                                     out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_GT(n, 0u);
  out.resize(n);
  return out;
}

// Feeds bytes, collecting every frame the decoder reports.
void feed(qp_proto_decoder_t &d, const std::vector<uint8_t> &bytes, std::vector<Decoded> &out) {
  for (uint8_t b : bytes) {
    qp_frame_t f;
    if (qp_proto_decoder_feed(&d, b, &f)) out.push_back({f.type, f.seq, std::vector<uint8_t>(f.payload, f.payload + f.length)});
  }
}

std::vector<uint8_t> random_bytes(qp::Rng &rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = static_cast<uint8_t>(rng.below(256));
  return v;
}

// Bit-at-a-time CRC-32 straight from the definition, to check the nibble-table version against.
uint32_t crc32_bitwise(const std::vector<uint8_t> &data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t b : data) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

TEST(ProtoCrc, CheckValueIncrementalAndBitwise) {
  const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(qp_proto_crc32(0, check, 9), 0xCBF43926u);  // the standard check value of CRC-32/IEEE
  EXPECT_EQ(qp_proto_crc32(0, nullptr, 0), 0u);
  qp::Rng rng(7);
  for (size_t n : {1u, 3u, 64u, 1000u}) {
    const auto data = random_bytes(rng, n);
    const uint32_t whole = qp_proto_crc32(0, data.data(), static_cast<uint32_t>(n));
    EXPECT_EQ(whole, crc32_bitwise(data)) << n;
    const uint32_t half = static_cast<uint32_t>(n / 2);
    EXPECT_EQ(qp_proto_crc32(qp_proto_crc32(0, data.data(), half), data.data() + half, static_cast<uint32_t>(n) - half), whole);
  }
}

TEST(ProtoFrame, LayoutIsAsDocumented) {
  const auto f = encode(QP_MSG_INFER, 0x1234, {0xAA, 0xBB, 0xCC});
  ASSERT_EQ(f.size(), QP_PROTO_HEADER_BYTES + 3 + QP_PROTO_CRC_BYTES);
  EXPECT_EQ(f[0], 'Q');
  EXPECT_EQ(f[1], 'P');
  EXPECT_EQ(f[2], QP_PROTO_VERSION);
  EXPECT_EQ(f[3], QP_MSG_INFER);
  EXPECT_EQ(f[4], 0x34);
  EXPECT_EQ(f[5], 0x12);
  EXPECT_EQ(f[6], 3);
  EXPECT_EQ(f[7], 0);
  EXPECT_EQ(f[8], 0xAA);
  EXPECT_EQ(f[10], 0xCC);
  const uint32_t crc = qp_proto_crc32(0, f.data() + 2, 6 + 3);
  EXPECT_EQ(f[11] | (f[12] << 8) | (f[13] << 16) | (static_cast<uint32_t>(f[14]) << 24), crc);
}

TEST(ProtoFrame, EncodeRejectsOversizeAndSmallBuffers) {
  std::vector<uint8_t> payload(QP_PROTO_MAX_PAYLOAD + 1, 1);
  std::vector<uint8_t> out(QP_PROTO_MAX_FRAME + 16);
  EXPECT_EQ(qp_proto_encode(QP_MSG_INFER, 1, payload.data(), static_cast<uint16_t>(payload.size()), out.data(), 99999), 0u);
  EXPECT_EQ(qp_proto_encode(QP_MSG_INFER, 1, payload.data(), 10, out.data(), 21), 0u);  // needs 22
  EXPECT_EQ(qp_proto_encode(QP_MSG_INFER, 1, payload.data(), 10, out.data(), 22), 22u);
  EXPECT_EQ(qp_proto_encode(QP_MSG_HELLO, 1, nullptr, 0, out.data(), 12), 12u);
}

TEST(ProtoFrame, RoundTripEveryTypeAndBoundaryLengths) {
  const uint8_t types[] = {QP_MSG_HELLO,   QP_MSG_INFER,   QP_MSG_RESET,   QP_MSG_TRACE,   QP_MSG_LAYER,   QP_MSG_READY,
                           QP_MSG_HELLO_R, QP_MSG_INFER_R, QP_MSG_RESET_R, QP_MSG_TRACE_R, QP_MSG_LAYER_R, QP_MSG_ERROR,
                           QP_MSG_IMAGE,   QP_MSG_IMAGE_R};
  qp::Rng rng(11);
  std::vector<Decoded> sent, got;
  qp_proto_decoder_t d;
  qp_proto_decoder_init(&d);
  uint16_t seq = 65530;  // wraps through 65535 -> 0
  for (uint8_t t : types) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{7}, size_t{QP_PROTO_MAX_PAYLOAD - 1}, size_t{QP_PROTO_MAX_PAYLOAD}}) {
      Decoded m{t, seq++, random_bytes(rng, len)};
      sent.push_back(m);
      feed(d, encode(m.type, m.seq, m.payload), got);
      ASSERT_EQ(got.size(), sent.size()) << "type " << int(t) << " length " << len;  // decoded on its last byte
    }
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(d.frames, sent.size());
  EXPECT_EQ(d.skipped, 0u);
  EXPECT_EQ(d.bad_crc + d.bad_header, 0u);
}

TEST(ProtoDecoder, RejectsBadVersionAndOversizeLength) {
  qp_proto_decoder_t d;
  qp_proto_decoder_init(&d);
  std::vector<Decoded> got;
  auto v2 = encode(QP_MSG_HELLO, 5, {1, 2});
  v2[2] = QP_PROTO_VERSION + 1;  // another protocol version, CRC recomputed so only the version is wrong
  const uint32_t crc = qp_proto_crc32(0, v2.data() + 2, 8);
  for (int k = 0; k < 4; ++k) v2[10 + k] = static_cast<uint8_t>(crc >> (8 * k));
  feed(d, v2, got);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(d.bad_header, 1u);
  const std::vector<uint8_t> huge = {'Q', 'P', 1, QP_MSG_INFER, 0, 0, 0x01, 0x10};  // length 4097
  feed(d, huge, got);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(d.bad_header, 2u);
  const auto ok = encode(QP_MSG_HELLO_R, 6, {9});
  feed(d, ok, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 6);
}

// Every single-byte corruption of a frame, at every position, by every bit flip and a few other masks,
// followed by a valid frame and filler: the corrupted frame is never accepted (a single-byte error is
// always caught by CRC-32 or the header checks), and the next frame is always found.
TEST(ProtoDecoder, EverySingleByteCorruptionIsDetected) {
  qp::Rng rng(3);
  const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x55, 0xA5, 0x0F, 0x3C};
  const auto next = encode(QP_MSG_INFER_R, 777, random_bytes(rng, 18));
  const std::vector<uint8_t> filler(QP_PROTO_MAX_FRAME, 0);  // completes any candidate a corrupted length made long
  size_t cases = 0;
  for (size_t len : {0u, 1u, 37u}) {
    const std::vector<uint8_t> payload = random_bytes(rng, len);
    const auto frame = encode(QP_MSG_INFER, 4242, payload);
    for (size_t pos = 0; pos < frame.size(); ++pos) {
      for (uint8_t m : masks) {
        auto bad = frame;
        bad[pos] ^= m;
        qp_proto_decoder_t d;
        qp_proto_decoder_init(&d);
        std::vector<Decoded> got;
        feed(d, bad, got);
        feed(d, next, got);
        feed(d, filler, got);
        ASSERT_EQ(got.size(), 1u) << "length " << len << " byte " << pos << " xor " << int(m);
        EXPECT_EQ(got[0].seq, 777);
        EXPECT_EQ(got[0].type, QP_MSG_INFER_R);
        if (pos >= 2) {  // past the magic: a rejected candidate
          EXPECT_GE(d.bad_crc + d.bad_header, 1u) << pos;
        }
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 13u * (12 + 13 + 49));
}

// Header corruption of a maximum-size frame (payload bytes are covered above): never a wrong frame.
TEST(ProtoDecoder, CorruptedHeaderOfMaxFrame) {
  qp::Rng rng(4);
  const auto frame = encode(QP_MSG_LAYER_R, 9, random_bytes(rng, QP_PROTO_MAX_PAYLOAD));
  const auto next = encode(QP_MSG_HELLO, 10, {});
  const std::vector<uint8_t> filler(QP_PROTO_MAX_FRAME, 0);
  for (size_t pos = 0; pos < QP_PROTO_HEADER_BYTES; ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = frame;
      bad[pos] ^= static_cast<uint8_t>(1u << bit);
      qp_proto_decoder_t d;
      qp_proto_decoder_init(&d);
      std::vector<Decoded> got;
      feed(d, bad, got);
      feed(d, next, got);
      feed(d, filler, got);
      ASSERT_EQ(got.size(), 1u) << pos << " " << bit;
      EXPECT_EQ(got[0].seq, 10);
    }
  }
}

// A frame whose start hides inside a bad candidate's bytes is found by the replay, and so is a second frame
// that the same candidate swallowed.
TEST(ProtoDecoder, FramesInsideAFalseCandidateAreReplayed) {
  const std::vector<uint8_t> fake = {'Q', 'P', 1, QP_MSG_INFER, 1, 0, 200, 0};  // claims 200 bytes of payload
  const auto a = encode(QP_MSG_HELLO_R, 21, {1, 2, 3});
  const auto b = encode(QP_MSG_INFER_R, 22, {4, 5});
  std::vector<uint8_t> stream = fake;
  for (uint8_t g : {'Q', 'x', 'Q'}) stream.push_back(g);  // near-magic garbage
  stream.insert(stream.end(), a.begin(), a.end());
  stream.insert(stream.end(), b.begin(), b.end());
  stream.resize(stream.size() + 250, 0x51);  // 'Q' filler: completes the fake candidate
  qp_proto_decoder_t d;
  qp_proto_decoder_init(&d);
  std::vector<Decoded> got;
  feed(d, stream, got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 21);
  EXPECT_EQ(got[0].payload, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(got[1].seq, 22);
  EXPECT_EQ(d.bad_crc, 1u);
}

TEST(ProtoDecoder, RandomBytesNeverCrash) {
  qp::Rng rng(2024);
  qp_proto_decoder_t d;
  qp_proto_decoder_init(&d);
  std::vector<Decoded> got;
  const auto noise = random_bytes(rng, 2u << 20);
  feed(d, noise, got);
  EXPECT_TRUE(got.empty());  // a valid CRC-32 by chance is a 2^-32 event per candidate
  EXPECT_LE(d.have, QP_PROTO_MAX_FRAME);
  EXPECT_GT(d.skipped, (2u << 20) - QP_PROTO_MAX_FRAME);
}

// Valid frames between random garbage (some of it shaped like frame headers with random lengths, which
// swallow the frames after them): every frame is found, in order, exactly once.
TEST(ProtoDecoder, FindsAllFramesEmbeddedInGarbage) {
  qp::Rng rng(99);
  std::vector<uint8_t> stream;
  std::vector<Decoded> sent;
  while (stream.size() < (2u << 20)) {
    auto garbage = random_bytes(rng, rng.below(400));
    if (rng.chance(0.3)) {  // a false header: magic, version, random type/seq, random length <= max
      const uint16_t len = static_cast<uint16_t>(rng.below(QP_PROTO_MAX_PAYLOAD + 1));
      const std::vector<uint8_t> h = {
          'Q', 'P', 1, static_cast<uint8_t>(rng.below(256)), 0, 0, static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8)};
      garbage.insert(garbage.begin() + rng.below(static_cast<uint32_t>(garbage.size()) + 1), h.begin(), h.end());
    }
    stream.insert(stream.end(), garbage.begin(), garbage.end());
    const uint32_t len = rng.chance(0.05) ? QP_PROTO_MAX_PAYLOAD : rng.below(600);
    Decoded m{static_cast<uint8_t>(rng.below(256)), static_cast<uint16_t>(rng.below(65536)), random_bytes(rng, len)};
    const auto f = encode(m.type, m.seq, m.payload);
    stream.insert(stream.end(), f.begin(), f.end());
    sent.push_back(std::move(m));
  }
  stream.resize(stream.size() + QP_PROTO_MAX_FRAME, 0);  // lets a last false candidate complete
  qp_proto_decoder_t d;
  qp_proto_decoder_init(&d);
  std::vector<Decoded> got;
  feed(d, stream, got);
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
  EXPECT_GT(d.bad_crc, 100u);  // the false headers were exercised
  EXPECT_GT(d.skipped, 100000u);
}

// ---- payloads ----

TEST(ProtoPayload, HelloRoundTripAndSize) {
  qp_hello_t h;
  std::memset(&h, 0, sizeof h);
  h.proto_version = QP_PROTO_VERSION;
  for (int i = 0; i < 32; ++i) h.model_hash[i] = static_cast<uint8_t>(i * 7 + 1);
  std::strcpy(h.target, "qemu-rv32");
  h.arena_bytes = 0x01020304u;
  h.clock_hz = 240000000u;
  h.classes = 16;
  h.layers = 32;
  h.in_h = 32;
  h.in_w = 24;
  h.in_c = 3;
  uint8_t buf[QP_PROTO_MAX_PAYLOAD];
  const uint16_t n = qp_proto_put_hello(&h, buf);
  EXPECT_EQ(n, QP_HELLO_BYTES);
  EXPECT_EQ(n, 62u);
  EXPECT_EQ(buf[49], 0x04);  // arena_bytes little-endian after version, hash and target
  qp_hello_t back;
  std::memset(&back, 0xEE, sizeof back);
  ASSERT_TRUE(qp_proto_get_hello(buf, n, &back));
  EXPECT_EQ(0, std::memcmp(back.model_hash, h.model_hash, 32));
  EXPECT_STREQ(back.target, "qemu-rv32");
  EXPECT_EQ(back.arena_bytes, h.arena_bytes);
  EXPECT_EQ(back.clock_hz, h.clock_hz);
  EXPECT_EQ(back.classes, 16);
  EXPECT_EQ(back.layers, 32);
  EXPECT_EQ(back.in_h, 32);
  EXPECT_EQ(back.in_w, 24);
  EXPECT_EQ(back.in_c, 3);
  EXPECT_FALSE(qp_proto_get_hello(buf, n - 1, &back));
  EXPECT_FALSE(qp_proto_get_hello(buf, n + 1, &back));
  buf[57] = 17;  // classes
  EXPECT_FALSE(qp_proto_get_hello(buf, n, &back));
}

TEST(ProtoPayload, InferReplyRoundTripAndRejections) {
  uint8_t buf[QP_PROTO_MAX_PAYLOAD];
  for (uint8_t classes : {uint8_t{1}, uint8_t{3}, uint8_t{16}}) {
    qp_infer_reply_t r;
    std::memset(&r, 0, sizeof r);
    r.classes = classes;
    r.pred = static_cast<uint8_t>(classes - 1);
    for (int k = 0; k < classes; ++k) r.scores[k] = static_cast<int8_t>(k % 2 ? -128 + k : 127 - k);
    r.cycles = 0xFEDCBA9876543210ull;
    r.micros = 0xDEADBEEFu;
    const uint16_t n = qp_proto_put_infer_reply(&r, buf);
    EXPECT_EQ(n, 14u + classes);
    qp_infer_reply_t back;
    ASSERT_TRUE(qp_proto_get_infer_reply(buf, n, &back));
    EXPECT_EQ(back.pred, r.pred);
    EXPECT_EQ(back.classes, classes);
    EXPECT_EQ(0, std::memcmp(back.scores, r.scores, classes));
    EXPECT_EQ(back.cycles, r.cycles);
    EXPECT_EQ(back.micros, r.micros);
    EXPECT_FALSE(qp_proto_get_infer_reply(buf, n - 1, &back));
    EXPECT_FALSE(qp_proto_get_infer_reply(buf, n + 1, &back));
  }
  qp_infer_reply_t r;
  std::memset(&r, 0, sizeof r);
  r.classes = 17;
  EXPECT_EQ(qp_proto_put_infer_reply(&r, buf), 0u);
  const uint8_t too_many[2 + 17 + 12] = {0, 17};
  EXPECT_FALSE(qp_proto_get_infer_reply(too_many, sizeof too_many, &r));
  const uint8_t pred_out_of_range[2 + 3 + 12] = {3, 3};
  EXPECT_FALSE(qp_proto_get_infer_reply(pred_out_of_range, sizeof pred_out_of_range, &r));
  EXPECT_FALSE(qp_proto_get_infer_reply(too_many, 1, &r));
  EXPECT_FALSE(qp_proto_get_infer_reply(too_many, 0, &r));
}

TEST(ProtoPayload, TraceReplyRoundTripAndRejections) {
  uint8_t buf[QP_PROTO_MAX_PAYLOAD];
  for (uint8_t layers : {uint8_t{0}, uint8_t{1}, uint8_t{32}, uint8_t{33}, uint8_t{255}}) {  // 255: what a u8 counts
    qp_trace_reply_t r;
    std::memset(&r, 0, sizeof r);
    r.pred = 2;
    r.layers = layers;
    for (int k = 0; k < layers; ++k) {
      r.size[k] = 1000u * k + 1;
      r.crc[k] = 0x80000000u ^ (0x01010101u * k);
    }
    const uint16_t n = qp_proto_put_trace_reply(&r, buf);
    EXPECT_EQ(n, 2u + 8u * layers);
    EXPECT_LE(n, QP_PROTO_MAX_PAYLOAD);
    qp_trace_reply_t back;
    ASSERT_TRUE(qp_proto_get_trace_reply(buf, n, &back));
    EXPECT_EQ(back.pred, 2);
    EXPECT_EQ(back.layers, layers);
    for (int k = 0; k < layers; ++k) {
      EXPECT_EQ(back.size[k], r.size[k]);
      EXPECT_EQ(back.crc[k], r.crc[k]);
    }
    EXPECT_FALSE(qp_proto_get_trace_reply(buf, n - 1, &back));
    EXPECT_FALSE(qp_proto_get_trace_reply(buf, n + 1, &back));
  }
  qp_trace_reply_t r;
  buf[0] = 0;
  buf[1] = 40;
  EXPECT_FALSE(qp_proto_get_trace_reply(buf, 2 + 8 * 39, &r));  // fewer entries than the count says
}

TEST(ProtoPayload, LayerRequestRoundTripAndRejections) {
  uint8_t buf[QP_PROTO_MAX_PAYLOAD];
  qp_layer_request_t q{31, 0xA1B2C3D4u, static_cast<uint16_t>(QP_PROTO_MAX_PAYLOAD - 5)};
  const uint16_t n = qp_proto_put_layer_request(&q, buf);
  EXPECT_EQ(n, QP_LAYER_REQUEST_BYTES);
  EXPECT_EQ(buf[1], 0xD4);
  EXPECT_EQ(buf[4], 0xA1);
  qp_layer_request_t back{};
  ASSERT_TRUE(qp_proto_get_layer_request(buf, n, &back));
  EXPECT_EQ(back.layer, 31);
  EXPECT_EQ(back.offset, 0xA1B2C3D4u);
  EXPECT_EQ(back.length, QP_PROTO_MAX_PAYLOAD - 5);
  EXPECT_TRUE(qp_proto_get_layer_request(buf, n + 3072, &back));  // the image follows the head
  EXPECT_FALSE(qp_proto_get_layer_request(buf, n - 1, &back));
  q.length = QP_PROTO_MAX_PAYLOAD - 4;
  qp_proto_put_layer_request(&q, buf);
  EXPECT_FALSE(qp_proto_get_layer_request(buf, n, &back));
  q.length = 10;
  q.layer = 200;  // beyond version 1's 32 layers
  qp_proto_put_layer_request(&q, buf);
  EXPECT_TRUE(qp_proto_get_layer_request(buf, n, &back));
  EXPECT_EQ(back.layer, 200);
  q.layer = 255;  // layers are numbered 0..254
  qp_proto_put_layer_request(&q, buf);
  EXPECT_FALSE(qp_proto_get_layer_request(buf, n, &back));
}

TEST(ProtoPayload, ImageRequestAndReplyRoundTripAndRejections) {
  uint8_t buf[QP_PROTO_MAX_PAYLOAD];
  qp::Rng rng(21);
  const auto px = random_bytes(rng, QP_IMAGE_MAX_CHUNK + 1);
  for (uint16_t len : {uint16_t{1}, uint16_t{100}, static_cast<uint16_t>(QP_IMAGE_MAX_CHUNK)}) {
    const qp_image_request_t q{0x00012345u, len, px.data()};
    const uint16_t n = qp_proto_put_image_request(&q, buf);
    ASSERT_EQ(n, QP_IMAGE_HEADER_BYTES + len);
    EXPECT_LE(n, QP_PROTO_MAX_PAYLOAD);
    EXPECT_EQ(buf[0], 0x45);
    EXPECT_EQ(buf[2], 0x01);
    qp_image_request_t back{};
    ASSERT_TRUE(qp_proto_get_image_request(buf, n, &back));
    EXPECT_EQ(back.offset, 0x00012345u);
    EXPECT_EQ(back.length, len);
    EXPECT_EQ(std::vector<uint8_t>(back.bytes, back.bytes + back.length), std::vector<uint8_t>(px.begin(), px.begin() + len));
  }
  // Empty and overlong chunks are not written; a payload without pixels is not read.
  qp_image_request_t q{0, 0, px.data()};
  EXPECT_EQ(qp_proto_put_image_request(&q, buf), 0u);
  q.length = static_cast<uint16_t>(QP_IMAGE_MAX_CHUNK + 1);
  EXPECT_EQ(qp_proto_put_image_request(&q, buf), 0u);
  q.length = 5;
  q.bytes = nullptr;
  EXPECT_EQ(qp_proto_put_image_request(&q, buf), 0u);
  qp_image_request_t back{};
  EXPECT_FALSE(qp_proto_get_image_request(buf, QP_IMAGE_HEADER_BYTES, &back));
  EXPECT_FALSE(qp_proto_get_image_request(buf, 2, &back));
  const qp_image_reply_t r{4092u, 8184u};
  ASSERT_EQ(qp_proto_put_image_reply(&r, buf), QP_IMAGE_REPLY_BYTES);
  qp_image_reply_t rb{};
  ASSERT_TRUE(qp_proto_get_image_reply(buf, QP_IMAGE_REPLY_BYTES, &rb));
  EXPECT_EQ(rb.offset, 4092u);
  EXPECT_EQ(rb.staged, 8184u);
  EXPECT_FALSE(qp_proto_get_image_reply(buf, QP_IMAGE_REPLY_BYTES - 1, &rb));
  EXPECT_FALSE(qp_proto_get_image_reply(buf, QP_IMAGE_REPLY_BYTES + 1, &rb));
}

// The device's staging rules: in order (repeats and overlaps allowed, gaps not), never past the end, and a run
// without pixels only on a complete image.
TEST(ProtoStage, ChunksInOrderGapsAndBadOffsetsRefused) {
  qp_stage_t s{12288u, 0u};
  EXPECT_FALSE(qp_stage_complete(&s));                              // INFER without a staged image: refused
  EXPECT_EQ(qp_stage_chunk(&s, 4092, 4092), QP_ERR_NOT_STAGED);     // a gap before it
  EXPECT_EQ(s.staged, 0u);
  EXPECT_EQ(qp_stage_chunk(&s, 0, 4092), 0);
  EXPECT_EQ(qp_stage_chunk(&s, 0, 4092), 0);                        // a resend: idempotent
  EXPECT_EQ(s.staged, 4092u);
  EXPECT_EQ(qp_stage_chunk(&s, 4092, 4092), 0);
  EXPECT_EQ(qp_stage_chunk(&s, 8000, 0), QP_ERR_BAD_SIZE);          // empty
  EXPECT_EQ(qp_stage_chunk(&s, 8184, 4105), QP_ERR_BAD_SIZE);       // one byte past the end
  EXPECT_EQ(qp_stage_chunk(&s, 12289, 1), QP_ERR_BAD_SIZE);         // starts past the end
  EXPECT_EQ(qp_stage_chunk(&s, 0xFFFFFFF0u, 0x20), QP_ERR_BAD_SIZE); // offset + length wraps around
  EXPECT_FALSE(qp_stage_complete(&s));                              // 8184 of 12288: a run is still refused
  EXPECT_EQ(qp_stage_chunk(&s, 8000, 4288), 0);                     // overlapping, up to the last byte
  EXPECT_EQ(s.staged, 12288u);
  EXPECT_TRUE(qp_stage_complete(&s));
  const qp_stage_t none{0u, 0u};
  EXPECT_FALSE(qp_stage_complete(&none));
}

// Version 2 reads frames of version 1 (reported, so the host can name an old firmware), nothing else.
TEST(ProtoFrame, DecoderReportsVersionOneAndRejectsOthers) {
  for (uint8_t version : {uint8_t{0}, uint8_t{1}, uint8_t{2}, uint8_t{3}, uint8_t{0xFF}}) {
    auto f = encode(QP_MSG_READY, 0, {1, 2, 3});
    f[2] = version;
    const uint32_t crc = qp_proto_crc32(0, f.data() + 2, static_cast<uint32_t>(f.size()) - 6);
    for (int k = 0; k < 4; ++k) f[f.size() - 4 + static_cast<size_t>(k)] = static_cast<uint8_t>(crc >> (8 * k));
    qp_proto_decoder_t d;
    qp_proto_decoder_init(&d);
    int got = 0;
    qp_frame_t fr{};
    for (uint8_t b : f) got += qp_proto_decoder_feed(&d, b, &fr);
    const bool valid = version >= 1 && version <= QP_PROTO_VERSION;
    EXPECT_EQ(got, valid ? 1 : 0) << int(version);
    if (valid) {
      EXPECT_EQ(fr.version, version);
    } else {
      EXPECT_GT(d.bad_header, 0u);
    }
  }
}

}  // namespace
