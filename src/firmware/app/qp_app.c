/* qparity device application (see qp_app.h). */
#include "qp_app.h"

#include <string.h>

#include "qp_bsp.h"
#include "qp_model.h"
#include "qp_proto.h"
#include "qp_subset.h"

#if QP_MODEL_CLASSES > QP_PROTO_MAX_CLASSES
#error "the model has more classes than the protocol carries"
#endif
#if QP_MODEL_LAYERS > QP_PROTO_MAX_LAYERS
#error "the model has more layers than TRACE carries"
#endif
#if QP_MODEL_INPUT_H > 255 || QP_MODEL_INPUT_W > 255 || QP_MODEL_INPUT_C > 255
#error "the model's input is larger than HELLO's u8 sides carry"
#endif

static qp_proto_decoder_t qp_app_decoder;
static uint8_t qp_app_tx[QP_PROTO_MAX_FRAME];
static uint8_t qp_app_payload[QP_PROTO_MAX_PAYLOAD];
static uint8_t qp_app_rx[256];
/* The image staged by IMAGE requests, straight into the arena's input tensor (see qp_proto.h). */
static qp_stage_t qp_app_stage = {QP_MODEL_INPUT_BYTES, 0u};
#ifdef QP_FAULT_EXIT_AFTER
/* Test builds only: the device dies (serve returns, the emulator exits) on request N+1, so the host's
 * journal and resume can be checked. */
static int32_t qp_app_served, qp_app_stop;
#endif

static void qp_app_send(uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t length) {
  const uint32_t n = qp_proto_encode(type, seq, payload, length, qp_app_tx, (uint32_t)sizeof qp_app_tx);
  if (n > 0) qp_bsp_write(qp_app_tx, (int32_t)n);
}

static void qp_app_send_error(uint16_t seq, uint8_t code, const char *message) {
  uint16_t n = 0;
  qp_app_payload[n++] = code;
  while (*message != '\0' && n < 120) qp_app_payload[n++] = (uint8_t)*message++;
  qp_app_send(QP_MSG_ERROR, seq, qp_app_payload, n);
}

/* The first maximum, as on the host (std::max_element). */
static uint8_t qp_app_argmax(const int8_t *scores) {
  int32_t k, best = 0;
  for (k = 1; k < QP_MODEL_CLASSES; ++k)
    if (scores[k] > scores[best]) best = k;
  return (uint8_t)best;
}

static void qp_app_hello(uint8_t type, uint16_t seq) {
  qp_hello_t h;
  const char *target = qp_bsp_target();
  uint32_t i;
  memset(&h, 0, sizeof h);
  h.proto_version = QP_PROTO_VERSION;
  memcpy(h.model_hash, qp_model_hash, sizeof h.model_hash);
  for (i = 0; i + 1 < QP_PROTO_TARGET_CHARS && target[i] != '\0'; ++i) h.target[i] = target[i];
  h.arena_bytes = QP_MODEL_ARENA_BYTES;
  h.clock_hz = qp_bsp_clock_hz();
  h.classes = QP_MODEL_CLASSES;
  h.layers = QP_MODEL_LAYERS;
  h.in_h = QP_MODEL_INPUT_H;
  h.in_w = QP_MODEL_INPUT_W;
  h.in_c = QP_MODEL_INPUT_C;
  qp_app_send(type, seq, qp_app_payload, qp_proto_put_hello(&h, qp_app_payload));
}

static void qp_app_trace_hook(int32_t layer, const int8_t *output, uint32_t bytes, void *ctx) {
  qp_trace_reply_t *r = (qp_trace_reply_t *)ctx;
  r->size[layer] = bytes;
  r->crc[layer] = qp_proto_crc32(0, (const uint8_t *)output, bytes);
}

/* The pixels of a run: the request's own (length == the image: mapped by qp_model_run), or, with none, the
 * staged image (a NULL pointer for qp_model_run). Returns 0 after sending ERROR. Either way the run consumes
 * the staged image. */
