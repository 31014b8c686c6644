/* Concatenation of int8 tensors along their innermost axis (channels, in NHWC).
 *
 * The output holds `outer` rows; row r is input 0's row r (channels[0] values), then input 1's row r,
 * and so on. An input whose scale and zero point equal the output's is copied byte for byte (what
 * TensorFlow Lite Micro does, and what qparity's quantizer arranges by giving a concat's inputs the
 * output's parameters). Any other input is requantized: (x - zp_in) * s_in / s_out with the
 * double-rounding multiply of the other kernels, plus the output zero point, clamped to int8. */
#include <string.h>

#include "qp_runtime.h"

qp_status_t qp_concat_run_s8(int32_t count, const qp_concat_input_t *inputs, int32_t outer, int32_t output_offset,
                             int8_t *output) {
  int32_t i, r, c, total = 0;
  if (!inputs || !output || count <= 0 || outer <= 0 || output_offset < -128 || output_offset > 127)
    return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < count; ++i) {
    const qp_concat_input_t *in = &inputs[i];
    if (!in->data || in->channels <= 0 || in->channels > INT32_MAX - total) return QP_STATUS_BAD_ARGUMENT;
    if (in->requantize && (in->input_offset < -127 || in->input_offset > 128)) return QP_STATUS_BAD_ARGUMENT;
    if (in->requantize && (in->shift < -31 || in->shift > 30)) return QP_STATUS_BAD_SHIFT;
    total += in->channels;
  }
  for (r = 0; r < outer; ++r) {
    int8_t *dst = output + (int64_t)r * total;
    for (i = 0; i < count; ++i) {
      const qp_concat_input_t *in = &inputs[i];
      const int8_t *src = in->data + (int64_t)r * in->channels;
      if (!in->requantize) {
        memcpy(dst, src, (size_t)in->channels);
      } else {
        for (c = 0; c < in->channels; ++c) {
          /* int32 wrap-around, never a signed overflow (see qp_add_s8.c): only a wrapped left shift gets near 2^31. */
          int32_t v = (int32_t)((uint32_t)qp_requant_apply_dr_s32(src[c] + in->input_offset, in->multiplier, in->shift) +
                                (uint32_t)output_offset);
          if (v < -128) v = -128;
          if (v > 127) v = 127;
          dst[c] = (int8_t)v;
        }
      }
      dst += in->channels;
    }
  }
  return QP_STATUS_OK;
}
