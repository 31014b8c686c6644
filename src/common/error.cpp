#include "common/error.h"

namespace qp {

void fail(const std::string &what, const std::string &fix) {
  if (fix.empty()) throw Error(what);
  throw Error(what + "\n  fix: " + fix);
}

}  // namespace qp
