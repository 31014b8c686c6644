#include "common/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qp {

namespace {
std::string fmt(const char *f, double v) {
  char b[48];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string esc(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}
}  // namespace

std::string svg_line_chart(const std::string &title, const std::string &x_label, const std::vector<Series> &series, int width,
                           int height, double y_min, double y_max) {
  size_t n = 0;
  double lo = 1e300, hi = -1e300;
  for (const auto &s : series) {
    n = std::max(n, s.y.size());
    for (double v : s.y)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  }
  if (y_min < y_max) {
    lo = y_min;
    hi = y_max;
  }
  if (!(lo < hi)) {
    lo = (lo > 1e299 ? 0 : lo) - 0.5;
    hi = lo + 1;
  }
  const double l = 44, r = 10, t = 26, b = 32, pw = width - l - r, ph = height - t - b;
  auto px = [&](size_t i) { return l + (n <= 1 ? pw / 2 : pw * static_cast<double>(i) / static_cast<double>(n - 1)); };
  auto py = [&](double v) { return t + ph * (1.0 - (v - lo) / (hi - lo)); };
  std::string o = "<g font-family=\"sans-serif\" font-size=\"11\">";
  o += "<text x=\"" + fmt("%.0f", l) + "\" y=\"16\" font-weight=\"bold\">" + esc(title) + "</text>";
  o += "<rect x=\"" + fmt("%.1f", l) + "\" y=\"" + fmt("%.1f", t) + "\" width=\"" + fmt("%.1f", pw) + "\" height=\"" +
       fmt("%.1f", ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0;
    o += "<line x1=\"" + fmt("%.1f", l) + "\" x2=\"" + fmt("%.1f", l + pw) + "\" y1=\"" + fmt("%.1f", py(v)) + "\" y2=\"" +
         fmt("%.1f", py(v)) + "\" stroke=\"#eee\"/><text x=\"" + fmt("%.1f", l - 4) + "\" y=\"" + fmt("%.1f", py(v) + 4) +
         "\" text-anchor=\"end\">" + fmt(std::fabs(hi - lo) < 5 ? "%.2f" : "%.0f", v) + "</text>";
  }
  o += "<text x=\"" + fmt("%.1f", l + pw / 2) + "\" y=\"" + std::to_string(height - 6) + "\" text-anchor=\"middle\">" + esc(x_label) +
       (n ? " (1.." + std::to_string(n) + ")" : "") + "</text>";
  double ly = t + 12;
  for (const auto &s : series) {
    std::string pts;
    for (size_t i = 0; i < s.y.size(); ++i)
      if (std::isfinite(s.y[i])) pts += fmt("%.1f", px(i)) + "," + fmt("%.1f", py(std::clamp(s.y[i], lo, hi))) + " ";
    o += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.8\" points=\"" + pts + "\"/>";
    o += "<text x=\"" + fmt("%.1f", l + pw - 4) + "\" y=\"" + fmt("%.1f", ly) + "\" text-anchor=\"end\" fill=\"" + s.color +
         "\">" + esc(s.name) + "</text>";
    ly += 13;
  }
  return o + "</g>";
}

std::string svg_document(const std::vector<std::string> &panels, int panel_width, int panel_height) {
  const int w = panel_width * static_cast<int>(panels.size());
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) + "\" height=\"" +
                  std::to_string(panel_height) + "\" viewBox=\"0 0 " + std::to_string(w) + " " + std::to_string(panel_height) +
                  "\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < panels.size(); ++i)
    o += "<g transform=\"translate(" + std::to_string(static_cast<int>(i) * panel_width) + ",0)\">" + panels[i] + "</g>\n";
  return o + "</svg>\n";
}

}  // namespace qp
