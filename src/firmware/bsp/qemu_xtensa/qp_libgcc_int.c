/* Integer helpers that Debian's lx106 libgcc lacks (the lx106 core has no divide instruction and no
 * 64-bit multiply): 32- and 64-bit division and modulo, and 64-bit multiplication, written with shifts,
 * adds and 32-bit multiplies only, so the compiler never calls back into them. The requantization's
 * int64 products and the pooling divisions need them. */
#include <stdint.h>

int32_t __divsi3(int32_t a, int32_t b);
int32_t __modsi3(int32_t a, int32_t b);
uint32_t __udivsi3(uint32_t a, uint32_t b);
uint32_t __umodsi3(uint32_t a, uint32_t b);
int64_t __divdi3(int64_t a, int64_t b);
int64_t __moddi3(int64_t a, int64_t b);
uint64_t __udivdi3(uint64_t a, uint64_t b);
uint64_t __umoddi3(uint64_t a, uint64_t b);
int64_t __muldi3(int64_t a, int64_t b);
uint64_t __umulsidi3(uint32_t a, uint32_t b);

/* Restoring division; b == 0 gives quotient all ones and remainder a (no trap). */
static uint32_t qp_udivmod32(uint32_t a, uint32_t b, uint32_t *rem) {
  uint32_t q = 0, r = 0;
  int32_t i;
  if (b == 0u) {
    *rem = a;
    return 0xFFFFFFFFu;
  }
  for (i = 31; i >= 0; --i) {
    r = (r << 1) | ((a >> i) & 1u);
    if (r >= b) {
      r -= b;
      q |= 1u << i;
    }
  }
  *rem = r;
  return q;
}

static uint64_t qp_udivmod64(uint64_t a, uint64_t b, uint64_t *rem) {
  uint64_t q = 0, r = 0;
  int32_t i;
  if (b == 0u) {
    *rem = a;
    return ~(uint64_t)0;
  }
  for (i = 63; i >= 0; --i) {
    r = (r << 1) | ((a >> i) & 1u);
    if (r >= b) {
      r -= b;
      q |= (uint64_t)1 << i;
    }
  }
  *rem = r;
  return q;
}

uint32_t __udivsi3(uint32_t a, uint32_t b) {
  uint32_t r;
  return qp_udivmod32(a, b, &r);
}

uint32_t __umodsi3(uint32_t a, uint32_t b) {
  uint32_t r;
  (void)qp_udivmod32(a, b, &r);
  return r;
}

/* C semantics: the quotient truncates toward zero, the remainder has the dividend's sign. */
int32_t __divsi3(int32_t a, int32_t b) {
  const uint32_t ua = a < 0 ? 0u - (uint32_t)a : (uint32_t)a, ub = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
  uint32_t r;
  const uint32_t q = qp_udivmod32(ua, ub, &r);
  return (a < 0) != (b < 0) ? (int32_t)(0u - q) : (int32_t)q;
}

int32_t __modsi3(int32_t a, int32_t b) {
  const uint32_t ua = a < 0 ? 0u - (uint32_t)a : (uint32_t)a, ub = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
  uint32_t r;
  (void)qp_udivmod32(ua, ub, &r);
  return a < 0 ? (int32_t)(0u - r) : (int32_t)r;
}

uint64_t __udivdi3(uint64_t a, uint64_t b) {
  uint64_t r;
  return qp_udivmod64(a, b, &r);
}

uint64_t __umoddi3(uint64_t a, uint64_t b) {
  uint64_t r;
  (void)qp_udivmod64(a, b, &r);
  return r;
}

int64_t __divdi3(int64_t a, int64_t b) {
  const uint64_t ua = a < 0 ? 0u - (uint64_t)a : (uint64_t)a, ub = b < 0 ? 0u - (uint64_t)b : (uint64_t)b;
  uint64_t r;
  const uint64_t q = qp_udivmod64(ua, ub, &r);
  return (a < 0) != (b < 0) ? (int64_t)(0u - q) : (int64_t)q;
}

int64_t __moddi3(int64_t a, int64_t b) {
  const uint64_t ua = a < 0 ? 0u - (uint64_t)a : (uint64_t)a, ub = b < 0 ? 0u - (uint64_t)b : (uint64_t)b;
  uint64_t r;
  (void)qp_udivmod64(ua, ub, &r);
  return a < 0 ? (int64_t)(0u - r) : (int64_t)r;
}

/* 32 x 32 -> 64 from four 16 x 16 -> 32 products. */
uint64_t __umulsidi3(uint32_t a, uint32_t b) {
  const uint32_t a0 = a & 0xFFFFu, a1 = a >> 16, b0 = b & 0xFFFFu, b1 = b >> 16;
  const uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const uint64_t mid = (uint64_t)p01 + (uint64_t)p10;
  return ((uint64_t)p11 << 32) + (mid << 16) + (uint64_t)p00;
}

/* The low 64 bits of a * b (the same for signed and unsigned operands). */
int64_t __muldi3(int64_t a, int64_t b) {
  const uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  const uint32_t al = (uint32_t)ua, ah = (uint32_t)(ua >> 32), bl = (uint32_t)ub, bh = (uint32_t)(ub >> 32);
  const uint64_t low = __umulsidi3(al, bl);
  const uint32_t cross = al * bh + ah * bl;
  return (int64_t)(low + ((uint64_t)cross << 32));
}
