/* Board support for real ESP32-family boards under ESP-IDF (v5.x): the protocol runs on UART0 (the
 * USB-serial port of a dev kit) at QP_BAUD; the self-test log goes to the same console; cycles come
 * from the CPU cycle counter, time from esp_timer. */
#include <stdint.h>

#include "driver/uart.h"
#include "esp_cpu.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "qp_bsp.h"
#include "sdkconfig.h"

#ifndef QP_BAUD
#define QP_BAUD 921600
#endif
#define QP_UART UART_NUM_0

static uint32_t qp_last_cycles;
static uint64_t qp_high_cycles;

void qp_bsp_init(void) {
  const uart_config_t cfg = {
      .baud_rate = QP_BAUD,
      .data_bits = UART_DATA_8_BITS,
      .parity = UART_PARITY_DISABLE,
      .stop_bits = UART_STOP_BITS_1,
      .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
      .source_clk = UART_SCLK_DEFAULT,
  };
  uart_driver_install(QP_UART, 8192, 8192, 0, NULL, 0);
  uart_param_config(QP_UART, &cfg);
}

int32_t qp_bsp_read(uint8_t *buf, int32_t cap) {
  for (;;) {
    const int n = uart_read_bytes(QP_UART, buf, (uint32_t)cap, pdMS_TO_TICKS(1000));
    if (n > 0) return n;
  }
}

void qp_bsp_write(const uint8_t *buf, int32_t n) { uart_write_bytes(QP_UART, (const char *)buf, (size_t)n); }

void qp_bsp_log(const char *text) {
  const char *e = text;
  while (*e != '\0') ++e;
  uart_write_bytes(QP_UART, text, (size_t)(e - text));
}

uint64_t qp_bsp_cycles(void) {
  const uint32_t now = (uint32_t)esp_cpu_get_cycle_count();
  if (now < qp_last_cycles) qp_high_cycles += (uint64_t)1 << 32;
  qp_last_cycles = now;
  return qp_high_cycles | now;
}

uint32_t qp_bsp_micros(uint64_t cycles) { return (uint32_t)(cycles / (uint64_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ); }

uint32_t qp_bsp_clock_hz(void) { return (uint32_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ * 1000000u; }

/* FreeRTOS tracks the main task's high-water mark (the least free stack, in bytes on ESP-IDF). */
uint32_t qp_bsp_stack_used(void) {
  return (uint32_t)CONFIG_ESP_MAIN_TASK_STACK_SIZE - (uint32_t)uxTaskGetStackHighWaterMark(NULL);
}

const char *qp_bsp_target(void) { return CONFIG_IDF_TARGET; }
