// qparity error type: every user-facing failure is a qp::Error whose message names the thing that is
// wrong and what to do about it. The CLI prints the message and exits non-zero; nothing aborts.
#pragma once
#include <stdexcept>
#include <string>

namespace qp {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string &what) : std::runtime_error(what) {}
};

// Throws qp::Error("<what>" + "\n  fix: <fix>") when fix is non-empty.
[[noreturn]] void fail(const std::string &what, const std::string &fix = "");

}  // namespace qp
