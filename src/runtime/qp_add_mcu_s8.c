/* Elementwise int8 ADD for 32-bit MCUs, bit-exact to qp_add_run_s8 (see qp_runtime_mcu.h).
 *
 * In the reference each input value goes through its own rescaling, (x + offset) * 2^20 times the input's
 * multiplier, which depends on nothing but that int8 value: 256 possible results per input. They are
 * tabulated once (on the host, at generation time) with the reference's own qp_requant_apply_dr_s32, so
 * the device does two table loads, one add and one requantization (inlined) per element instead of three
 * requantizations. */
#include "qp_runtime_mcu.h"

static int add_params_ok(const qp_add_params_t *p) {
  return p->input1_offset >= -127 && p->input1_offset <= 128 && p->input2_offset >= -127 && p->input2_offset <= 128 &&
         p->output_offset >= -128 && p->output_offset <= 127 && p->act_min >= -128 && p->act_max <= 127 &&
         p->act_min <= p->act_max;
}

static int add_shifts_ok(const qp_add_params_t *p) {
  return p->input1_shift <= 0 && p->input2_shift <= 0 && p->input1_shift >= -31 && p->input2_shift >= -31 &&
         p->output_shift >= -31 && p->output_shift <= 30;
}

qp_status_t qp_add_table_mcu_s8(const qp_add_params_t *p, int32_t *table) {
  int32_t v;
  if (!p || !table) return QP_STATUS_BAD_ARGUMENT;
  if (!add_params_ok(p)) return QP_STATUS_BAD_ARGUMENT;
  if (!add_shifts_ok(p)) return QP_STATUS_BAD_SHIFT;
  for (v = -128; v < 128; ++v) {
    const int32_t a = (int32_t)((uint32_t)(v + p->input1_offset) << QP_ADD_LEFT_SHIFT);
    const int32_t b = (int32_t)((uint32_t)(v + p->input2_offset) << QP_ADD_LEFT_SHIFT);
    table[128 + v] = qp_requant_apply_dr_s32(a, p->input1_multiplier, p->input1_shift);
    table[256 + 128 + v] = qp_requant_apply_dr_s32(b, p->input2_multiplier, p->input2_shift);
  }
  return QP_STATUS_OK;
}

qp_status_t qp_add_run_mcu_s8(const qp_add_params_t *p, const int32_t *table, int32_t length, const int8_t *input1,
                              const int8_t *input2, int8_t *output) {
  int32_t i;
  if (!p || !table || !input1 || !input2 || !output || length <= 0 || !add_params_ok(p)) return QP_STATUS_BAD_ARGUMENT;
  if (!add_shifts_ok(p)) return QP_STATUS_BAD_SHIFT;
  {
    const int32_t *const t1 = table + 128, *const t2 = table + 256 + 128;
    const int32_t m = p->output_multiplier;
    const int32_t left = p->output_shift > 0 ? p->output_shift : 0;
    const int32_t right = p->output_shift > 0 ? 0 : -p->output_shift;
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t half = mask >> 1;
    const uint32_t offset = (uint32_t)p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (i = 0; i < length; ++i) {
      /* |t1 + t2| < 2^28: no overflow. Then qp_requant_apply_dr_s32 inlined, as qp_conv_mcu_s8.c does. */
      const int32_t x = (int32_t)((uint32_t)(t1[input1[i]] + t2[input2[i]]) << left);
      int32_t h, v;
      if (x == INT32_MIN && m == INT32_MIN)
        h = INT32_MAX;
      else
        h = (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
      v = (int32_t)((uint32_t)((h >> right) + ((h & mask) > half + (h < 0) ? 1 : 0)) + offset);
      output[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
  }
  return QP_STATUS_OK;
}
