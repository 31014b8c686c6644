/* Stack high-water measurement for bare-metal boards (the emulated ones): the board's qp_bsp_init
 * paints the free stack from `low` to just below its own frame with a pattern; later, the deepest
 * byte no longer holding it tells the most stack ever used. Include once, in the board's .c file. */
#ifndef QP_BSP_STACK_H
#define QP_BSP_STACK_H

#include <stdint.h>

#define QP_STACK_PATTERN 0xA5u

static uint8_t *qp_stack_painted_low;

static void __attribute__((noinline)) qp_stack_paint(uint8_t *low) {
  volatile uint8_t here = 0;
  const uintptr_t end = (uintptr_t)&here - 256u; /* leave this frame and its callers alone */
  uint8_t *p = low;
  qp_stack_painted_low = low;
  while ((uintptr_t)p < end) *p++ = QP_STACK_PATTERN;
}

/* Bytes between the stack's top and the deepest overwritten byte; 0 before qp_stack_paint. */
static uint32_t qp_stack_used_below(const uint8_t *top) {
  const uint8_t *p = qp_stack_painted_low;
  if (p == 0) return 0u;
  while (*p == QP_STACK_PATTERN) ++p;
  return (uint32_t)((uintptr_t)top - (uintptr_t)p);
}

#endif /* QP_BSP_STACK_H */
