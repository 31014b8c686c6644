// The host side of the device stage: byte streams (link), the request/response client against a fake device
// running the C codec in a thread (with a stream that drops, duplicates, flips and delays), and the journal.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/rng.h"
#include "device/client.h"
#include "device/journal.h"
#include "device/link.h"
#include "device/qp_proto.h"
#include "device/runner.h"
#include "test_util.h"

namespace {

using qp::device::Client;
using qp::device::ClientOptions;
using qp::device::Stream;

constexpr int kH = 8, kW = 8, kC = 3, kClasses = 5;
constexpr size_t kImage = kH * kW * kC;
constexpr uint32_t kLayerBytes[3] = {kImage, 9000, kClasses};  // layer 1 needs three LAYER chunks

// The fake model: scores are per-class byte sums (wrapped to int8), so every reply is tied to its image.
std::vector<int8_t> fake_scores(const std::vector<uint8_t> &rgb) {
  std::vector<uint32_t> sum(kClasses, 0);
  for (size_t i = 0; i < rgb.size(); ++i) sum[i % kClasses] += rgb[i];
  std::vector<int8_t> s(kClasses);
  for (int k = 0; k < kClasses; ++k) s[k] = static_cast<int8_t>(static_cast<uint8_t>(sum[k]));
  return s;
}

int argmax(const std::vector<int8_t> &s) {
  int best = 0;
  for (int k = 1; k < static_cast<int>(s.size()); ++k)
    if (s[k] > s[best]) best = k;
  return best;
}

std::vector<uint8_t> fake_layer(const std::vector<uint8_t> &rgb, int layer) {
  std::vector<uint8_t> out(kLayerBytes[layer]);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(rgb[(i * 7) % rgb.size()] ^ (i >> 3) ^ layer);
  return out;
}

std::vector<uint8_t> random_image(qp::Rng &rng) {
  std::vector<uint8_t> v(kImage);
  for (auto &b : v) b = static_cast<uint8_t>(rng.below(256));
  return v;
}

// A device in a thread: the C decoder/encoder over one end of a socketpair.
class FakeDevice {
 public:
  struct Options {
    bool announce = true;     // send READY (after some boot-log noise) when started
    bool silent = false;      // never answer
    std::set<int> reboot_at;  // INFER numbers (1-based, as received) on which it reboots instead of answering
    double slow_chance = 0;   // chance of answering an INFER after slow_ms
    int slow_ms = 0;
    uint64_t seed = 1;
    int reply_classes = kClasses;  // scores an INFER reply carries (firmware for another model: more)
    int reply_pred = -1;           // >= 0: the prediction every INFER reply carries
    size_t image = kImage;         // the model's input bytes (more than a frame: staged with IMAGE)
    std::set<int> reboot_at_chunk; // IMAGE numbers (1-based, as received) on which it reboots instead of answering
    uint8_t version = QP_PROTO_VERSION;  // the protocol version of every frame it sends
  };
  FakeDevice(int fd, Options o) : fd_(fd), o_(std::move(o)), rng_(o_.seed) {
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeDevice() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  int infers() const { return infers_; }
  int chunks() const { return chunks_; }

 private:
  void send(uint8_t type, uint16_t seq, const uint8_t *p, size_t n) {
    uint8_t frame[QP_PROTO_MAX_FRAME];
    const uint32_t len = qp_proto_encode(type, seq, p, static_cast<uint16_t>(n), frame, sizeof frame);
    ASSERT_GT(len, 0u);
    if (o_.version != QP_PROTO_VERSION) {  // an older firmware: its version byte, and the CRC over it
      frame[2] = o_.version;
      const uint32_t crc = qp_proto_crc32(0, frame + 2, len - 6);
      for (int k = 0; k < 4; ++k) frame[len - 4 + k] = static_cast<uint8_t>(crc >> (8 * k));
    }
    (void)::send(fd_, frame, len, MSG_NOSIGNAL);
  }
  void hello(uint8_t type, uint16_t seq) {
    qp_hello_t h;
    std::memset(&h, 0, sizeof h);
    h.proto_version = o_.version;
    for (int i = 0; i < 32; ++i) h.model_hash[i] = static_cast<uint8_t>(0xA0 + i);
    std::strcpy(h.target, "fake-dev");
    h.arena_bytes = 12345;
    h.clock_hz = 160000000;
    h.classes = kClasses;
    h.layers = 3;
    h.in_h = kH;
    h.in_w = kW;
    h.in_c = kC;
    uint8_t p[QP_PROTO_MAX_PAYLOAD];
    send(type, seq, p, qp_proto_put_hello(&h, p));
  }
  void error(uint16_t seq, uint8_t code, const char *msg) {
    std::vector<uint8_t> p{code};
    p.insert(p.end(), msg, msg + std::strlen(msg));
    send(QP_MSG_ERROR, seq, p.data(), p.size());
  }
  // The pixels of a run, as the firmware takes them: the request's own, or the staged image when it has none.
  bool pixels(const qp_frame_t &f, std::vector<uint8_t> own, std::vector<uint8_t> &out) {
    const bool complete = qp_stage_complete(&stage_);
    stage_.staged = 0;
    if (own.size() == o_.image) {
      out = std::move(own);
      return true;
    }
    if (!own.empty()) {
      error(f.seq, QP_ERR_BAD_SIZE, "image size differs from the model input");
      return false;
    }
    if (!complete) {
      error(f.seq, QP_ERR_NOT_STAGED, "not staged");
      return false;
    }
    out = staged_;
    return true;
  }
  void handle(const qp_frame_t &f) {
    std::vector<uint8_t> in(f.payload, f.payload + f.length);
    uint8_t p[QP_PROTO_MAX_PAYLOAD];
    switch (f.type) {
      case QP_MSG_IMAGE: {
        qp_image_request_t q;
        if (!qp_proto_get_image_request(f.payload, f.length, &q)) return error(f.seq, QP_ERR_BAD_REQUEST, "bad IMAGE");
        if (o_.reboot_at_chunk.count(++chunks_)) {
          qp_proto_decoder_init(&dec_);
          stage_.staged = 0;
          staged_.assign(o_.image, 0);
          hello(QP_MSG_READY, 0);
          return;
        }
        const int code = qp_stage_chunk(&stage_, q.offset, q.length);
        if (code != 0) return error(f.seq, static_cast<uint8_t>(code), "bad chunk");
        std::memcpy(staged_.data() + q.offset, q.bytes, q.length);
        qp_image_reply_t r{q.offset, stage_.staged};
        send(QP_MSG_IMAGE_R, f.seq, p, qp_proto_put_image_reply(&r, p));
        return;
      }
      case QP_MSG_HELLO: hello(QP_MSG_HELLO_R, f.seq); return;
      case QP_MSG_RESET:
        send(QP_MSG_RESET_R, f.seq, nullptr, 0);
        qp_proto_decoder_init(&dec_);
        hello(QP_MSG_READY, 0);
        return;
      case QP_MSG_INFER: {
        if (!pixels(f, in, in)) return;
        if (o_.reboot_at.count(++infers_)) {  // crash: forget everything, announce again, never answer
          qp_proto_decoder_init(&dec_);
          hello(QP_MSG_READY, 0);
          return;
        }
        if (o_.slow_chance > 0 && rng_.chance(o_.slow_chance)) std::this_thread::sleep_for(std::chrono::milliseconds(o_.slow_ms));
        const auto s = fake_scores(in);
        qp_infer_reply_t r;
        std::memset(&r, 0, sizeof r);
        r.classes = static_cast<uint8_t>(o_.reply_classes);
        std::memcpy(r.scores, s.data(), std::min<size_t>(kClasses, static_cast<size_t>(o_.reply_classes)));
        r.pred = static_cast<uint8_t>(o_.reply_pred >= 0 ? o_.reply_pred : argmax(s));
        r.cycles = (uint64_t{qp_proto_crc32(0, in.data(), static_cast<uint32_t>(in.size()))} << 32) | 7u;
        r.micros = static_cast<uint32_t>(in[0]);
        send(QP_MSG_INFER_R, f.seq, p, qp_proto_put_infer_reply(&r, p));
        return;
      }
      case QP_MSG_TRACE: {
        if (!pixels(f, in, in)) return;
        qp_trace_reply_t r;
        std::memset(&r, 0, sizeof r);
        r.layers = 3;
        r.pred = static_cast<uint8_t>(argmax(fake_scores(in)));
        for (int l = 0; l < 3; ++l) {
          const auto out = fake_layer(in, l);
          r.size[l] = static_cast<uint32_t>(out.size());
          r.crc[l] = qp_proto_crc32(0, out.data(), r.size[l]);
        }
        send(QP_MSG_TRACE_R, f.seq, p, qp_proto_put_trace_reply(&r, p));
        return;
      }
      case QP_MSG_LAYER: {
        qp_layer_request_t q;
        if (!qp_proto_get_layer_request(f.payload, f.length, &q) || q.layer >= 3)
          return error(f.seq, QP_ERR_BAD_REQUEST, "bad LAYER request");
        std::vector<uint8_t> px;
        if (!pixels(f, std::vector<uint8_t>(in.begin() + QP_LAYER_REQUEST_BYTES, in.end()), px)) return;
        const auto out = fake_layer(px, q.layer);
        const uint32_t off = std::min<uint32_t>(q.offset, static_cast<uint32_t>(out.size()));
        const uint32_t n = std::min<uint32_t>(q.length, static_cast<uint32_t>(out.size()) - off);
        p[0] = q.layer;
        for (int k = 0; k < 4; ++k) p[1 + k] = static_cast<uint8_t>(off >> (8 * k));
        std::memcpy(p + 5, out.data() + off, n);
        send(QP_MSG_LAYER_R, f.seq, p, 5 + n);
        return;
      }
      default: return error(f.seq, QP_ERR_BAD_REQUEST, "unknown request type");
    }
  }
  void loop() {
    qp_proto_decoder_init(&dec_);
    if (o_.announce) {
      const char boot_log[] = "ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET),boot:0x13 QP\r\n";
      (void)::send(fd_, boot_log, sizeof boot_log - 1, MSG_NOSIGNAL);
      hello(QP_MSG_READY, 0);
    }
    uint8_t buf[512];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return;  // the host closed its end
      if (o_.silent) continue;
      for (ssize_t i = 0; i < n; ++i) {
        qp_frame_t f;
        if (qp_proto_decoder_feed(&dec_, buf[i], &f)) handle(f);
      }
    }
  }

