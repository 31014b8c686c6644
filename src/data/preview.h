// Contact sheet: a grid of samples per class, so a person can look at a dataset.
#pragma once
#include <string>

namespace qp::data {

struct PreviewOptions {
  std::string dir;     // an ImageFolder split (class subfolders) or a root holding train/ and test/
  std::string out;     // PNG path
  int per_class = 12;  // columns
  int scale = 3;       // each 32x32 sample drawn at scale x scale
};

// Writes the sheet; returns the number of rows (classes) drawn. Throws qp::Error on bad input.
int preview_write(const PreviewOptions &opt);

}  // namespace qp::data
