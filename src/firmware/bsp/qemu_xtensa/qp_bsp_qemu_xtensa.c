/* Board support for the emulated Xtensa lx106 board: qemu-system-xtensa -M sim -cpu lx106 (the
 * Xtensa family of the classic ESP32).
 *
 * Host link: semihosting (simcall) reads of fd 0 and writes to fd 1, which are QEMU's own stdin and
 * stdout when no serial chardev is attached: blocking and binary-safe. Console: fd 2 (QEMU's stderr).
 * Cycle counter: CCOUNT ticks at 40 MHz of virtual time; under -icount shift=5 one instruction takes
 * 32 ns, so instructions = ticks * 25 / 32 exactly. CCOUNT is 32-bit: every read extends it to 64 bits,
 * and the firmware reads it at least once per inference (well under 2^32 ticks).
 * qp_bsp_cycles() reports instructions (one instruction per cycle, as on qemu-rv32); micros assume
 * the nominal 160 MHz.
 */
#include <stdint.h>

#include "qp_bsp.h"
#include "qp_bsp_stack.h"

#define QP_CLOCK_HZ 160000000u
#define QP_SYS_EXIT 1
#define QP_SYS_READ 3
#define QP_SYS_WRITE 4

static int32_t qp_simcall(int32_t op, int32_t a, int32_t b, int32_t c) {
  register int32_t a2 __asm__("a2") = op;
  register int32_t a3 __asm__("a3") = a;
  register int32_t a4 __asm__("a4") = b;
  register int32_t a5 __asm__("a5") = c;
  __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
  return a2;
}

extern uint8_t __stack_bottom[], __stack_top[]; /* qp_xtensa.ld */

static uint32_t qp_last_ticks;
static uint64_t qp_high_ticks;


/* Stack high-water (qp_bsp_stack.h): the .stack region is painted at boot, measured below __stack_top. */
uint32_t qp_bsp_stack_used(void) { return qp_stack_used_below(__stack_top); }

void qp_bsp_init(void) { qp_stack_paint(__stack_bottom); }

int32_t qp_bsp_read(uint8_t *buf, int32_t cap) {
  const int32_t n = qp_simcall(QP_SYS_READ, 0, (int32_t)(uintptr_t)buf, cap);
  return n > 0 ? n : -1;
}

void qp_bsp_write(const uint8_t *buf, int32_t n) {
  while (n > 0) {
    const int32_t w = qp_simcall(QP_SYS_WRITE, 1, (int32_t)(uintptr_t)buf, n);
    if (w <= 0) return;
    buf += w;
    n -= w;
  }
}

void qp_bsp_log(const char *text) {
  int32_t n = 0;
  while (text[n] != '\0') ++n;
  (void)qp_simcall(QP_SYS_WRITE, 2, (int32_t)(uintptr_t)text, n);
}

uint64_t qp_bsp_cycles(void) {
  uint32_t now;
  uint64_t ticks;
  __asm__ volatile("rsr.ccount %0" : "=a"(now));
  if (now < qp_last_ticks) qp_high_ticks += (uint64_t)1 << 32;
  qp_last_ticks = now;
  ticks = qp_high_ticks | now;
  /* instructions = ticks * 25 / 32, without a 64-bit multiply */
  return (ticks >> 5) * 25u + (((ticks & 31u) * 25u) >> 5);
}

uint32_t qp_bsp_micros(uint64_t cycles) {
  if ((cycles >> 32) != 0u) return 0xFFFFFFFFu;
  return (uint32_t)cycles / (QP_CLOCK_HZ / 1000000u);
}

uint32_t qp_bsp_clock_hz(void) { return QP_CLOCK_HZ; }

const char *qp_bsp_target(void) { return "qemu-xtensa"; }
