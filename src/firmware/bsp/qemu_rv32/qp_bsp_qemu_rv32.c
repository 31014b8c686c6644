/* Board support for the emulated rv32 board: qemu-system-riscv32 -M virt (RISC-V rv32imac, the core
 * family of the ESP32-C3/C6).
 *
 * Host link: the board's 16550 UART at 0x10000000, on a QEMU socket chardev. Receiving waits with WFI
 * on the UART's receive interrupt (PLIC source 10) instead of spinning, so an idle device does not burn
 * a host core. Interrupts are enabled in mie but not globally (mstatus.MIE = 0): WFI still wakes on a
 * pending enabled interrupt, and no trap handler is needed.
 * Bulk runs can use a faster link instead: when QEMU's command line (-append) holds "qp-semihost", the
 * protocol runs over semihosting reads of QEMU's stdin and writes to its stdout (blocking, binary-safe,
 * tens of MB/s) and the UART is left alone. The application is the same either way.
 * Console (self-test log): semihosting SYS_WRITE0, which QEMU prints on its stderr.
 * Cycle counter: minstret, exact and deterministic under -icount shift=0 (one instruction = one tick).
 * The nominal clock is the ESP32-C3's 160 MHz, so micros = instructions / 160 (one instruction per
 * cycle: an estimate, printed as such by the host).
 */
#include <stdint.h>

#include "qp_bsp.h"
#include "qp_bsp_stack.h"

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


/* Stack high-water (qp_bsp_stack.h): painted from the end of the data at boot, measured below __stack. */
uint32_t qp_bsp_stack_used(void) { return qp_stack_used_below(__stack); }

/* The semihosting link: file handles of QEMU's stdin and stdout, or -1 when the UART is the link. */
static int32_t qp_sh_in = -1, qp_sh_out = -1;

static int32_t qp_sh_open(const char *name, int32_t mode) {
  uint32_t args[3];
  uint32_t n = 0;
  while (name[n] != '\0') ++n;
  args[0] = (uint32_t)(uintptr_t)name;
  args[1] = (uint32_t)mode; /* 0 "r", 4 "w" (binary: 1, 5) */
  args[2] = n;
  return qp_semihost(0x01, args); /* SYS_OPEN */
}

/* 1 when the semihosting command line contains "qp-semihost". */
static int qp_sh_requested(void) {
  static char cmdline[128];
  uint32_t args[2];
  uint32_t i;
  args[0] = (uint32_t)(uintptr_t)cmdline;
  args[1] = (uint32_t)sizeof cmdline - 1u;
  if (qp_semihost(0x15, args) != 0) return 0; /* SYS_GET_CMDLINE */
  for (i = 0; cmdline[i] != '\0' && i + 11u <= args[1]; ++i) {
    const char *w = "qp-semihost";
    uint32_t j = 0;
    while (w[j] != '\0' && cmdline[i + j] == w[j]) ++j;
    if (w[j] == '\0') return 1;
  }
  return 0;
}

void qp_bsp_init(void) {
  qp_stack_paint(__heap_start);
  if (qp_sh_requested()) {
    qp_sh_in = qp_sh_open("/dev/stdin", 1);
    qp_sh_out = qp_sh_open("/dev/stdout", 5);
    if (qp_sh_in >= 0 && qp_sh_out >= 0) return;
    qp_sh_in = qp_sh_out = -1;
  }
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
  if (qp_sh_in >= 0) {
    /* SYS_READ returns the number of bytes NOT read; all of them means end of file. */
    uint32_t args[3];
    int32_t left;
    args[0] = (uint32_t)qp_sh_in;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)cap;
    left = qp_semihost(0x06, args);
    return left < 0 || left >= cap ? -1 : cap - left;
  }
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
  if (qp_sh_out >= 0) {
    uint32_t args[3];
    args[0] = (uint32_t)qp_sh_out;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)n;
    (void)qp_semihost(0x05, args); /* SYS_WRITE: blocking, writes everything */
    return;
  }
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
