/* qparity serial protocol: framed binary messages between the host and the device firmware. C99,
 * integer-only, allocation-free; the same sources build into the firmware and into the host.
 *
 * Frame (all multi-byte fields little-endian):
 *   'Q' 'P' | version u8 | type u8 | seq u16 | length u16 | payload[length] | crc32 u32
 * The CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF) covers
 * version, type, seq, length and payload. A reply carries the sequence number of its request.
 * The decoder accepts frames of versions 1..QP_PROTO_VERSION and reports the version (qp_frame_t), so
 * the host can name a firmware of an older protocol instead of timing out; both ends send only the current one.
 *
 * Conversation: the device sends READY (payload = HELLO reply) when it boots, so the host knows the
 * device is listening and can detect a reset mid-run. Then each request gets exactly one reply:
 *   HELLO  ()                      -> HELLO_R  (qp_hello_t)
 *   INFER  (H*W*C raw pixel bytes, HWC, at the model's input size: HELLO's in_h, in_w, in_c)
 *                                  -> INFER_R  (qp_infer_reply_t); the device maps pixels to int8 itself
 *   TRACE  (H*W*C raw pixel bytes) -> TRACE_R  (qp_trace_reply_t: size and CRC-32 of every layer output)
 *   LAYER  (qp_layer_request_t + H*W*C pixels) -> LAYER_R (layer, offset, bytes of that layer's output)
 *   IMAGE  (offset u32 + 1..QP_IMAGE_MAX_CHUNK pixel bytes) -> IMAGE_R (qp_image_reply_t)
 *   RESET  ()                      -> RESET_R  (), then the device reboots its state and sends READY
 * Any request the device cannot serve gets ERROR (code u8, then a short ASCII message).
 *
 * Images larger than one frame (version 2): the host stages the image with IMAGE requests, in order
 * (a chunk may repeat or overlap what is staged, never leave a gap: qp_stage_chunk), then sends INFER,
 * TRACE or LAYER with no pixels (LAYER: the request alone), meaning "the staged image". The device maps
 * each chunk's pixels straight into the arena's input tensor through the model's pixel table (no
 * second image buffer), so an inference consumes the staged image (the arena is reused while it runs):
 * a run without every byte staged since the last inference is refused (ERROR QP_ERR_NOT_STAGED), and
 * the host stages the image again for every request (a reboot mid-upload restarts the upload). Images
 * that fit one frame go in the request itself, as in version 1.
 */
#ifndef QP_PROTO_H
#define QP_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QP_PROTO_MAGIC0 0x51u /* 'Q' */
#define QP_PROTO_MAGIC1 0x50u /* 'P' */
#define QP_PROTO_VERSION 2u
#define QP_PROTO_HEADER_BYTES 8u
#define QP_PROTO_CRC_BYTES 4u
#define QP_PROTO_MAX_PAYLOAD 4096u
#define QP_PROTO_MAX_FRAME (QP_PROTO_HEADER_BYTES + QP_PROTO_MAX_PAYLOAD + QP_PROTO_CRC_BYTES)
#define QP_PROTO_MAX_CLASSES 16u
#define QP_PROTO_MAX_LAYERS 255u /* what HELLO's and TRACE's u8 counts carry */
#define QP_PROTO_TARGET_CHARS 16u

typedef enum {
  QP_MSG_HELLO = 0x01,
  QP_MSG_INFER = 0x02,
  QP_MSG_RESET = 0x03,
  QP_MSG_TRACE = 0x04,
  QP_MSG_LAYER = 0x05,
  QP_MSG_IMAGE = 0x06,
  QP_MSG_READY = 0x80,
  QP_MSG_HELLO_R = 0x81,
  QP_MSG_INFER_R = 0x82,
  QP_MSG_RESET_R = 0x83,
  QP_MSG_TRACE_R = 0x84,
  QP_MSG_LAYER_R = 0x85,
  QP_MSG_IMAGE_R = 0x86,
  QP_MSG_ERROR = 0xFF
} qp_msg_type_t;

typedef enum {
  QP_ERR_BAD_REQUEST = 1, /* unknown type or malformed payload */
  QP_ERR_BAD_SIZE = 2,    /* image size differs from the model's input */
  QP_ERR_RUNTIME = 3,     /* a kernel returned a non-OK status */
  QP_ERR_NOT_STAGED = 4   /* IMAGE leaves a gap, or a run without pixels before the whole image is staged */
} qp_error_code_t;

/* CRC-32 (IEEE), incremental: crc = qp_proto_crc32(0, a, n); crc = qp_proto_crc32(crc, b, m); */
uint32_t qp_proto_crc32(uint32_t crc, const uint8_t *data, uint32_t length);

/* Writes one frame into out[cap]. Returns the frame's byte count, or 0 when length exceeds
 * QP_PROTO_MAX_PAYLOAD or cap is too small. payload may be NULL when length is 0. */
uint32_t qp_proto_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t length, uint8_t *out, uint32_t cap);

typedef struct {
  uint8_t version; /* 1..QP_PROTO_VERSION */
  uint8_t type;
  uint16_t seq;
  uint16_t length;
  const uint8_t *payload; /* points into the decoder's buffer: valid until the next feed */
} qp_frame_t;

/* Streaming decoder: feed bytes one at a time; it hunts for the magic, checks version, length and
 * CRC, and after any bad frame resynchronises on the next magic inside the bytes it already holds
 * (a frame that starts inside garbage is still found). No allocation: the buffer is inside. */
