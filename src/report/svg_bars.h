// Small inline SVG charts for the report: horizontal bars (one labelled row per item, e.g. per-layer
// SQNR or sensitivity) and vertical columns (histograms) and line panels. The output is an <svg> element meant to be
// embedded in HTML: no xmlns, no scripts, no external fonts; every label is escaped.
//
//   std::vector<qp::report::Bar> bars = {{"conv1", 38.2, "#2563eb", "38.2 dB"}, {"dense", 31.0, "#2563eb", "31.0 dB"}};
//   std::string svg = qp::report::svg_hbar_chart("SQNR per layer", bars, 0, 0, 480);
#pragma once
#include <string>
#include <vector>

namespace qp::report {

struct Bar {
  std::string label;  // row label (left of the bar)
  double value = 0;   // bar length; non-finite values draw no bar and print "n/a"
  std::string color;  // CSS colour of the bar
  std::string note;   // text printed after the bar; the value with 3 significant digits when empty
};

// Horizontal bars from v_min to the value, one 18-px row per bar. The axis spans [v_min, v_max]
// when v_min < v_max, else [min(0, smallest), largest] of the data.
std::string svg_hbar_chart(const std::string &title, const std::vector<Bar> &bars, double v_min = 0, double v_max = 0,
                           int width = 520);

// Vertical columns (a histogram): labels under the columns (thinned when crowded), counts above.
std::string svg_column_chart(const std::string &title, const std::vector<Bar> &columns, int width = 520, int height = 200);

struct Line {
  std::string name, color;
  std::vector<double> y;  // one value per x = 1, 2, ...; non-finite values are skipped
};

// Line chart panel (e.g. training curves) with a legend; y axis [y_min, y_max] when y_min < y_max,
// else the data's range.
std::string svg_line_panel(const std::string &title, const std::string &x_label, const std::vector<Line> &lines, int width = 370,
                           int height = 230, double y_min = 0, double y_max = 0);

// &, <, >, " and ' as entities: safe in element text and in quoted attributes.
std::string html_escape(const std::string &s);

}  // namespace qp::report