static int qp_app_pixels(const qp_frame_t *f, uint32_t pixel_bytes, const uint8_t *pixels, const uint8_t **rgb) {
  const int staged = qp_stage_complete(&qp_app_stage);
  qp_app_stage.staged = 0u;
  *rgb = pixels;
  if (pixel_bytes == QP_MODEL_INPUT_BYTES) return 1;
  if (pixel_bytes != 0u) {
    qp_app_send_error(f->seq, QP_ERR_BAD_SIZE, "image size differs from the model input");
    return 0;
  }
  if (!staged) {
    qp_app_send_error(f->seq, QP_ERR_NOT_STAGED, "no pixels and the image is not fully staged (IMAGE) since the last run");
    return 0;
  }
  *rgb = 0;
  return 1;
}

static void qp_app_handle(const qp_frame_t *f) {
  static qp_trace_reply_t trace;
  qp_infer_reply_t reply;
  const int8_t *out = 0;
  const uint8_t *rgb = 0;
  uint64_t t0, t1;
  if (f->version != QP_PROTO_VERSION) {
    qp_app_send_error(f->seq, QP_ERR_BAD_REQUEST, "older protocol version: use the qparity that generated this firmware");
    return;
  }
  switch (f->type) {
    case QP_MSG_HELLO:
      qp_app_hello(QP_MSG_HELLO_R, f->seq);
      return;
    case QP_MSG_RESET:
      qp_app_send(QP_MSG_RESET_R, f->seq, 0, 0);
      qp_proto_decoder_init(&qp_app_decoder);
      qp_app_stage.staged = 0u;
      qp_app_hello(QP_MSG_READY, 0);
      return;
    case QP_MSG_INFER:
#ifdef QP_FAULT_EXIT_AFTER
      if (++qp_app_served > QP_FAULT_EXIT_AFTER) {
        qp_app_stop = 1;
        return;
      }
#endif
      if (!qp_app_pixels(f, f->length, f->payload, &rgb)) return;
      memset(&reply, 0, sizeof reply);
      t0 = qp_bsp_cycles();
      if (qp_model_invoke(rgb, reply.scores) != QP_STATUS_OK) {
        qp_app_send_error(f->seq, QP_ERR_RUNTIME, "kernel failed");
        return;
      }
      t1 = qp_bsp_cycles();
      reply.pred = qp_app_argmax(reply.scores);
      reply.classes = QP_MODEL_CLASSES;
      reply.cycles = t1 - t0;
      reply.micros = qp_bsp_micros(t1 - t0);
      qp_app_send(QP_MSG_INFER_R, f->seq, qp_app_payload, qp_proto_put_infer_reply(&reply, qp_app_payload));
      return;
    case QP_MSG_TRACE:
      if (!qp_app_pixels(f, f->length, f->payload, &rgb)) return;
      memset(&trace, 0, sizeof trace);
      if (qp_model_run(rgb, QP_MODEL_LAYERS - 1, qp_app_trace_hook, &trace, &out) != QP_STATUS_OK) {
        qp_app_send_error(f->seq, QP_ERR_RUNTIME, "kernel failed");
        return;
      }
      trace.pred = qp_app_argmax(out);
      trace.layers = QP_MODEL_LAYERS;
      qp_app_send(QP_MSG_TRACE_R, f->seq, qp_app_payload, qp_proto_put_trace_reply(&trace, qp_app_payload));
      return;
    case QP_MSG_LAYER: {
      qp_layer_request_t q;
      uint32_t bytes;
      if (!qp_proto_get_layer_request(f->payload, f->length, &q) || q.layer >= QP_MODEL_LAYERS ||
          q.length > QP_PROTO_MAX_PAYLOAD - 5u) {
        qp_app_send_error(f->seq, QP_ERR_BAD_REQUEST, "bad LAYER request");
        return;
      }
      if (!qp_app_pixels(f, f->length - QP_LAYER_REQUEST_BYTES, f->payload + QP_LAYER_REQUEST_BYTES, &rgb)) return;
      if (qp_model_run(rgb, q.layer, 0, 0, &out) != QP_STATUS_OK) {
        qp_app_send_error(f->seq, QP_ERR_RUNTIME, "kernel failed");
        return;
      }
      bytes = qp_model_layer_bytes[q.layer];
      if (q.offset > bytes) q.offset = bytes;
      if (q.length > bytes - q.offset) q.length = (uint16_t)(bytes - q.offset);
      qp_app_payload[0] = q.layer;
      qp_app_payload[1] = (uint8_t)q.offset;
      qp_app_payload[2] = (uint8_t)(q.offset >> 8);
      qp_app_payload[3] = (uint8_t)(q.offset >> 16);
      qp_app_payload[4] = (uint8_t)(q.offset >> 24);
      memcpy(qp_app_payload + 5, out + q.offset, q.length);
      qp_app_send(QP_MSG_LAYER_R, f->seq, qp_app_payload, (uint16_t)(5u + q.length));
      return;
    }
    case QP_MSG_IMAGE: {
      qp_image_request_t q;
      qp_image_reply_t r;
      int code;
      if (!qp_proto_get_image_request(f->payload, f->length, &q)) {
        qp_app_send_error(f->seq, QP_ERR_BAD_REQUEST, "bad IMAGE request");
        return;
      }
      code = qp_stage_chunk(&qp_app_stage, q.offset, q.length);
      if (code != 0) {
        qp_app_send_error(f->seq, (uint8_t)code,
                          code == QP_ERR_NOT_STAGED ? "IMAGE chunk leaves a gap after the staged bytes"
                                                    : "IMAGE chunk reaches past the end of the model input");
        return;
      }
      qp_model_stage(q.offset, q.bytes, q.length);
      r.offset = q.offset;
      r.staged = qp_app_stage.staged;
      qp_app_send(QP_MSG_IMAGE_R, f->seq, qp_app_payload, qp_proto_put_image_reply(&r, qp_app_payload));
      return;
    }
    default:
      qp_app_send_error(f->seq, QP_ERR_BAD_REQUEST, "unknown request type");
      return;
  }
}

