// qparity firmware as an Arduino sketch (arduino-esp32 core). The model, kernels, protocol and
// application are the same C sources as the ESP-IDF project; qp_bsp_arduino.cpp adapts the board.
#include "qp_app.h"
#include "qp_bsp.h"

void setup() {
  qp_bsp_init();
  (void)qp_app_selftest();
}

void loop() { (void)qp_app_serve(); }
