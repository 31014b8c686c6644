// Small self-contained SVG line charts (no scripts, no fonts beyond the generic family), used for
// training curves and, later, the report.
#pragma once
#include <string>
#include <vector>

namespace qp {

struct Series {
  std::string name;
  std::string color;      // CSS colour
  std::vector<double> y;  // one value per x = 1, 2, ...
};

// One chart panel of width x height pixels; y range from the data unless y_min < y_max are given.
std::string svg_line_chart(const std::string &title, const std::string &x_label, const std::vector<Series> &series,
                           int width = 360, int height = 220, double y_min = 0, double y_max = 0);

// Panels side by side in one <svg> document.
std::string svg_document(const std::vector<std::string> &panels, int panel_width = 360, int panel_height = 220);

}  // namespace qp