int32_t qp_app_serve(void) {
  qp_frame_t frame;
  qp_proto_decoder_init(&qp_app_decoder);
  qp_app_stage.staged = 0u;
  qp_app_hello(QP_MSG_READY, 0);
  for (;;) {
    int32_t i;
    const int32_t n = qp_bsp_read(qp_app_rx, (int32_t)sizeof qp_app_rx);
    if (n < 0) return 0;
    for (i = 0; i < n; ++i)
      if (qp_proto_decoder_feed(&qp_app_decoder, qp_app_rx[i], &frame)) qp_app_handle(&frame);
#ifdef QP_FAULT_EXIT_AFTER
    if (qp_app_stop) return 1;
#endif
  }
}

/* ---- self-test: the seed's log lines, formatted without printf ---- */
#if QP_SUBSET_N > 0

static char *qp_app_put(char *p, const char *s) {
  while (*s != '\0') *p++ = *s++;
  return p;
}

/* Decimal of v, at least `width` digits (zero padded). */
static char *qp_app_put_u32(char *p, uint32_t v, int32_t width) {
  char digits[10];
  int32_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  while (n < width) digits[n++] = '0';
  while (n > 0) *p++ = digits[--n];
  return p;
}

static uint64_t qp_app_layer_cycles[QP_MODEL_LAYERS + 1];

static void qp_app_profile_hook(int32_t layer, const int8_t *output, uint32_t bytes, void *ctx) {
  (void)output;
  (void)bytes;
  (void)ctx;
  qp_app_layer_cycles[layer + 1] = qp_bsp_cycles();
}

/* Cycles per layer on the first self-test image ("Profile: layer 0 Conv2D+relu 1234567 cycles"; the label is at most
   40 bytes, qp_model_layer_names). */
