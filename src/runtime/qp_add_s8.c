/* Elementwise int8 addition of two tensors of the same shape: TensorFlow Lite's int8 ADD arithmetic.
 *
 * Each input is moved off its zero point and shifted left by QP_ADD_LEFT_SHIFT (20) bits, so that the
 * per-input rescaling below loses nothing that matters; each is multiplied by its own multiplier
 * (s_i / (2 * max(s1, s2)), at most 1/2: the two scaled values and their sum fit int32), the sum is
 * requantized to the output scale (2 * max(s1, s2) / (2^20 * s_out)), offset by the output zero point
 * and clamped to the fused activation's range. Every multiply is the double-rounding
 * qp_requant_apply_dr_s32 used by the other kernels. */
#include "qp_runtime.h"

static int qp_add_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

qp_status_t qp_add_run_s8(const qp_add_params_t *p, int32_t length, const int8_t *input1, const int8_t *input2,
                          int8_t *output) {
  int32_t i;
  if (!p || !input1 || !input2 || !output || length <= 0) return QP_STATUS_BAD_ARGUMENT;
  if (p->input1_offset < -127 || p->input1_offset > 128 || p->input2_offset < -127 || p->input2_offset > 128 ||
      p->output_offset < -128 || p->output_offset > 127 || p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max)
    return QP_STATUS_BAD_ARGUMENT;
  /* The inputs' multipliers are at most 1/2 (shift <= 0), so (x + offset) * 2^20 * M fits int32. */
  if (p->input1_shift > 0 || p->input2_shift > 0 || !qp_add_shift_ok(p->input1_shift) || !qp_add_shift_ok(p->input2_shift) ||
      !qp_add_shift_ok(p->output_shift))
    return QP_STATUS_BAD_SHIFT;
  for (i = 0; i < length; ++i) {
    const int32_t a = (int32_t)((uint32_t)(input1[i] + p->input1_offset) << QP_ADD_LEFT_SHIFT);
    const int32_t b = (int32_t)((uint32_t)(input2[i] + p->input2_offset) << QP_ADD_LEFT_SHIFT);
    const int32_t sa = qp_requant_apply_dr_s32(a, p->input1_multiplier, p->input1_shift);
    const int32_t sb = qp_requant_apply_dr_s32(b, p->input2_multiplier, p->input2_shift);
    /* The output zero point is added with int32 wrap-around, never a signed overflow: |sa + sb| < 2^28,
     * so a result near +-2^31 only comes from a left shift that already wrapped (output_shift > 2, a real
     * output multiplier >= 4: an output scale below 2^-21 of the larger input's; only a crafted model). */
    int32_t v = (int32_t)((uint32_t)qp_requant_apply_dr_s32(sa + sb, p->output_multiplier, p->output_shift) +
                          (uint32_t)p->output_offset);
    if (v < p->act_min) v = p->act_min;
    if (v > p->act_max) v = p->act_max;
    output[i] = (int8_t)v;
  }
  return QP_STATUS_OK;
}
