/* Softmax, int8 in -> int8 out (scale 1/256, zero point -128), in TFLite's fixed-point arithmetic:
 * exp of the (scaled) differences to the row maximum in Q5.26, their sum in Q12.19, one reciprocal
 * by Newton-Raphson, and a final rounding divide. Integer only. The algorithm and its constants are
 * those of gemmlowp's fixed-point exp and 1/(1+x), re-implemented here. */
#include "qp_runtime.h"

/* A raw value with `ib` integer bits is a Q(ib).(31-ib) number. */

static int32_t mul_pot_sat(int32_t x, int32_t exponent) { /* x * 2^exponent, saturating / rounding */
  if (exponent > 0) {
    const int32_t limit = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > limit) return INT32_MAX;
    if (x < -limit) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
  }
  if (exponent < 0) return qp_requant_rdbpot_s32(x, -exponent);
  return x;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: a Taylor expansion around -1/8. */
static int32_t exp_quarter_interval(int32_t a) {
  const int32_t constant_term = 1895147668;    /* exp(-1/8) in Q0.31 */
  const int32_t constant_1_over_3 = 715827883; /* 1/3 in Q0.31 */
  const int32_t x = a + (1 << 28);             /* a + 1/8 */
  const int32_t x2 = qp_requant_srdhm_s32(x, x);
  const int32_t x3 = qp_requant_srdhm_s32(x2, x);
  const int32_t x4 = qp_requant_srdhm_s32(x2, x2);
  const int32_t x4_over_4 = mul_pot_sat(x4, -2);
  const int32_t poly = mul_pot_sat(qp_requant_srdhm_s32(x4_over_4 + x3, constant_1_over_3) + x2, -1);
  return constant_term + qp_requant_srdhm_s32(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q5.26; result Q0.31. */
static int32_t exp_negative_q5(int32_t a) {
  enum { kIntegerBits = 5, kFractionalBits = 26 };
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t one_quarter = (int32_t)1 << (kFractionalBits - 2);
  const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
  /* Rescale Q5.26 -> Q0.31: times 2^5, saturating. */
  int32_t result = exp_quarter_interval(mul_pot_sat(a_mod_quarter_minus_quarter, kIntegerBits));
  const int32_t remainder = a_mod_quarter_minus_quarter - a;
  int32_t e;
  /* Barrel shifter: multiply by exp(-2^e) for every set bit 2^e (e = -2 .. 4) of the remainder. */
  for (e = -2; e <= 4; ++e)
    if (remainder & ((int32_t)1 << (kFractionalBits + e))) result = qp_requant_srdhm_s32(result, multipliers[e + 2]);
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out, by three Newton-Raphson steps in Q2.29. */
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* rounding half sum */
  const int32_t c48_over_17 = 1515870810, cneg32_over_17 = -1010580540, one_q2 = (int32_t)1 << 29;
  int32_t x = c48_over_17 + qp_requant_srdhm_s32(half_denominator, cneg32_over_17);
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t hd_x = qp_requant_srdhm_s32(half_denominator, x); /* Q0 * Q2 -> Q2 */
    const int32_t one_minus = one_q2 - hd_x;
    x = x + mul_pot_sat(qp_requant_srdhm_s32(x, one_minus), 2); /* Q2 * Q2 = Q4 -> Q2 */
  }
  return mul_pot_sat(x, 1); /* x / 2 in Q1 is the same raw; Q1 -> Q0 doubles it, saturating */
}

static int32_t count_leading_zeros_u32(uint32_t x) {
  int32_t n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

qp_status_t qp_softmax_run_s8(const qp_softmax_params_t *p, int32_t length, const int8_t *input, int8_t *output) {
  enum { kAccumulationIntegerBits = 12 };
  int32_t max_in = -128, i, sum = 0, headroom, bits_over_unit, scale;
  if (!p || !input || !output || length < 1 || p->input_left_shift < 0 || p->input_left_shift > 30 || p->input_multiplier < 0 ||
      p->diff_min > 0)
    return QP_STATUS_BAD_ARGUMENT;
  for (i = 0; i < length; ++i)
    if (input[i] > max_in) max_in = input[i];
  for (i = 0; i < length; ++i) {
    const int32_t diff = (int32_t)input[i] - max_in;
    if (diff >= p->diff_min) {
      const int32_t scaled = qp_requant_srdhm_s32((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
      sum += mul_pot_sat(exp_negative_q5(scaled), -kAccumulationIntegerBits); /* Q0.31 -> Q12.19 */
    }
  }
  /* 1/sum: normalise sum to [1, 2), take 1/(1+x), remember the shift. */
  headroom = count_leading_zeros_u32((uint32_t)sum);
  bits_over_unit = kAccumulationIntegerBits - headroom;
  scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
  for (i = 0; i < length; ++i) {
    const int32_t diff = (int32_t)input[i] - max_in;
    int32_t out = -128;
    if (diff >= p->diff_min) {
      const int32_t scaled = qp_requant_srdhm_s32((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
      const int32_t e = exp_negative_q5(scaled);
      out = qp_requant_rdbpot_s32(qp_requant_srdhm_s32(scale, e), bits_over_unit + 31 - 8) - 128;
      if (out > 127) out = 127;
      if (out < -128) out = -128;
    }
    output[i] = (int8_t)out;
  }
  return QP_STATUS_OK;
}