static void qp_app_profile(void) {
  char line[96], *p;
  const int8_t *out = 0;
  int32_t k;
  qp_app_layer_cycles[0] = qp_bsp_cycles();
  if (qp_model_run(qp_subset_images[0], QP_MODEL_LAYERS - 1, qp_app_profile_hook, 0, &out) != QP_STATUS_OK) return;
  for (k = 0; k < QP_MODEL_LAYERS; ++k) {
    const uint64_t d = qp_app_layer_cycles[k + 1] - qp_app_layer_cycles[k];
    p = qp_app_put(line, "Profile: layer ");
    p = qp_app_put(p, qp_model_layer_names[k]);
    p = qp_app_put(p, " ");
    p = qp_app_put_u32(p, (d >> 32) != 0u ? 0xFFFFFFFFu : (uint32_t)d, 1);
    p = qp_app_put(p, " cycles\n");
    *p = '\0';
    qp_bsp_log(line);
  }
}

int32_t qp_app_selftest(void) {
  static int8_t scores[QP_MODEL_CLASSES];
  static uint32_t confusion[QP_MODEL_CLASSES][QP_MODEL_CLASSES];
  char line[320], *p;
  int32_t i, j, correct = 0;
  memset(confusion, 0, sizeof confusion);
  for (i = 0; i < QP_SUBSET_N; ++i) {
    const uint8_t label = qp_subset_labels[i];
    uint64_t t0, t1;
    uint32_t micros, conf;
    uint8_t pred;
    t0 = qp_bsp_cycles();
    if (qp_model_invoke(qp_subset_images[i], scores) != QP_STATUS_OK) {
      qp_bsp_log("self-test: kernel failed\n");
      return -1;
    }
    t1 = qp_bsp_cycles();
    pred = qp_app_argmax(scores);
    micros = qp_bsp_micros(t1 - t0);
    /* conf = (q + 128) / 256 to 4 decimals, rounded half up: (q + 128) * 10000 / 256 */
    conf = ((uint32_t)(scores[pred] + 128) * 10000u + 128u) / 256u;
    correct += pred == label;
    ++confusion[label][pred];
    p = qp_app_put(line, "Image ");
    p = qp_app_put_u32(p, (uint32_t)i + 1u, 1);
    p = qp_app_put(p, "/");
    p = qp_app_put_u32(p, QP_SUBSET_N, 1);
    p = qp_app_put(p, " | True: ");
    p = qp_app_put(p, qp_model_class_names[label]);
    p = qp_app_put(p, " | Pred: ");
    p = qp_app_put(p, qp_model_class_names[pred]);
    p = qp_app_put(p, " | Conf: ");
    p = qp_app_put_u32(p, conf / 10000u, 1);
    p = qp_app_put(p, ".");
    p = qp_app_put_u32(p, conf % 10000u, 4);
    p = qp_app_put(p, " | Time: ");
    p = qp_app_put_u32(p, micros / 1000u, 1);
    p = qp_app_put(p, ".");
    p = qp_app_put_u32(p, (micros % 1000u) / 10u, 2);
    p = qp_app_put(p, pred == label ? "ms \xE2\x9C\x93\n" : "ms \xE2\x9C\x97\n");
    *p = '\0';
    qp_bsp_log(line);
  }
  p = qp_app_put(line, "Accuracy: ");
  p = qp_app_put_u32(p, (uint32_t)correct, 1);
  p = qp_app_put(p, "/");
  p = qp_app_put_u32(p, QP_SUBSET_N, 1);
  p = qp_app_put(p, "\nConfusion matrix (rows true, columns predicted):\n");
  *p = '\0';
  qp_bsp_log(line);
  for (i = 0; i < QP_MODEL_CLASSES; ++i) {
    p = qp_app_put(line, "  ");
    p = qp_app_put(p, qp_model_class_names[i]);
    for (j = 0; j < QP_MODEL_CLASSES; ++j) {
      p = qp_app_put(p, " ");
      p = qp_app_put_u32(p, confusion[i][j], 1);
    }
    p = qp_app_put(p, "\n");
    *p = '\0';
    qp_bsp_log(line);
  }
  qp_app_profile();
  p = qp_app_put(line, "Stack: ");
  p = qp_app_put_u32(p, qp_bsp_stack_used(), 1);
  p = qp_app_put(p, " bytes used at most (high-water since boot)\n");
  *p = '\0';
  qp_bsp_log(line);
  return correct;
}
#else
int32_t qp_app_selftest(void) { return 0; }
#endif