  int fd_;
  Options o_;
  qp::Rng rng_;
  qp_proto_decoder_t dec_;
  qp_stage_t stage_{static_cast<uint32_t>(o_.image), 0};
  std::vector<uint8_t> staged_ = std::vector<uint8_t>(o_.image, 0);
  std::atomic<bool> stop_{false};
  std::atomic<int> infers_{0}, chunks_{0};
  std::thread thread_;
};

// Sits between the Client and the device: drops, duplicates, bit-flips and delays what passes, both ways.
class FaultyStream : public Stream {
 public:
  FaultyStream(Stream &inner, uint64_t seed) : inner_(inner), rng_(seed) {}
  void write(const uint8_t *data, size_t n) override {
    if (rng_.chance(0.02)) return;  // lost on the way to the device
    std::vector<uint8_t> b(data, data + n);
    if (rng_.chance(0.02)) b[rng_.below(static_cast<uint32_t>(n))] ^= static_cast<uint8_t>(1u << rng_.below(8));
    inner_.write(b.data(), n);
    if (rng_.chance(0.02)) inner_.write(b.data(), n);  // duplicated: the device answers twice
  }
  size_t read(uint8_t *data, size_t cap, int timeout_ms) override {
    if (!dup_.empty()) {  // deliver a duplicated chunk again
      const size_t n = std::min(cap, dup_.size());
      std::memcpy(data, dup_.data(), n);
      dup_.erase(dup_.begin(), dup_.begin() + static_cast<long>(n));
      return n;
    }
    const size_t n = inner_.read(data, cap, timeout_ms);
    if (n == 0) return 0;
    if (rng_.chance(0.05)) std::this_thread::sleep_for(std::chrono::milliseconds(rng_.below(15)));
    if (rng_.chance(0.015)) return 0;  // a chunk lost on the way back
    if (rng_.chance(0.02)) data[rng_.below(static_cast<uint32_t>(n))] ^= static_cast<uint8_t>(1u << rng_.below(8));
    if (rng_.chance(0.02)) dup_.assign(data, data + n);
    return n;
  }
  std::string name() const override { return "faulty " + inner_.name(); }

