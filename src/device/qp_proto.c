/* qparity serial protocol codec (see qp_proto.h). C99, integer-only, no heap; no 64-bit multiply or
 * divide (Xtensa lx106 has no helpers for them), only shifts and ors of uint64_t. */
#include "qp_proto.h"

#include <string.h>

/* ---- CRC-32 (IEEE, reflected), one nibble at a time: 16 entries, 64 bytes of flash ---- */

static const uint32_t qp_proto_crc_nibble[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
                                                 0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                                 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t qp_proto_crc32(uint32_t crc, const uint8_t *data, uint32_t length) {
  uint32_t i;
  crc = ~crc;
  for (i = 0; i < length; ++i) {
    crc ^= data[i];
    crc = (crc >> 4) ^ qp_proto_crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ qp_proto_crc_nibble[crc & 15u];
  }
  return ~crc;
}

/* ---- little-endian helpers ---- */

static void qp_proto_put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void qp_proto_put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint16_t qp_proto_get_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t qp_proto_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- frames ---- */

uint32_t qp_proto_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t length, uint8_t *out, uint32_t cap) {
  const uint32_t total = QP_PROTO_HEADER_BYTES + (uint32_t)length + QP_PROTO_CRC_BYTES;
  uint32_t crc;
  if (length > QP_PROTO_MAX_PAYLOAD || cap < total || (payload == 0 && length > 0)) return 0;
  out[0] = QP_PROTO_MAGIC0;
  out[1] = QP_PROTO_MAGIC1;
  out[2] = QP_PROTO_VERSION;
  out[3] = type;
  qp_proto_put_u16(out + 4, seq);
  qp_proto_put_u16(out + 6, length);
  if (length > 0) memmove(out + QP_PROTO_HEADER_BYTES, payload, length);
  crc = qp_proto_crc32(0, out + 2, QP_PROTO_HEADER_BYTES - 2u + (uint32_t)length);
  qp_proto_put_u32(out + QP_PROTO_HEADER_BYTES + length, crc);
  return total;
}

void qp_proto_decoder_init(qp_proto_decoder_t *d) {
  memset(d, 0, sizeof *d);
}

/* What the bytes buf[0..have) are as the start of a frame. */
enum {
  QP_PROTO_PREFIX_PARTIAL,
  QP_PROTO_PREFIX_FRAME,
  QP_PROTO_PREFIX_NO_MAGIC,
  QP_PROTO_PREFIX_BAD_HEADER,
  QP_PROTO_PREFIX_BAD_CRC
};

static int qp_proto_check_prefix(qp_proto_decoder_t *d) {
  const uint8_t *b = d->buf;
  uint32_t length;
  d->need = 0;
  if (d->have >= 1 && b[0] != QP_PROTO_MAGIC0) return QP_PROTO_PREFIX_NO_MAGIC;
  if (d->have >= 2 && b[1] != QP_PROTO_MAGIC1) return QP_PROTO_PREFIX_NO_MAGIC;
  if (d->have >= 3 && (b[2] == 0u || b[2] > QP_PROTO_VERSION)) return QP_PROTO_PREFIX_BAD_HEADER;
  if (d->have < QP_PROTO_HEADER_BYTES) return QP_PROTO_PREFIX_PARTIAL;
  length = qp_proto_get_u16(b + 6);
  if (length > QP_PROTO_MAX_PAYLOAD) return QP_PROTO_PREFIX_BAD_HEADER;
  d->need = QP_PROTO_HEADER_BYTES + length + QP_PROTO_CRC_BYTES;
  if (d->have < d->need) return QP_PROTO_PREFIX_PARTIAL;
  if (qp_proto_crc32(0, b + 2, QP_PROTO_HEADER_BYTES - 2u + length) != qp_proto_get_u32(b + QP_PROTO_HEADER_BYTES + length))
    return QP_PROTO_PREFIX_BAD_CRC;
  return QP_PROTO_PREFIX_FRAME;
}

/* Drops the first `n` held bytes (n <= have), keeping the rest at the start of the buffer. */
static void qp_proto_drop(qp_proto_decoder_t *d, uint32_t n) {
  if (n < d->have) memmove(d->buf, d->buf + n, d->have - n);
  d->have -= n;
}

