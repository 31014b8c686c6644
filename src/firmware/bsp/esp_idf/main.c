/* ESP-IDF entry point: self-test (if a subset is embedded), then serve the host over UART0. */
#include "qp_app.h"
#include "qp_bsp.h"

void app_main(void) {
  qp_bsp_init();
  (void)qp_app_selftest();
  (void)qp_app_serve();
}
