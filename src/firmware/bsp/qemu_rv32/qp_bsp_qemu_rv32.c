/* Board support for the emulated rv32 board: qemu-system-riscv32 -M virt (RISC-V rv32imac, the core
 * family of the ESP32-C3/C6).
 *
 * Host link: the board's 16550 UART at 0x10000000, on a QEMU socket chardev. Receiving waits with WFI
 * on the UART's receive interrupt (PLIC source 10) instead of spinning, so an idle device does not burn
 * a host core. Interrupts are enabled in mie but not globally (mstatus.MIE = 0): WFI still wakes on a
 * pending enabled interrupt, and no trap handler is needed.
 * Console (self-test log): semihosting SYS_WRITE0, which QEMU prints on its stderr.
 * Cycle counter: minstret, exact and deterministic under -icount shift=0 (one instruction = one tick).
 * The nominal clock is the ESP32-C3's 160 MHz, so micros = instructions / 160 (one instruction per
 * cycle: an estimate, printed as such by the host).
 */
#include <stdint.h>

#include "qp_bsp.h"

#define QP_UART_BASE 0x10000000u
#define QP_UART_RBR 0u
#define QP_UART_THR 0u
#define QP_UART_IER 1u
#define QP_UART_FCR 2u
#define QP_UART_LCR 3u
#define QP_UART_MCR 4u
#define QP_UART_LSR 5u
#define QP_UART_LSR_DR 0x01u
#define QP_UART_LSR_THRE 0x20u

#define QP_PLIC_BASE 0x0c000000u
#define QP_PLIC_UART_SOURCE 10u
#define QP_PLIC_ENABLE_CTX0 (QP_PLIC_BASE + 0x2000u)
#define QP_PLIC_THRESHOLD_CTX0 (QP_PLIC_BASE + 0x200000u)
#define QP_PLIC_CLAIM_CTX0 (QP_PLIC_BASE + 0x200004u)

#define QP_CLOCK_HZ 160000000u

extern uint8_t __heap_start[], __stack[]; /* picolibc.ld: free RAM after .bss, and the top of the stack */

static volatile uint8_t *qp_uart_reg(uint32_t r) { return (volatile uint8_t *)(uintptr_t)(QP_UART_BASE + r); }
static volatile uint32_t *qp_mmio32(uint32_t a) { return (volatile uint32_t *)(uintptr_t)a; }

/* One semihosting call (RISC-V semihosting: the slli/ebreak/srai sequence, uncompressed, aligned). */
static int32_t __attribute__((noinline)) qp_semihost(int32_t op, const void *arg) {
  register int32_t a0 __asm__("a0") = op;
  register const void *a1 __asm__("a1") = arg;
  __asm__ volatile(
      ".option push\n"
      ".option norvc\n"
      ".balign 16\n"
      "slli zero, zero, 0x1f\n"
      "ebreak\n"
      "srai zero, zero, 0x7\n"
      ".option pop\n"
      : "+r"(a0)
      : "r"(a1)
      : "memory");
  return a0;
}


/* Stack high-water: the stack grows down from __stack (the end of RAM); qp_bsp_init paints from the end of .bss (__heap_start: no heap is used) to just below the
 * current frame, and qp_bsp_stack_used finds the deepest byte no longer holding the pattern. */
#define QP_STACK_PATTERN 0xA5u

static uint8_t *qp_stack_painted_low;

static void __attribute__((noinline)) qp_stack_paint(uint8_t *low) {
  volatile uint8_t here = 0;
  const uintptr_t end = (uintptr_t)&here - 256u; /* leave this frame and its callers alone */
  uint8_t *p = low;
  qp_stack_painted_low = low;
  while ((uintptr_t)p < end) *p++ = QP_STACK_PATTERN;
}

uint32_t qp_bsp_stack_used(void) {
  const uint8_t *p = qp_stack_painted_low;
  if (p == 0) return 0u;
  while (*p == QP_STACK_PATTERN) ++p;
  return (uint32_t)((uintptr_t)__stack - (uintptr_t)p);
}

void qp_bsp_init(void) {
  qp_stack_paint(__heap_start);
  *qp_uart_reg(QP_UART_LCR) = 0x03u; /* 8N1 */
  *qp_uart_reg(QP_UART_FCR) = 0x07u; /* FIFOs on and cleared */
  *qp_uart_reg(QP_UART_MCR) = 0x08u; /* OUT2: route the UART interrupt */
  *qp_uart_reg(QP_UART_IER) = 0x01u; /* interrupt on received data */
  *qp_mmio32(QP_PLIC_BASE + 4u * QP_PLIC_UART_SOURCE) = 1u;
  *qp_mmio32(QP_PLIC_ENABLE_CTX0) = 1u << QP_PLIC_UART_SOURCE;
  *qp_mmio32(QP_PLIC_THRESHOLD_CTX0) = 0u;
  __asm__ volatile(
      ".option push\n"
      ".option arch, +zicsr\n"
      "csrs mie, %0\n"
      ".option pop\n" ::"r"(1u << 11));
}

int32_t qp_bsp_read(uint8_t *buf, int32_t cap) {
  int32_t n = 0;
  while ((*qp_uart_reg(QP_UART_LSR) & QP_UART_LSR_DR) == 0u) {
    uint32_t claim;
    __asm__ volatile("wfi");
    claim = *qp_mmio32(QP_PLIC_CLAIM_CTX0);
    if (claim != 0u) *qp_mmio32(QP_PLIC_CLAIM_CTX0) = claim;
  }
  while (n < cap && (*qp_uart_reg(QP_UART_LSR) & QP_UART_LSR_DR) != 0u) buf[n++] = *qp_uart_reg(QP_UART_RBR);
  return n;
}

void qp_bsp_write(const uint8_t *buf, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    while ((*qp_uart_reg(QP_UART_LSR) & QP_UART_LSR_THRE) == 0u) {
    }
    *qp_uart_reg(QP_UART_THR) = buf[i];
  }
}

void qp_bsp_log(const char *text) { (void)qp_semihost(0x04, text); /* SYS_WRITE0 */ }

uint64_t qp_bsp_cycles(void) {
  uint32_t hi, lo, hi2;
  do {
    __asm__ volatile(
        ".option push\n"
        ".option arch, +zicsr\n"
        "csrr %0, minstreth\n"
        "csrr %1, minstret\n"
        "csrr %2, minstreth\n"
        ".option pop\n"
        : "=r"(hi), "=r"(lo), "=r"(hi2));
  } while (hi != hi2);
  return ((uint64_t)hi << 32) | lo;
}

uint32_t qp_bsp_micros(uint64_t cycles) {
  if ((cycles >> 32) != 0u) return 0xFFFFFFFFu;
  return (uint32_t)cycles / (QP_CLOCK_HZ / 1000000u);
}

uint32_t qp_bsp_clock_hz(void) { return QP_CLOCK_HZ; }

const char *qp_bsp_target(void) { return "qemu-rv32"; }
