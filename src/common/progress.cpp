#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace qp {

Progress::Progress(std::string label, long total)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_() {}

void Progress::update(long done, const std::string &suffix) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  draw(done, suffix, false);
}

void Progress::finish(const std::string &suffix) {
  draw(total_, suffix, true);
}

void Progress::draw(long done, const std::string &suffix, bool final) {
  const int width = 24;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const int filled = static_cast<int>(frac * width + 0.5);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s [%s] %ld/%ld %.1fs %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(), done, total_, secs,
               suffix.c_str(), final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace qp
