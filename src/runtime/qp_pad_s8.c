/* Constant padding of H and W (TFLite's int8 PAD with input and output sharing scale and zero point). */
#include <string.h>

#include "qp_runtime.h"

qp_status_t qp_pad_s8(int32_t pad_top, int32_t pad_left, int8_t value, const qp_dims_t *in, const int8_t *input,
                      const qp_dims_t *out, int8_t *output) {
  int32_t y;
  int64_t row;
  if (!in || !input || !out || !output || in->n != 1 || out->n != 1 || in->h < 1 || in->w < 1 || in->c < 1 ||
      out->c != in->c || pad_top < 0 || pad_left < 0 || (int64_t)in->h + pad_top > out->h ||
      (int64_t)in->w + pad_left > out->w)
    return QP_STATUS_BAD_ARGUMENT;
  row = (int64_t)out->w * out->c;
  memset(output, value, (size_t)(row * out->h));
  for (y = 0; y < in->h; ++y)
    memcpy(output + (int64_t)(y + pad_top) * row + (int64_t)pad_left * out->c, input + (int64_t)y * in->w * in->c,
           (size_t)((int64_t)in->w * in->c));
  return QP_STATUS_OK;
}
