/* Entry point on the emulated Xtensa board: self-test (if a subset is embedded), then serve the host
 * until QEMU's stdin closes. */
#include "qp_app.h"
#include "qp_bsp.h"

int main(void) {
  qp_bsp_init();
  (void)qp_app_selftest();
  return (int)qp_app_serve();
}
