// qparity error type: every user-facing failure is a qp::Error whose message names the thing that is
// wrong and what to do about it. The CLI prints the message and exits non-zero; nothing aborts.
#pragma once
#include <stdexcept>
#include <string>

namespace qp {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string &what, int exit_code = 1) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }  // what the CLI exits with (verify: 2 = unusable input)

 private:
  int exit_code_;
};

// Thrown by a command that finished and wants a particular non-zero exit status without an error
// message (e.g. verify: 1 = NOT EQUIVALENT). The CLI exits with `code`.
struct ExitStatus {
  int code;
};

// Throws qp::Error("<what>" + "\n  fix: <fix>") when fix is non-empty.
[[noreturn]] void fail(const std::string &what, const std::string &fix = "");

}  // namespace qp