 private:
  Stream &inner_;
  qp::Rng rng_;
  std::vector<uint8_t> dup_;
};

struct Pair {  // host stream + device fd over a socketpair
  std::unique_ptr<Stream> host;
  int device_fd = -1;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    host = qp::device::open_fd_stream(sv[0], sv[0], "test-port");
    device_fd = sv[1];
  }
};

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const qp::Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DeviceClient, HelloTraceLayerAndReset) {
  Pair pair;
  FakeDevice dev(pair.device_fd, {});
  Client client(*pair.host, {.timeout_ms = 2000, .retries = 1});
  int resets = 0;
  client.on_reset = [&](const qp::device::Hello &) { ++resets; };
  const auto ready = client.wait_ready(2000);
  EXPECT_EQ(ready.target, "fake-dev");
  EXPECT_GT(client.stats().skipped_bytes, 40u);  // the boot log before READY
  const auto h = client.hello();
  EXPECT_EQ(h.proto_version, QP_PROTO_VERSION);
  EXPECT_EQ(h.model_hash.substr(0, 8), "a0a1a2a3");
  EXPECT_EQ(h.model_hash.size(), 64u);
  EXPECT_EQ(h.arena_bytes, 12345u);
  EXPECT_EQ(h.clock_hz, 160000000u);
  EXPECT_EQ(h.classes, kClasses);
  EXPECT_EQ(h.layers, 3);
  EXPECT_EQ(h.in_h * h.in_w * h.in_c, static_cast<int>(kImage));

  qp::Rng rng(5);
  const auto img = random_image(rng);
  const auto r = client.infer(img);
  EXPECT_EQ(r.scores, fake_scores(img));
  EXPECT_EQ(r.pred, argmax(r.scores));
  EXPECT_EQ(r.cycles >> 32, qp_proto_crc32(0, img.data(), kImage));
  EXPECT_EQ(r.micros, img[0]);

  const auto t = client.trace(img);
  ASSERT_EQ(t.size.size(), 3u);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(t.size[l], kLayerBytes[l]);
    const auto want = fake_layer(img, l);
    EXPECT_EQ(t.crc[l], qp_proto_crc32(0, want.data(), static_cast<uint32_t>(want.size())));
    const auto got = client.layer_output(img, l, kLayerBytes[l]);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size())) << "layer " << l;
  }
  const uint64_t sent = client.stats().frames_sent;
  EXPECT_EQ(sent, 2u + 1 + (1 + 3 + 1));  // HELLO, INFER, TRACE, LAYER x (1 + 3 + 1)
  EXPECT_NE(error_of([&] { client.layer_output(img, 2, kClasses + 1); }).find("has 5 bytes of output"), std::string::npos);

  client.reset();
  EXPECT_EQ(resets, 0);  // an expected READY is not a reboot
  EXPECT_EQ(client.stats().resets_detected, 0u);
  EXPECT_EQ(client.infer(img).scores, fake_scores(img));
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(client.stats().bad_frames, 1u);  // the "QP\r" in the boot log: a false magic with a bad version
}

