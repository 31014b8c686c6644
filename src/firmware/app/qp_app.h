/* qparity device application: serves the serial protocol (src/device/qp_proto.h) with the generated
 * model package, and runs the embedded self-test subset at boot when there is one. Identical for
 * every board; the board differs only in its qp_bsp_* functions. C99, integer-only, no heap.
 */
#ifndef QP_APP_H
#define QP_APP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs every embedded self-test image (if the package has a subset), printing one line per image in
 * the seed's format and a summary. Returns the number of correct predictions (0 without a subset). */
int32_t qp_app_selftest(void);

/* Announces READY and answers requests until the link closes. Returns 0 on a clean close. */
int32_t qp_app_serve(void);

#ifdef __cplusplus
}
#endif

#endif /* QP_APP_H */