typedef struct {
  uint8_t buf[QP_PROTO_MAX_FRAME];
  uint32_t have;      /* bytes buffered of the current candidate frame */
  uint32_t need;      /* bytes the candidate frame needs in total (0 until its header is complete) */
  uint32_t frames;    /* valid frames decoded */
  uint32_t bad_crc;   /* candidates dropped for a CRC mismatch */
  uint32_t bad_header;/* candidates dropped for a bad version or length */
  uint32_t skipped;   /* bytes discarded while hunting for a frame */
} qp_proto_decoder_t;

void qp_proto_decoder_init(qp_proto_decoder_t *d);

/* Feeds one byte. Returns 1 and fills *frame when that byte completes a valid frame, else 0. */
int qp_proto_decoder_feed(qp_proto_decoder_t *d, uint8_t byte, qp_frame_t *frame);

/* ---- payloads ---- */

typedef struct {
  uint8_t proto_version;
  uint8_t model_hash[32];              /* SHA-256 of the INT8 ONNX file the firmware was generated from */
  char target[QP_PROTO_TARGET_CHARS];  /* e.g. "qemu-rv32", "esp32s3"; NUL-padded */
  uint32_t arena_bytes;                /* the static tensor arena */
  uint32_t clock_hz;                   /* CPU clock the cycle counter runs at (0 when unknown) */
  uint8_t classes, layers;
  uint8_t in_h, in_w, in_c;
} qp_hello_t;
#define QP_HELLO_BYTES 62u /* 1 + 32 + 16 + 4 + 4 + 5 */

typedef struct {
  uint8_t pred;
  uint8_t classes;
  int8_t scores[QP_PROTO_MAX_CLASSES];
  uint64_t cycles;       /* cycle counter delta around the inference (instructions under QEMU -icount) */
  uint32_t micros;       /* inference time in microseconds (0 when the board has no timer) */
} qp_infer_reply_t;

typedef struct {
  uint8_t pred;
  uint8_t layers;
  uint32_t size[QP_PROTO_MAX_LAYERS]; /* bytes of each layer's output */
  uint32_t crc[QP_PROTO_MAX_LAYERS];  /* CRC-32 of each layer's output */
} qp_trace_reply_t;

typedef struct {
  uint8_t layer;
  uint32_t offset;
  uint16_t length; /* at most QP_PROTO_MAX_PAYLOAD - 5 */
} qp_layer_request_t;
#define QP_LAYER_REQUEST_BYTES 7u

/* IMAGE: a part of the input image, at a byte offset into its H*W*C pixels. */
typedef struct {
  uint32_t offset;
  uint16_t length;       /* 1..QP_IMAGE_MAX_CHUNK */
  const uint8_t *bytes;  /* get: points into the payload */
} qp_image_request_t;
#define QP_IMAGE_HEADER_BYTES 4u
#define QP_IMAGE_MAX_CHUNK (QP_PROTO_MAX_PAYLOAD - QP_IMAGE_HEADER_BYTES)

typedef struct {
  uint32_t offset; /* the request's offset */
  uint32_t staged; /* bytes staged from 0 without a gap, after this chunk */
} qp_image_reply_t;
#define QP_IMAGE_REPLY_BYTES 8u

/* The device's staging bookkeeping: total = the image's bytes, staged = bytes 0..staged-1 staged since
 * the last inference. qp_stage_chunk checks a chunk and, when it is accepted (returns 0), advances staged;
 * else it returns QP_ERR_BAD_SIZE (empty, or past the image's end) or QP_ERR_NOT_STAGED (a gap). */
typedef struct {
  uint32_t total, staged;
} qp_stage_t;
int qp_stage_chunk(qp_stage_t *s, uint32_t offset, uint32_t length);
/* 1 when every byte is staged (a run without pixels may start), else 0. */
int qp_stage_complete(const qp_stage_t *s);

/* put_*: serialise into out (room for QP_PROTO_MAX_PAYLOAD), return the byte count.
 * get_*: parse a payload; return 1 when it is well formed, else 0. */
uint16_t qp_proto_put_hello(const qp_hello_t *h, uint8_t *out);
int qp_proto_get_hello(const uint8_t *p, uint16_t length, qp_hello_t *h);
uint16_t qp_proto_put_infer_reply(const qp_infer_reply_t *r, uint8_t *out);
int qp_proto_get_infer_reply(const uint8_t *p, uint16_t length, qp_infer_reply_t *r);
uint16_t qp_proto_put_trace_reply(const qp_trace_reply_t *r, uint8_t *out);
int qp_proto_get_trace_reply(const uint8_t *p, uint16_t length, qp_trace_reply_t *r);
uint16_t qp_proto_put_layer_request(const qp_layer_request_t *r, uint8_t *out);
int qp_proto_get_layer_request(const uint8_t *p, uint16_t length, qp_layer_request_t *r);
/* put returns 0 when length is 0 or more than QP_IMAGE_MAX_CHUNK. */
uint16_t qp_proto_put_image_request(const qp_image_request_t *r, uint8_t *out);
int qp_proto_get_image_request(const uint8_t *p, uint16_t length, qp_image_request_t *r);
uint16_t qp_proto_put_image_reply(const qp_image_reply_t *r, uint8_t *out);
int qp_proto_get_image_reply(const uint8_t *p, uint16_t length, qp_image_reply_t *r);

#ifdef __cplusplus
}
#endif

#endif /* QP_PROTO_H */