TEST(DeviceClient, ErrorReplyCarriesTheDeviceMessage) {
  Pair pair;
  FakeDevice dev(pair.device_fd, {});
  Client client(*pair.host, {.timeout_ms = 2000, .retries = 1});
  client.wait_ready(2000);
  const std::string e = error_of([&] { client.infer(std::vector<uint8_t>(10, 1)); });
  EXPECT_NE(e.find("refused INFER: image size differs from the model input"), std::string::npos) << e;
  EXPECT_NE(e.find("test-port"), std::string::npos) << e;
  EXPECT_NE(e.find("fix:"), std::string::npos) << e;
  EXPECT_EQ(client.stats().retries, 0u);  // an answer, not a timeout
}

// An INFER reply is self-consistent for the codec (pred < its own class count) but may come from firmware for
// another model: its prediction 7 used to reach a 5-class confusion matrix. The client checks the model's count.
TEST(DeviceClient, InferReplyWithAnotherClassCountIsRefused) {
  Pair pair;
  FakeDevice::Options o;
  o.reply_classes = 8;
  o.reply_pred = 7;
  FakeDevice dev(pair.device_fd, o);
  Client client(*pair.host, {.timeout_ms = 2000, .retries = 1, .classes = kClasses});
  client.wait_ready(2000);
  const std::string e = error_of([&] { client.infer(std::vector<uint8_t>(kImage, 1)); });
  EXPECT_NE(e.find("the device on test-port sent an INFER reply with 8 scores (prediction 7) but the model has 5 classes"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("fix: the board runs firmware for another model"), std::string::npos) << e;
  // Unchecked (classes = 0), the same reply reads as it came.
  Pair pair2;
  FakeDevice dev2(pair2.device_fd, o);
  Client loose(*pair2.host, {.timeout_ms = 2000, .retries = 1});
  loose.wait_ready(2000);
  EXPECT_EQ(loose.infer(std::vector<uint8_t>(kImage, 1)).pred, 7);
}

TEST(DeviceClient, SilentDeviceGivesUpAfterRetries) {
  Pair pair;
  FakeDevice dev(pair.device_fd, {.announce = false, .silent = true, .reboot_at = {}});
  Client client(*pair.host, {.timeout_ms = 20, .retries = 3});
  const std::string e = error_of([&] { client.infer(std::vector<uint8_t>(kImage, 1)); });
  EXPECT_NE(e.find("device on test-port did not answer INFER after 4 tries (timeout 20 ms each)"), std::string::npos) << e;
  EXPECT_EQ(client.stats().frames_sent, 4u);
  EXPECT_EQ(client.stats().retries, 3u);
  const std::string r = error_of([&] { client.wait_ready(30); });
  EXPECT_NE(r.find("did not announce itself (READY) within 30 ms"), std::string::npos) << r;
}

TEST(DeviceClient, DeviceGoneIsAnError) {
  Pair pair;
  ::close(pair.device_fd);
  Client client(*pair.host, {.timeout_ms = 200, .retries = 1});
  const std::string e = error_of([&] { client.hello(); });
  EXPECT_NE(e.find("is gone"), std::string::npos) << e;
}

TEST(DeviceClient, PipeWithClosedReaderFailsWithoutSigpipe) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);
  const int devnull = ::open("/dev/null", O_RDONLY);
  auto s = qp::device::open_fd_stream(devnull, p[1], "pipe");
  const uint8_t b[4] = {1, 2, 3, 4};
  const std::string e = error_of([&] { s->write(b, 4); });
  EXPECT_NE(e.find("pipe is gone"), std::string::npos) << e;
}

