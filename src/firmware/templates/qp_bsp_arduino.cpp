// Board support for the Arduino sketch (arduino-esp32 core): the protocol on Serial at 921600 baud.
#include <Arduino.h>

#include "qp_bsp.h"

static uint32_t qp_last_cycles;
static uint64_t qp_high_cycles;

extern "C" {

void qp_bsp_init(void) { Serial.begin(921600); }

int32_t qp_bsp_read(uint8_t *buf, int32_t cap) {
  while (Serial.available() <= 0) delay(1);
  return static_cast<int32_t>(Serial.readBytes(buf, static_cast<size_t>(min<int>(cap, Serial.available()))));
}

void qp_bsp_write(const uint8_t *buf, int32_t n) { Serial.write(buf, static_cast<size_t>(n)); }

void qp_bsp_log(const char *text) { Serial.print(text); }

uint64_t qp_bsp_cycles(void) {
  const uint32_t now = ESP.getCycleCount();
  if (now < qp_last_cycles) qp_high_cycles += static_cast<uint64_t>(1) << 32;
  qp_last_cycles = now;
  return qp_high_cycles | now;
}

uint32_t qp_bsp_micros(uint64_t cycles) { return static_cast<uint32_t>(cycles / ESP.getCpuFreqMHz()); }

uint32_t qp_bsp_clock_hz(void) { return ESP.getCpuFreqMHz() * 1000000u; }

uint32_t qp_bsp_stack_used(void) { return 0u; }  // not tracked in the sketch

const char *qp_bsp_target(void) { return "arduino-esp32"; }
}
