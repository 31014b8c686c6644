/* Fully connected for 32-bit MCUs, bit-exact to qp_fc_run_s8: a 1x1 convolution over a 1x1 image, so it
 * shares qp_conv_run_mcu_s8's packed layout and 1-pixel x 4-channel loop (no scratch: nothing is padded). */
#include "qp_runtime_mcu.h"

qp_status_t qp_fc_pack_mcu_s8(int32_t input_offset, int32_t in_features, int32_t out_features, const int8_t *weights,
                              const int32_t *bias, int8_t *packed_weights, int32_t *packed_bias) {
  const qp_dims_t f = {out_features, 1, 1, in_features};
  return qp_conv_pack_mcu_s8(input_offset, &f, weights, bias, packed_weights, packed_bias);
}

qp_status_t qp_fc_run_mcu_s8(int32_t output_offset, int32_t act_min, int32_t act_max, const int32_t *multiplier,
                             const int32_t *shift, int32_t in_features, int32_t out_features, const int8_t *input,
                             const int8_t *packed_weights, const int32_t *packed_bias, int8_t *output) {
  qp_conv_params_t p;
  const qp_dims_t in = {1, 1, 1, in_features}, f = {out_features, 1, 1, in_features}, out = {1, 1, 1, out_features};
  p.input_offset = 0; /* folded into packed_bias; unused when nothing is padded */
  p.output_offset = output_offset;
  p.stride = 1;
  p.pad_top = 0;
  p.pad_left = 0;
  p.act_min = act_min;
  p.act_max = act_max;
  return qp_conv_run_mcu_s8(&p, multiplier, shift, &in, input, &f, packed_weights, packed_bias, &out, output, 0);
}
