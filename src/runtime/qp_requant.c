/* Requantization helpers: TFLite's reference "double rounding" arithmetic, integer only. */
#include "qp_runtime.h"

int32_t qp_requant_srdhm_s32(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX; /* the one product that does not fit */
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  /* C99 division truncates toward zero; with the nudge this rounds to nearest, ties toward +infinity. */
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

int32_t qp_requant_rdbpot_s32(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  /* Arithmetic right shift of a negative value: implementation-defined in C99, arithmetic on every
   * compiler qparity targets (GCC for x86-64, RISC-V, Xtensa); tested on each. */
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t qp_requant_apply_dr_s32(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  /* The reference shifts left in int32 and lets it wrap; do the same without signed overflow. */
  const int32_t shifted = (int32_t)((uint32_t)x << left);
  return qp_requant_rdbpot_s32(qp_requant_srdhm_s32(shifted, multiplier), right);
}
