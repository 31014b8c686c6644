// Shell words: what the pipeline prints and records as "the exact command", and what the firmware
// build hands to /bin/sh, quoted so that any path survives.
#pragma once
#include <string>
#include <vector>

namespace qp {

// `s` as one shell word: unchanged when it holds nothing the shell would interpret, else in single quotes.
inline std::string shell_quote(const std::string &s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?()[]{}<>|&;~#") == std::string::npos) return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// The words joined into one command line.
inline std::string shell_join(const std::vector<std::string> &words) {
  std::string s;
  for (const auto &w : words) s += (s.empty() ? "" : " ") + shell_quote(w);
  return s;
}

}  // namespace qp