/* State between calls: buf[0..have) holds the bytes not yet consumed. need > 0 with have >= need means
 * the previous call delivered the frame in buf[0..need) (its payload stayed readable until now) and
 * buf[need..have) are bytes that followed it inside a rejected candidate, still to be scanned.
 * Otherwise buf[0..have) is a valid, incomplete frame prefix. */
int qp_proto_decoder_feed(qp_proto_decoder_t *d, uint8_t byte, qp_frame_t *frame) {
  if (d->need > 0 && d->have >= d->need) qp_proto_drop(d, d->need);
  d->need = 0;
  d->buf[d->have++] = byte; /* fits: have < QP_PROTO_MAX_FRAME here (see the state note above) */
  for (;;) {
    uint32_t next;
    const int status = qp_proto_check_prefix(d);
    if (status == QP_PROTO_PREFIX_PARTIAL) return 0;
    if (status == QP_PROTO_PREFIX_FRAME) {
      d->frames++;
      frame->version = d->buf[2];
      frame->type = d->buf[3];
      frame->seq = qp_proto_get_u16(d->buf + 4);
      frame->length = qp_proto_get_u16(d->buf + 6);
      frame->payload = d->buf + QP_PROTO_HEADER_BYTES;
      return 1; /* buf[0..need) stays until the next call */
    }
    if (status == QP_PROTO_PREFIX_BAD_HEADER) d->bad_header++;
    if (status == QP_PROTO_PREFIX_BAD_CRC) d->bad_crc++;
    /* Rejected candidate: resynchronise on the next magic byte among the bytes already held. */
    for (next = 1; next < d->have && d->buf[next] != QP_PROTO_MAGIC0; ++next) {
    }
    d->skipped += next;
    qp_proto_drop(d, next);
    d->need = 0;
    if (d->have == 0) return 0;
  }
}

/* ---- payloads ---- */

uint16_t qp_proto_put_hello(const qp_hello_t *h, uint8_t *out) {
  uint8_t *p = out;
  *p++ = h->proto_version;
  memcpy(p, h->model_hash, 32);
  p += 32;
  memcpy(p, h->target, QP_PROTO_TARGET_CHARS);
  p += QP_PROTO_TARGET_CHARS;
  qp_proto_put_u32(p, h->arena_bytes);
  qp_proto_put_u32(p + 4, h->clock_hz);
  p += 8;
  *p++ = h->classes;
  *p++ = h->layers;
  *p++ = h->in_h;
  *p++ = h->in_w;
  *p++ = h->in_c;
  return (uint16_t)(p - out);
}

int qp_proto_get_hello(const uint8_t *p, uint16_t length, qp_hello_t *h) {
  if (length != QP_HELLO_BYTES) return 0;
  h->proto_version = *p++;
  memcpy(h->model_hash, p, 32);
  p += 32;
  memcpy(h->target, p, QP_PROTO_TARGET_CHARS);
  p += QP_PROTO_TARGET_CHARS;
  h->arena_bytes = qp_proto_get_u32(p);
  h->clock_hz = qp_proto_get_u32(p + 4);
  p += 8;
  h->classes = *p++;
  h->layers = *p++;
  h->in_h = *p++;
  h->in_w = *p++;
  h->in_c = *p;
  return h->classes <= QP_PROTO_MAX_CLASSES; /* layers: a u8 is always <= QP_PROTO_MAX_LAYERS */
}

uint16_t qp_proto_put_infer_reply(const qp_infer_reply_t *r, uint8_t *out) {
  uint32_t k, n = 0;
  if (r->classes > QP_PROTO_MAX_CLASSES) return 0;
  out[n++] = r->pred;
  out[n++] = r->classes;
  for (k = 0; k < r->classes; ++k) out[n++] = (uint8_t)r->scores[k];
  qp_proto_put_u32(out + n, (uint32_t)r->cycles);
  qp_proto_put_u32(out + n + 4, (uint32_t)(r->cycles >> 32));
  qp_proto_put_u32(out + n + 8, r->micros);
  return (uint16_t)(n + 12u);
}

int qp_proto_get_infer_reply(const uint8_t *p, uint16_t length, qp_infer_reply_t *r) {
  uint32_t k;
  if (length < 2u) return 0;
  if (p[1] > QP_PROTO_MAX_CLASSES || length != 14u + p[1] || p[0] >= p[1]) return 0;
  memset(r, 0, sizeof *r);
  r->pred = p[0];
  r->classes = p[1];
  p += 2;
  for (k = 0; k < r->classes; ++k) r->scores[k] = (int8_t)*p++;
  r->cycles = (uint64_t)qp_proto_get_u32(p) | ((uint64_t)qp_proto_get_u32(p + 4) << 32);
  r->micros = qp_proto_get_u32(p + 8);
  return 1;
}