// 300 inferences through drops, duplicates, bit flips, delays, late replies and device reboots: every reply
// belongs to its image, none is lost, and the stats show each fault happened.
TEST(DeviceClient, FaultInjectionLosesAndDuplicatesNothing) {
  Pair pair;
  FakeDevice dev(pair.device_fd, {.reboot_at = {50, 150, 250}, .slow_chance = 0.02, .slow_ms = 60, .seed = 77});
  FaultyStream faulty(*pair.host, 1234);
  Client client(faulty, {.timeout_ms = 40, .retries = 8});
  int reboots = 0;
  client.on_reset = [&](const qp::device::Hello &h) {
    EXPECT_EQ(h.target, "fake-dev");
    ++reboots;
  };
  client.wait_ready(2000);
  qp::Rng rng(42);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) {
    const auto img = random_image(rng);
    const auto r = client.infer(img);
    ASSERT_EQ(r.scores, fake_scores(img)) << "inference " << i;
    ASSERT_EQ(r.cycles >> 32, qp_proto_crc32(0, img.data(), kImage)) << "inference " << i;
    ASSERT_EQ(r.pred, argmax(r.scores));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto &s = client.stats();
  std::printf(
      "300 faulty inferences in %.2f s: sent %llu, retries %llu, bad frames %llu, skipped %llu, resets %llu, stale %llu\n",
      seconds, (unsigned long long)s.frames_sent, (unsigned long long)s.retries, (unsigned long long)s.bad_frames,
      (unsigned long long)s.skipped_bytes, (unsigned long long)s.resets_detected, (unsigned long long)s.stale_replies);
  EXPECT_GT(s.retries, 0u);
  EXPECT_GT(s.bad_frames, 0u);
  EXPECT_GT(s.skipped_bytes, 0u);
  EXPECT_GT(s.resets_detected, 0u);
  EXPECT_GT(s.stale_replies, 0u);
  EXPECT_EQ(s.frames_sent, 300u + s.retries);
  EXPECT_EQ(static_cast<uint64_t>(reboots), s.resets_detected);
  EXPECT_GE(dev.infers(), 300);
}

// ---- links ----

// Protocol v2: an image larger than a frame is staged in IMAGE chunks, then INFER/TRACE/LAYER go without pixels.
TEST(DeviceClient, ImageLargerThanAFrameIsStagedInChunks) {
  constexpr size_t kBig = 64 * 64 * 3;  // 12288 bytes: 4 chunks
  Pair pair;
  FakeDevice dev(pair.device_fd, {.image = kBig});
  Client client(*pair.host, {.timeout_ms = 2000, .retries = 1});
  client.wait_ready(2000);
  qp::Rng rng(9);
  std::vector<uint8_t> img(kBig);
  for (auto &b : img) b = static_cast<uint8_t>(rng.below(256));
  const auto r = client.infer(img);
  EXPECT_EQ(r.scores, fake_scores(img));
  EXPECT_EQ(r.cycles >> 32, qp_proto_crc32(0, img.data(), kBig));
  EXPECT_EQ(dev.chunks(), 4);
  const auto t = client.trace(img);
  ASSERT_EQ(t.crc.size(), 3u);
  for (int l = 0; l < 3; ++l) {
    const auto want = fake_layer(img, l);
    EXPECT_EQ(t.crc[static_cast<size_t>(l)], qp_proto_crc32(0, want.data(), static_cast<uint32_t>(want.size())));
  }
  const auto want = fake_layer(img, 1);
  const auto got = client.layer_output(img, 1, kLayerBytes[1]);  // 3 LAYER requests, each on a freshly staged image
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), want);
  EXPECT_EQ(dev.chunks(), 4 * 5);
  EXPECT_EQ(client.stats().image_chunks, 20u);
  EXPECT_EQ(client.stats().image_restarts, 0u);
  // A wrong size is still refused, whichever path it takes.
  // One byte short: every chunk is accepted but the run is refused (not fully staged), so the upload gives up.
  EXPECT_NE(error_of([&] { client.infer(std::vector<uint8_t>(kBig - 1, 0)); }).find("not the size"), std::string::npos);
  EXPECT_NE(error_of([&] { client.infer(std::vector<uint8_t>(kImage, 0)); }).find("image size differs"), std::string::npos);
}

