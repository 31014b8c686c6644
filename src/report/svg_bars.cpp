#include "report/svg_bars.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qp::report {

namespace {

std::string num(const char *f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string short_value(double v) {
  if (!std::isfinite(v)) return "n/a";
  return num("%.3g", v);
}

// Label text cut to `max` characters (with an ellipsis) so long layer names keep the chart's width.
std::string clip_label(const std::string &s, size_t max) {
  if (s.size() <= max) return s;
  return s.substr(0, max - 1) + "\xE2\x80\xA6";
}

}  // namespace

std::string html_escape(const std::string &s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string svg_hbar_chart(const std::string &title, const std::vector<Bar> &bars, double v_min, double v_max, int width) {
  double lo = 0, hi = 0;
  if (v_min < v_max) {
    lo = v_min;
    hi = v_max;
  } else {
    bool any = false;
    for (const auto &b : bars)
      if (std::isfinite(b.value)) {
        lo = any ? std::min(lo, b.value) : std::min(0.0, b.value);
        hi = any ? std::max(hi, b.value) : std::max(0.0, b.value);
        any = true;
      }
    if (!(lo < hi)) hi = lo + 1;
  }
  const double label_w = 150, note_w = 110, top = 24, row = 18;
  const double plot_w = std::max(40.0, width - label_w - note_w - 8);
  const int height = static_cast<int>(top + row * static_cast<double>(bars.size()) + 8);
  auto px = [&](double v) { return label_w + plot_w * (std::clamp(v, lo, hi) - lo) / (hi - lo); };
  std::string o = "<svg class=\"chart\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
                  "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) + "\" role=\"img\" aria-label=\"" +
                  html_escape(title) + "\">";
  o += "<text x=\"0\" y=\"14\" class=\"ct\">" + html_escape(title) + "</text>";
  o += "<line x1=\"" + num("%.1f", px(lo)) + "\" x2=\"" + num("%.1f", px(lo)) + "\" y1=\"" + num("%.1f", top - 2) + "\" y2=\"" +
       num("%.1f", height - 6.0) + "\" stroke=\"#94a3b8\"/>";
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto &b = bars[i];
    const double y = top + row * static_cast<double>(i);
    o += "<text x=\"" + num("%.1f", label_w - 6) + "\" y=\"" + num("%.1f", y + 12) + "\" text-anchor=\"end\" class=\"cl\">" +
         html_escape(clip_label(b.label, 20)) + "</text>";
    double end = px(lo);
    if (std::isfinite(b.value)) {
      const double x0 = px(std::min(std::max(lo, 0.0), b.value)), x1 = px(std::max(std::max(lo, 0.0), b.value));
      end = x1;
      o += "<rect x=\"" + num("%.1f", x0) + "\" y=\"" + num("%.1f", y + 3) + "\" width=\"" + num("%.1f", std::max(1.0, x1 - x0)) +
           "\" height=\"12\" rx=\"2\" fill=\"" + html_escape(b.color.empty() ? "#2563eb" : b.color) + "\"/>";
    }
    o += "<text x=\"" + num("%.1f", end + 4) + "\" y=\"" + num("%.1f", y + 12) + "\" class=\"cv\">" +
         html_escape(b.note.empty() ? short_value(b.value) : b.note) + "</text>";
  }
  return o + "</svg>";
}

std::string svg_column_chart(const std::string &title, const std::vector<Bar> &columns, int width, int height) {
  double hi = 0;
  for (const auto &c : columns)
    if (std::isfinite(c.value)) hi = std::max(hi, c.value);
  if (hi <= 0) hi = 1;
  const double left = 8, right = 8, top = 34, bottom = 22;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const double slot = columns.empty() ? plot_w : plot_w / static_cast<double>(columns.size());
  const size_t label_every = std::max<size_t>(1, static_cast<size_t>(std::ceil(36.0 / std::max(1.0, slot))));
  std::string o = "<svg class=\"chart\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
                  "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) + "\" role=\"img\" aria-label=\"" +
                  html_escape(title) + "\">";
  o += "<text x=\"0\" y=\"14\" class=\"ct\">" + html_escape(title) + "</text>";
  o += "<line x1=\"" + num("%.1f", left) + "\" x2=\"" + num("%.1f", left + plot_w) + "\" y1=\"" + num("%.1f", top + plot_h) +
       "\" y2=\"" + num("%.1f", top + plot_h) + "\" stroke=\"#94a3b8\"/>";
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto &c = columns[i];
    const double x = left + slot * static_cast<double>(i);
    const double v = std::isfinite(c.value) ? std::max(0.0, c.value) : 0.0;
    const double h = plot_h * v / hi;
    if (h > 0)
      o += "<rect x=\"" + num("%.1f", x + slot * 0.1) + "\" y=\"" + num("%.1f", top + plot_h - h) + "\" width=\"" +
           num("%.1f", std::max(1.0, slot * 0.8)) + "\" height=\"" + num("%.1f", h) + "\" fill=\"" +
           html_escape(c.color.empty() ? "#2563eb" : c.color) + "\"><title>" + html_escape(c.label) + ": " +
           html_escape(c.note.empty() ? short_value(c.value) : c.note) + "</title></rect>";
    if (v > 0 && slot >= 14)
      o += "<text x=\"" + num("%.1f", x + slot / 2) + "\" y=\"" + num("%.1f", top + plot_h - h - 3) +
           "\" text-anchor=\"middle\" class=\"cv\">" + html_escape(c.note.empty() ? short_value(c.value) : c.note) + "</text>";
    if (i % label_every == 0)
      o += "<text x=\"" + num("%.1f", x + slot / 2) + "\" y=\"" + num("%.1f", top + plot_h + 14) +
           "\" text-anchor=\"middle\" class=\"cl\">" + html_escape(clip_label(c.label, 8)) + "</text>";
  }
  return o + "</svg>";
}

