/* qparity board-support interface: the only code that differs between a real ESP32 (ESP-IDF), the
 * emulated rv32 board and the emulated Xtensa board. The application (app/qp_app.c) and the model
 * package are identical everywhere. C99, integer-only.
 */
#ifndef QP_BSP_H
#define QP_BSP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Brings up the host link (UART or semihosting stream) and the cycle counter. */
void qp_bsp_init(void);

/* Blocks until at least one byte arrives; returns the count (<= cap), or -1 when the link is closed. */
int32_t qp_bsp_read(uint8_t *buf, int32_t cap);

/* Writes all n bytes to the host link. */
void qp_bsp_write(const uint8_t *buf, int32_t n);

/* Writes human-readable text (self-test log) to the console. */
void qp_bsp_log(const char *text);

/* Free-running cycle counter (instructions under QEMU -icount); 64-bit. */
uint64_t qp_bsp_cycles(void);

/* Microseconds for a cycle delta (0 when the board cannot tell). */
uint32_t qp_bsp_micros(uint64_t cycles);

/* The CPU clock the cycle counter runs at, in Hz (nominal on an emulator). */
uint32_t qp_bsp_clock_hz(void);

/* The most stack used since qp_bsp_init (bytes; 0 when the board cannot tell): qp_bsp_init paints the
 * free stack with a pattern and this finds the deepest overwritten byte. */
uint32_t qp_bsp_stack_used(void);

/* The target's name as reported in HELLO, e.g. "qemu-rv32", "esp32s3". */
const char *qp_bsp_target(void);

#ifdef __cplusplus
}
#endif

#endif /* QP_BSP_H */