// A device that reboots in the middle of an upload: the host uploads the whole image again, never runs on half of it.
TEST(DeviceClient, RebootMidUploadRestartsTheUpload) {
  constexpr size_t kBig = 96 * 96;
  Pair pair;
  FakeDevice dev(pair.device_fd, {.image = kBig, .reboot_at_chunk = {2, 9}});
  Client client(*pair.host, {.timeout_ms = 2000, .retries = 2});
  client.wait_ready(2000);
  qp::Rng rng(10);
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> img(kBig);
    for (auto &b : img) b = static_cast<uint8_t>(rng.below(256));
    EXPECT_EQ(client.infer(img).scores, fake_scores(img)) << "image " << i;
  }
  EXPECT_EQ(client.stats().resets_detected, 2u);
  EXPECT_EQ(client.stats().image_restarts, 2u);
  EXPECT_EQ(dev.infers(), 3);
}

// Lost, duplicated and corrupted frames in both directions while staging large images: every result still exact.
TEST(DeviceClient, FaultInjectionWhileStagingLargeImages) {
  constexpr size_t kBig = 48 * 48 * 3;
  Pair pair;
  FakeDevice dev(pair.device_fd, {.seed = 3, .image = kBig});
  FaultyStream faulty(*pair.host, 99);
  Client client(faulty, {.timeout_ms = 60, .retries = 8});
  client.wait_ready(2000);
  qp::Rng rng(11);
  for (int i = 0; i < 25; ++i) {
    std::vector<uint8_t> img(kBig);
    for (auto &b : img) b = static_cast<uint8_t>(rng.below(256));
    const auto r = client.infer(img);
    ASSERT_EQ(r.scores, fake_scores(img)) << "inference " << i;
    ASSERT_EQ(r.cycles >> 32, qp_proto_crc32(0, img.data(), kBig)) << "inference " << i;
  }
  EXPECT_GT(client.stats().retries, 0u);
}

// A firmware of protocol version 1 is named as such, not timed out on.
TEST(DeviceClient, VersionOneFirmwareIsRefusedClearly) {
  Pair pair;
  FakeDevice dev(pair.device_fd, {.version = 1});
  Client client(*pair.host, {.timeout_ms = 500, .retries = 0});
  const std::string e = error_of([&] { client.wait_ready(2000); });
  EXPECT_NE(e.find("protocol version 1"), std::string::npos) << e;
  EXPECT_NE(e.find("regenerate the firmware with this qparity"), std::string::npos) << e;
}

TEST(DeviceClientLink, SerialErrorsAreClear) {
  qp::test::TempDir dir;
  const std::string missing = (dir / "ttyUSB9").string();
  std::string e = error_of([&] { qp::device::open_serial(missing, 115200); });
  EXPECT_NE(e.find("serial port " + missing + " does not exist"), std::string::npos) << e;
  EXPECT_NE(e.find("is the board plugged in?"), std::string::npos) << e;
  const std::string plain = (dir / "file").string();
  std::ofstream(plain) << "x";
  e = error_of([&] { qp::device::open_serial(plain, 115200); });
  EXPECT_NE(e.find("is not a serial port"), std::string::npos) << e;
  e = error_of([&] { qp::device::open_serial(plain, 12345); });
  EXPECT_NE(e.find("baud rate 12345 is not supported"), std::string::npos) << e;
}

