// The host side of the serial protocol (see client.h).
#include "device/client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/error.h"

namespace qp::device {
namespace {

using Clock = std::chrono::steady_clock;

const char *type_name(uint8_t type) {
  switch (type) {
    case QP_MSG_HELLO: return "HELLO";
    case QP_MSG_INFER: return "INFER";
    case QP_MSG_RESET: return "RESET";
    case QP_MSG_TRACE: return "TRACE";
    case QP_MSG_LAYER: return "LAYER";
    case QP_MSG_IMAGE: return "IMAGE";
    case QP_MSG_READY: return "READY";
    case QP_MSG_HELLO_R: return "HELLO reply";
    case QP_MSG_INFER_R: return "INFER reply";
    case QP_MSG_RESET_R: return "RESET reply";
    case QP_MSG_TRACE_R: return "TRACE reply";
    case QP_MSG_LAYER_R: return "LAYER reply";
    case QP_MSG_IMAGE_R: return "IMAGE reply";
    case QP_MSG_ERROR: return "ERROR";
    default: return "unknown";
  }
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

const char *kFirmwareFix =
    "rebuild and reflash the firmware with this qparity version (qparity firmware), so both ends speak the same protocol";

}  // namespace

Client::Client(Stream &s, ClientOptions o)
    : s_(s), o_(o), dec_(std::make_unique<qp_proto_decoder_t>()), rx_(4096), tx_(QP_PROTO_MAX_FRAME) {
  qp_proto_decoder_init(dec_.get());
  // Start the sequence numbers somewhere new, so a late reply from an earlier run on the same link is stale.
  seq_ = static_cast<uint16_t>(Clock::now().time_since_epoch().count() >> 10);
}

Client::~Client() = default;

uint16_t Client::next_seq() {
  if (++seq_ == 0) seq_ = 1;  // 0 is what READY carries
  return seq_;
}

bool Client::next_frame(Frame &f, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  for (;;) {
    while (rx_pos_ < rx_len_) {
      qp_frame_t frame;
      const int got = qp_proto_decoder_feed(dec_.get(), rx_[rx_pos_++], &frame);
      stats_.bad_frames = dec_->bad_crc + dec_->bad_header;
      stats_.skipped_bytes = dec_->skipped;
      if (got) {
        f.version = frame.version;
        f.type = frame.type;
        f.seq = frame.seq;
        f.payload.assign(frame.payload, frame.payload + frame.length);
        return true;
      }
    }
    const int left = ms_left(deadline);
    if (left == 0) return false;
    rx_pos_ = 0;
    rx_len_ = s_.read(rx_.data(), rx_.size(), left);
  }
}

void Client::check_version(const Frame &f) const {
  if (f.version != QP_PROTO_VERSION)
    fail("the device on " + s_.name() + " speaks protocol version " + std::to_string(f.version) + ", this qparity version " +
             std::to_string(QP_PROTO_VERSION),
         "regenerate the firmware with this qparity (qparity firmware) and flash it");
}

Hello Client::parse_hello(const Frame &f, const char *what) const {
  check_version(f);
  qp_hello_t h;
  if (!qp_proto_get_hello(f.payload.data(), static_cast<uint16_t>(f.payload.size()), &h))
    fail("the device on " + s_.name() + " sent a malformed " + what + " (" + std::to_string(f.payload.size()) + " bytes)",
         kFirmwareFix);
  Hello out;
  out.proto_version = h.proto_version;
  char hex[3];
  for (uint8_t b : h.model_hash) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    out.model_hash += hex;
  }
  size_t n = 0;
  while (n < sizeof h.target && h.target[n] != '\0') ++n;
  out.target.assign(h.target, n);
  out.arena_bytes = h.arena_bytes;
  out.clock_hz = h.clock_hz;
  out.classes = h.classes;
  out.layers = h.layers;
  out.in_h = h.in_h;
  out.in_w = h.in_w;
  out.in_c = h.in_c;
  return out;
}

Client::Frame Client::request(uint8_t type, const std::vector<uint8_t> &payload, uint8_t reply_type, bool image_step) {
  const std::string what = type_name(type);
  if (payload.size() > QP_PROTO_MAX_PAYLOAD)
    fail("internal: " + what + " request of " + std::to_string(payload.size()) + " bytes does not fit a frame (at most " +
             std::to_string(QP_PROTO_MAX_PAYLOAD) + ")");
  std::vector<uint16_t> seqs;  // every attempt of this request
  int timeouts = 0, reboots = 0;
  for (;;) {
    const uint16_t seq = next_seq();
    seqs.push_back(seq);
    const uint32_t n = qp_proto_encode(type, seq, payload.data(), static_cast<uint16_t>(payload.size()), tx_.data(),
                                       static_cast<uint32_t>(tx_.size()));
    s_.write(tx_.data(), n);
    ++stats_.frames_sent;
    if (seqs.size() > 1) ++stats_.retries;
    const auto deadline = Clock::now() + std::chrono::milliseconds(o_.timeout_ms);
    bool resend = false;
    Frame f;
    while (!resend && next_frame(f, ms_left(deadline))) {
      if (f.type == QP_MSG_READY) {
        if (type == QP_MSG_RESET) return f;  // the reply was lost but the reset happened
        const Hello h = parse_hello(f, "READY");
        ++stats_.resets_detected;
        if (on_reset) on_reset(h);
        if (image_step) return f;  // the staged image is gone: the caller uploads it again
        if (++reboots > o_.retries + 1)
          fail("the device on " + s_.name() + " rebooted " + std::to_string(reboots) + " times while answering " + what,
               "it probably crashes on this request: run it alone, and watch the board's log (idf.py monitor)");
        resend = true;
        continue;
      }
      if (std::find(seqs.begin(), seqs.end(), f.seq) == seqs.end()) {
        ++stats_.stale_replies;  // a late reply or a duplicate of an earlier request
        continue;
      }
      check_version(f);
      if (f.type == reply_type) return f;
      if (f.type == QP_MSG_ERROR) {
        const int code = f.payload.empty() ? 0 : f.payload[0];
        if (image_step && code == QP_ERR_NOT_STAGED) return f;  // e.g. a resend after a lost reply, or an unseen reboot
        const std::string message = f.payload.size() > 1 ? std::string(f.payload.begin() + 1, f.payload.end()) : "";
        std::string fix = "check that the model given matches the firmware on the device (qparity device hello shows it)";
        if (code == QP_ERR_RUNTIME) fix = "the firmware's kernels failed: regenerate the firmware from the same INT8 model";
        fail("the device on " + s_.name() + " refused " + what + ": " + message + " (error code " + std::to_string(code) + ")",
             fix);
      }
      ++stats_.stale_replies;  // our sequence number but not the reply we wait for
    }
    if (!resend && ++timeouts > o_.retries)
      fail("device on " + s_.name() + " did not answer " + what + " after " + std::to_string(timeouts) + " tries (timeout " +
               std::to_string(o_.timeout_ms) + " ms each)",
           "check that the board runs qparity firmware of this version at this baud rate (reset it, or regenerate the "
           "firmware with this qparity and reflash it), that nothing else uses the port, and that no boot log is still printing");
  }
}

Client::Frame Client::image_request(uint8_t type, const std::vector<uint8_t> &head, const std::vector<uint8_t> &rgb,
                                    uint8_t reply_type) {
  if (head.size() + rgb.size() <= QP_PROTO_MAX_PAYLOAD) {  // one frame carries the request and its pixels
    std::vector<uint8_t> payload(head);
    payload.insert(payload.end(), rgb.begin(), rgb.end());
    return request(type, payload, reply_type);
  }
  const std::string what = type_name(type);
  std::vector<uint8_t> chunk(QP_PROTO_MAX_PAYLOAD);
  for (int restarts = 0;; ++restarts) {
    if (restarts > o_.retries + 1)
      fail("the device on " + s_.name() + " lost the staged image " + std::to_string(restarts) + " times while answering " +
               what + " (reboots, or an image of " + std::to_string(rgb.size()) + " bytes that is not the size its model takes)",
           "check the image size against 'qparity device hello'; if it matches, the board probably crashes on this "
           "request: run it alone, and watch its log (idf.py monitor)");
    if (restarts > 0) ++stats_.image_restarts;
    bool lost = false;
    for (size_t offset = 0; offset < rgb.size() && !lost; offset += QP_IMAGE_MAX_CHUNK) {
      qp_image_request_t q;
      q.offset = static_cast<uint32_t>(offset);
      q.length = static_cast<uint16_t>(std::min<size_t>(QP_IMAGE_MAX_CHUNK, rgb.size() - offset));
      q.bytes = rgb.data() + offset;
      chunk.resize(QP_PROTO_MAX_PAYLOAD);
      chunk.resize(qp_proto_put_image_request(&q, chunk.data()));
      const Frame f = request(QP_MSG_IMAGE, chunk, QP_MSG_IMAGE_R, true);
      if (f.type != QP_MSG_IMAGE_R) {
        lost = true;
        break;
      }
      qp_image_reply_t r;
      if (!qp_proto_get_image_reply(f.payload.data(), static_cast<uint16_t>(f.payload.size()), &r) || r.offset != q.offset ||
          r.staged < q.offset + q.length)
        fail("the device on " + s_.name() + " sent an IMAGE reply that does not match the request (offset " +
                 std::to_string(q.offset) + ")",
             kFirmwareFix);
      ++stats_.image_chunks;
    }
    if (lost) continue;
    const Frame f = request(type, head, reply_type, true);
    if (f.type == reply_type) return f;
  }
}

Hello Client::wait_ready(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  Frame f;
  while (next_frame(f, ms_left(deadline)))
    if (f.type == QP_MSG_READY) return parse_hello(f, "READY");
  fail("the device on " + s_.name() + " did not announce itself (READY) within " + std::to_string(timeout_ms) + " ms",
       "reset the board (EN/RST button) or restart the emulator, and check that it runs qparity firmware at this baud rate");
}

Hello Client::hello() {
  return parse_hello(request(QP_MSG_HELLO, {}, QP_MSG_HELLO_R), "HELLO reply");
}

Inference Client::infer(const std::vector<uint8_t> &rgb) {
  const Frame f = image_request(QP_MSG_INFER, {}, rgb, QP_MSG_INFER_R);
  qp_infer_reply_t r;
  if (!qp_proto_get_infer_reply(f.payload.data(), static_cast<uint16_t>(f.payload.size()), &r))
    fail("the device on " + s_.name() + " sent a malformed INFER reply (" + std::to_string(f.payload.size()) + " bytes)",
         kFirmwareFix);
  // The codec checked pred < the reply's own class count; the model's count is checked here, so a reply from
  // other firmware never reaches a confusion matrix sized for this model.
  if (o_.classes > 0 && r.classes != o_.classes)
    fail("the device on " + s_.name() + " sent an INFER reply with " + std::to_string(r.classes) + " scores (prediction " +
             std::to_string(r.pred) + ") but the model has " + std::to_string(o_.classes) + " classes",
         "the board runs firmware for another model: regenerate and reflash it from this INT8 model (qparity firmware)");
  Inference out;
  out.pred = r.pred;
  out.scores.assign(r.scores, r.scores + r.classes);
  out.cycles = r.cycles;
  out.micros = r.micros;
  return out;
}

Trace Client::trace(const std::vector<uint8_t> &rgb) {
  const Frame f = image_request(QP_MSG_TRACE, {}, rgb, QP_MSG_TRACE_R);
  qp_trace_reply_t r;
  if (!qp_proto_get_trace_reply(f.payload.data(), static_cast<uint16_t>(f.payload.size()), &r))
    fail("the device on " + s_.name() + " sent a malformed TRACE reply (" + std::to_string(f.payload.size()) + " bytes)",
         kFirmwareFix);
  Trace out;
  out.pred = r.pred;
  out.size.assign(r.size, r.size + r.layers);
  out.crc.assign(r.crc, r.crc + r.layers);
  return out;
}

std::vector<int8_t> Client::layer_output(const std::vector<uint8_t> &rgb, int layer, uint32_t size) {
  if (layer < 0 || layer >= static_cast<int>(QP_PROTO_MAX_LAYERS))
    fail("layer " + std::to_string(layer) + " is out of range (0.." + std::to_string(QP_PROTO_MAX_LAYERS - 1) + ")", "");
  constexpr uint32_t kChunk = QP_PROTO_MAX_PAYLOAD - 5u;  // LAYER_R: layer u8, offset u32, bytes
  std::vector<int8_t> out;
  out.reserve(size);
  std::vector<uint8_t> head(QP_LAYER_REQUEST_BYTES);
  while (out.size() < size) {
    qp_layer_request_t q;
    q.layer = static_cast<uint8_t>(layer);
    q.offset = static_cast<uint32_t>(out.size());
    q.length = static_cast<uint16_t>(std::min<uint32_t>(kChunk, size - q.offset));
    qp_proto_put_layer_request(&q, head.data());
    const Frame f = image_request(QP_MSG_LAYER, head, rgb, QP_MSG_LAYER_R);  // each LAYER re-runs the inference
    const auto &p = f.payload;
    const uint32_t offset =
        p.size() >= 5 ? static_cast<uint32_t>(p[1] | (p[2] << 8) | (p[3] << 16)) | (static_cast<uint32_t>(p[4]) << 24) : 0;
    if (p.size() < 5 || p[0] != q.layer || offset != q.offset || p.size() - 5 > q.length)
      fail("the device on " + s_.name() + " sent a LAYER reply that does not match the request (layer " + std::to_string(layer) +
               ", offset " + std::to_string(q.offset) + ")",
           kFirmwareFix);
    if (p.size() == 5)
      fail("layer " + std::to_string(layer) + " on the device on " + s_.name() + " has " + std::to_string(q.offset) +
               " bytes of output, the host expects " + std::to_string(size),
           "check that the model given matches the firmware on the device (qparity device hello shows its hash)");
    for (size_t i = 5; i < p.size(); ++i) out.push_back(static_cast<int8_t>(p[i]));
  }
  return out;
}

void Client::reset() {
  const Frame f = request(QP_MSG_RESET, {}, QP_MSG_RESET_R);
  if (f.type != QP_MSG_READY) wait_ready(o_.timeout_ms);
}

}  // namespace qp::device
