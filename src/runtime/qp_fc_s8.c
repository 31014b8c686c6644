/* Fully connected, int8 in/out, int32 accumulation. */
#include "qp_runtime.h"

qp_status_t qp_fc_run_s8(int32_t input_offset, int32_t output_offset, int32_t act_min, int32_t act_max, const int32_t *multiplier,
                         const int32_t *shift, int32_t in_features, int32_t out_features, const int8_t *input,
                         const int8_t *weights, const int32_t *bias, int8_t *output) {
  int32_t o, i;
  if (!multiplier || !shift || !input || !weights || !output || in_features < 1 || out_features < 1 || act_min > act_max ||
      act_min < -128 || act_max > 127)
    return QP_STATUS_BAD_ARGUMENT;
  for (o = 0; o < out_features; ++o)
    if (shift[o] < -31 || shift[o] > 30) return QP_STATUS_BAD_SHIFT;
  for (o = 0; o < out_features; ++o) {
    const int8_t *w = weights + (int64_t)o * in_features;
    int32_t acc = bias ? bias[o] : 0;
    for (i = 0; i < in_features; ++i) acc += (int32_t)w[i] * ((int32_t)input[i] + input_offset);
    acc = (int32_t)((uint32_t)qp_requant_apply_dr_s32(acc, multiplier[o], shift[o]) + (uint32_t)output_offset);
    output[o] = (int8_t)(acc < act_min ? act_min : (acc > act_max ? act_max : acc));
  }
  return QP_STATUS_OK;
}