// A pseudo-terminal stands in for a USB serial adapter: raw bytes pass both ways and a second open is refused.
TEST(DeviceClientLink, SerialOnPtyIsRawAndExclusive) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) GTEST_SKIP() << "no pseudo-terminals here";
  const std::string slave = ::ptsname(master);
  {
    auto port = qp::device::open_serial(slave, 921600);
    EXPECT_EQ(port->name(), slave);
    const uint8_t out[] = {'Q', 'P', 0x00, '\n', 0x03, 0xFF, '\r'};  // bytes a cooked tty would translate
    port->write(out, sizeof out);
    uint8_t got[16];
    size_t n = 0;
    for (int i = 0; i < 50 && n < sizeof out; ++i) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) n += static_cast<size_t>(::read(master, got + n, sizeof got - n));
    }
    ASSERT_EQ(n, sizeof out);
    EXPECT_EQ(0, std::memcmp(got, out, sizeof out));
    ASSERT_EQ(::write(master, "\r\nQ\x03", 4), 4);
    n = 0;
    for (int i = 0; i < 50 && n < 4; ++i) n += port->read(got + n, sizeof got - n, 20);
    ASSERT_EQ(n, 4u);
    EXPECT_EQ(0, std::memcmp(got, "\r\nQ\x03", 4));
    EXPECT_EQ(port->read(got, sizeof got, 10), 0u);  // timeout
    const std::string e = error_of([&] { qp::device::open_serial(slave, 115200); });
    EXPECT_TRUE(e.find("busy") != std::string::npos || e.find("in use by another program") != std::string::npos) << e;
    EXPECT_NE(e.find("idf.py monitor"), std::string::npos) << e;
  }
  ::close(master);
}

TEST(DeviceClientLink, UnixSocketTimeoutIsClear) {
  qp::test::TempDir dir;
  const std::string path = (dir / "qemu.sock").string();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string e = error_of([&] { qp::device::connect_unix_socket(path, 150); });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(e.find("no device answered on socket " + path + " within 150 ms"), std::string::npos) << e;
  EXPECT_NE(e.find("fix:"), std::string::npos) << e;
  EXPECT_GE(ms, 140);
  EXPECT_LT(ms, 1500);
}

TEST(DeviceClientLink, UnixSocketWaitsForTheServer) {
  qp::test::TempDir dir;
  const std::string path = (dir / "qemu.sock").string();
  std::atomic<int> server{-1};
  std::thread late([&] {  // the emulator creates its socket a moment after it starts
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    server = fd;
  });
  auto s = qp::device::connect_unix_socket(path, 3000);
  late.join();
  const int conn = ::accept(server, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  const uint8_t hi[3] = {'Q', 'P', 1};
  s->write(hi, 3);
  uint8_t got[3];
  ASSERT_EQ(::read(conn, got, 3), 3);
  EXPECT_EQ(0, std::memcmp(got, hi, 3));
  ::close(conn);
  uint8_t b;
  EXPECT_NE(error_of([&] { s->read(&b, 1, 1000); }).find("is gone"), std::string::npos);  // peer closed: EOF
  ::close(server);
}

// ---- journal ----

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Journal, AppendAndReopenResumes) {
  qp::test::TempDir dir;
  const std::string path = (dir / "run.jsonl").string();
  const nlohmann::json header = {{"model_hash", "ab12"}, {"target", "qemu-rv32"}};
  {
    qp::device::Journal j(path, header);
    EXPECT_EQ(j.size(), 0u);
    j.append("rock/1.png", {{"pred", 0}, {"scores", {1, -2, 3}}});
    j.append("paper/2.png", {{"pred", 1}});
    EXPECT_TRUE(j.has("rock/1.png"));
    EXPECT_FALSE(j.has("nope"));
    EXPECT_EQ(j.size(), 2u);
  }
  {
    qp::device::Journal j(path, header);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j.get("rock/1.png")["scores"][1], -2);
    EXPECT_EQ(j.get("paper/2.png")["pred"], 1);
    EXPECT_THROW(j.get("nope"), qp::Error);
    j.append("scissors/3.png", {{"pred", 2}});
  }
  qp::device::Journal j(path, header);
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j.get("scissors/3.png")["pred"], 2);
  // one header line plus one line per entry
  const std::string text = slurp(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
}