uint16_t qp_proto_put_trace_reply(const qp_trace_reply_t *r, uint8_t *out) {
  uint32_t k, n = 0; /* layers <= 255 = QP_PROTO_MAX_LAYERS: 2 + 8 * 255 bytes fit a frame */
  out[n++] = r->pred;
  out[n++] = r->layers;
  for (k = 0; k < r->layers; ++k, n += 8) {
    qp_proto_put_u32(out + n, r->size[k]);
    qp_proto_put_u32(out + n + 4, r->crc[k]);
  }
  return (uint16_t)n;
}

int qp_proto_get_trace_reply(const uint8_t *p, uint16_t length, qp_trace_reply_t *r) {
  uint32_t k;
  if (length < 2u) return 0;
  if (length != 2u + 8u * p[1]) return 0;
  memset(r, 0, sizeof *r);
  r->pred = p[0];
  r->layers = p[1];
  p += 2;
  for (k = 0; k < r->layers; ++k, p += 8) {
    r->size[k] = qp_proto_get_u32(p);
    r->crc[k] = qp_proto_get_u32(p + 4);
  }
  return 1;
}

uint16_t qp_proto_put_layer_request(const qp_layer_request_t *r, uint8_t *out) {
  out[0] = r->layer;
  qp_proto_put_u32(out + 1, r->offset);
  qp_proto_put_u16(out + 5, r->length);
  return (uint16_t)QP_LAYER_REQUEST_BYTES;
}

int qp_proto_get_layer_request(const uint8_t *p, uint16_t length, qp_layer_request_t *r) {
  if (length < QP_LAYER_REQUEST_BYTES) return 0;
  r->layer = p[0];
  r->offset = qp_proto_get_u32(p + 1);
  r->length = qp_proto_get_u16(p + 5);
  return r->layer < QP_PROTO_MAX_LAYERS && r->length <= QP_PROTO_MAX_PAYLOAD - 5u;
}

uint16_t qp_proto_put_image_request(const qp_image_request_t *r, uint8_t *out) {
  if (r->length == 0u || r->length > QP_IMAGE_MAX_CHUNK || r->bytes == 0) return 0;
  qp_proto_put_u32(out, r->offset);
  memmove(out + QP_IMAGE_HEADER_BYTES, r->bytes, r->length);
  return (uint16_t)(QP_IMAGE_HEADER_BYTES + r->length);
}

int qp_proto_get_image_request(const uint8_t *p, uint16_t length, qp_image_request_t *r) {
  if (length <= QP_IMAGE_HEADER_BYTES || length > QP_PROTO_MAX_PAYLOAD) return 0;
  r->offset = qp_proto_get_u32(p);
  r->length = (uint16_t)(length - QP_IMAGE_HEADER_BYTES);
  r->bytes = p + QP_IMAGE_HEADER_BYTES;
  return 1;
}

uint16_t qp_proto_put_image_reply(const qp_image_reply_t *r, uint8_t *out) {
  qp_proto_put_u32(out, r->offset);
  qp_proto_put_u32(out + 4, r->staged);
  return (uint16_t)QP_IMAGE_REPLY_BYTES;
}

int qp_proto_get_image_reply(const uint8_t *p, uint16_t length, qp_image_reply_t *r) {
  if (length != QP_IMAGE_REPLY_BYTES) return 0;
  r->offset = qp_proto_get_u32(p);
  r->staged = qp_proto_get_u32(p + 4);
  return 1;
}

/* ---- image staging ---- */

int qp_stage_chunk(qp_stage_t *s, uint32_t offset, uint32_t length) {
  if (length == 0u || offset > s->total || length > s->total - offset) return QP_ERR_BAD_SIZE;
  if (offset > s->staged) return QP_ERR_NOT_STAGED; /* a gap: the bytes before this chunk were not staged */
  if (offset + length > s->staged) s->staged = offset + length;
  return 0;
}

int qp_stage_complete(const qp_stage_t *s) {
  return s->total > 0u && s->staged == s->total;
}