std::string svg_line_panel(const std::string &title, const std::string &x_label, const std::vector<Line> &lines, int width,
                           int height, double y_min, double y_max) {
  size_t n = 0;
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto &l : lines) {
    n = std::max(n, l.y.size());
    for (double v : l.y)
      if (std::isfinite(v)) {
        lo = any ? std::min(lo, v) : v;
        hi = any ? std::max(hi, v) : v;
        any = true;
      }
  }
  if (y_min < y_max) {
    lo = y_min;
    hi = y_max;
  }
  if (!(lo < hi)) hi = lo + 1;
  const double left = 44, right = 10, top = 24, bottom = 30;
  const double pw = width - left - right, ph = height - top - bottom;
  auto px = [&](size_t i) { return left + (n <= 1 ? pw / 2 : pw * static_cast<double>(i) / static_cast<double>(n - 1)); };
  auto py = [&](double v) { return top + ph * (1.0 - (std::clamp(v, lo, hi) - lo) / (hi - lo)); };
  std::string o = "<svg class=\"chart\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
                  "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) + "\" role=\"img\" aria-label=\"" +
                  html_escape(title) + "\">";
  o += "<text x=\"0\" y=\"14\" class=\"ct\">" + html_escape(title) + "</text>";
  const char *tick = std::fabs(hi - lo) < 5 ? "%.2f" : "%.0f";
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0;
    o += "<line x1=\"" + num("%.1f", left) + "\" x2=\"" + num("%.1f", left + pw) + "\" y1=\"" + num("%.1f", py(v)) + "\" y2=\"" +
         num("%.1f", py(v)) + "\" stroke=\"" + (k == 0 ? "#94a3b8" : "#e2e8f0") + "\"/><text x=\"" + num("%.1f", left - 4) +
         "\" y=\"" + num("%.1f", py(v) + 4) + "\" text-anchor=\"end\" class=\"cl\">" + num(tick, v) + "</text>";
  }
  o += "<text x=\"" + num("%.1f", left + pw / 2) + "\" y=\"" + num("%.1f", height - 6.0) +
       "\" text-anchor=\"middle\" class=\"cl\">" + html_escape(x_label) + (n ? " (1&#8211;" + std::to_string(n) + ")" : "") +
       "</text>";
  double legend_w = 0;
  for (const auto &l : lines) legend_w += 24 + 7.0 * static_cast<double>(l.name.size());
  double lx = width - right - legend_w;  // legend at the top right, beside the title
  for (const auto &l : lines) {
    std::string pts;
    for (size_t i = 0; i < l.y.size(); ++i)
      if (std::isfinite(l.y[i])) pts += num("%.1f", px(i)) + "," + num("%.1f", py(l.y[i])) + " ";
    const std::string color = html_escape(l.color.empty() ? "#2563eb" : l.color);
    o += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\" points=\"" + pts + "\"/>";
    o += "<rect x=\"" + num("%.1f", lx) + "\" y=\"" + num("%.1f", 8.5) + "\" width=\"10\" height=\"3\" fill=\"" + color +
         "\"/><text x=\"" + num("%.1f", lx + 14) + "\" y=\"" + num("%.1f", 13) + "\" class=\"cl\">" + html_escape(l.name) +
         "</text>";
    lx += 24 + 7.0 * static_cast<double>(l.name.size());
  }
  return o + "</svg>";
}

}  // namespace qp::report