TEST(Journal, TornLastLineIsIgnoredAndTruncated) {
  qp::test::TempDir dir;
  const std::string path = (dir / "run.jsonl").string();
  const nlohmann::json header = {{"v", 1}};
  {
    qp::device::Journal j(path, header);
    j.append("a", {{"pred", 0}});
    j.append("b", {{"pred", 1}});
  }
  const std::string whole = slurp(path);
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << R"({"key":"c","entry":{"pr)";  // crash in the middle of a write
  }
  {
    qp::device::Journal j(path, header);
    EXPECT_EQ(j.size(), 2u);
    EXPECT_FALSE(j.has("c"));
    EXPECT_EQ(slurp(path), whole);  // the torn bytes are gone
    j.append("c", {{"pred", 2}});
  }
  qp::device::Journal j(path, header);
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j.get("c")["pred"], 2);
}

TEST(Journal, DifferentHeaderRefusesFreshStartsOver) {
  qp::test::TempDir dir;
  const std::string path = (dir / "run.jsonl").string();
  {
    qp::device::Journal j(path, {{"model_hash", "aaaa"}});
    j.append("x", {{"pred", 1}});
  }
  const std::string e = error_of([&] { qp::device::Journal j(path, {{"model_hash", "bbbb"}}); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("--fresh"), std::string::npos) << e;
  EXPECT_NE(e.find("delete it"), std::string::npos) << e;
  {
    qp::device::Journal j(path, {{"model_hash", "aaaa"}});  // the refusal left the file alone
    EXPECT_TRUE(j.has("x"));
  }
  {
    qp::device::Journal j(path, {{"model_hash", "bbbb"}}, /*fresh=*/true);
    EXPECT_EQ(j.size(), 0u);
    j.append("y", {{"pred", 0}});
  }
  qp::device::Journal j(path, {{"model_hash", "bbbb"}});
  EXPECT_EQ(j.size(), 1u);
  EXPECT_FALSE(j.has("x"));
  std::ofstream(path) << "not json\n";
  EXPECT_NE(error_of([&] {
              qp::device::Journal k(path, {{"model_hash", "bbbb"}});
            }).find("is not a qparity journal"),
            std::string::npos);
}

}  // namespace

// A resumed journal's entries are checked against the model before they are counted: a prediction outside the
// classes used to corrupt the heap (confusion matrix), a missing key ended in "internal error" (exit 3).
TEST(Journal, DeviceEntriesAreCheckedAgainstTheModel) {
  const nlohmann::json good = {{"pred", 2}, {"scores", {-100, 5, 60}}, {"cycles", 6650000}, {"micros", 41562}};
  const auto r = qp::device::read_journal_entry(good, 3, "out/device.json.journal", "data/test/rock/1.png");
  EXPECT_EQ(r.pred, 2);
  EXPECT_EQ(r.scores, (std::vector<int8_t>{-100, 5, 60}));
  EXPECT_EQ(r.cycles, 6650000u);
  EXPECT_EQ(r.micros, 41562u);
  const auto big = qp::device::read_journal_entry(
      {{"pred", 0}, {"scores", {127, -128, 0}}, {"cycles", 18446744073709551615ull}, {"micros", 4294967295ull}}, 3, "j", "k");
  EXPECT_EQ(big.cycles, 18446744073709551615ull);
  EXPECT_EQ(big.micros, 4294967295u);

  auto error = [&](const std::function<void(nlohmann::json &)> &edit) {
    nlohmann::json e = good;
    edit(e);
    return error_of([&] { qp::device::read_journal_entry(e, 3, "out/device.json.journal", "data/test/rock/1.png"); });
  };
  for (const char *key : {"scores", "pred", "cycles", "micros"}) {
    const std::string e = error([&](nlohmann::json &j) { j.erase(key); });
    EXPECT_NE(e.find(std::string("journal out/device.json.journal: entry 'data/test/rock/1.png'.") + key + " is missing"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("fix: delete it or pass --fresh"), std::string::npos) << e;
  }
  EXPECT_NE(error([](nlohmann::json &j) { j["pred"] = 3; }).find(".pred is 3, outside [0, 2]"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["pred"] = 255; }).find(".pred is 255, outside [0, 2]"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["pred"] = -1; }).find(".pred is -1"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["pred"] = 4294967297ll; }).find(".pred is 4294967297"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["scores"] = {1, 2}; }).find(".scores has 2 values, not 3"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["scores"][1] = 200; }).find(".scores[1] is 200, outside [-128, 127]"),
            std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["cycles"] = -1; }).find(".cycles is -1, not a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["cycles"] = 1e30; }).find(".cycles is 1e+30"), std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j["micros"] = 4294967296ll; }).find(".micros is 4294967296, more than 4294967295"),
            std::string::npos);
  EXPECT_NE(error([](nlohmann::json &j) { j = nlohmann::json::array(); }).find("is array, not an object"), std::string::npos);
}
