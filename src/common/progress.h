// A one-line progress bar on stderr. On a terminal it redraws in place; otherwise (CI logs, pipes) it
// prints only the final line so logs stay readable.
#pragma once
#include <chrono>
#include <string>

namespace qp {

class Progress {
 public:
  Progress(std::string label, long total);
  void update(long done, const std::string &suffix = "");
  void finish(const std::string &suffix = "");

 private:
  std::string label_;
  long total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  void draw(long done, const std::string &suffix, bool final);
};

}  // namespace qp
