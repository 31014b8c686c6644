#include "data/preview.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/image_folder.h"
#include "data/image_io.h"

namespace fs = std::filesystem;

namespace qp::data {

int preview_write(const PreviewOptions &opt) {
  if (opt.out.empty()) fail("no output file given for the preview", "pass --out SHEET.png");
  if (opt.per_class < 1 || opt.per_class > 1000)
    fail("--per-class " + std::to_string(opt.per_class) + " is out of range",
         "pass a number of samples per class from 1 to 1000");
  if (opt.scale < 1 || opt.scale > 32)
    fail("--scale " + std::to_string(opt.scale) + " is out of range", "pass a pixel scale from 1 to 32");
  if (opt.dir.empty()) fail("no dataset folder given for the preview", "pass a dataset root or a split folder");

  // A root (holding train/ and maybe test/) previews its test split, else its train split.
  fs::path dir(opt.dir);
  if (!fs::is_directory(dir))
    fail("dataset folder '" + opt.dir + "' does not exist or is not a folder",
         "pass a dataset root (with train/ and test/) or a split folder with one subfolder per class; "
         "'qparity data synth --out DIR' creates one");
  if (fs::is_directory(dir / "train")) dir = fs::is_directory(dir / "test") ? dir / "test" : dir / "train";

  LoadOptions lo;
  lo.size = 32;
  const Split split = load_split(dir.string(), lo);
  const int rows = static_cast<int>(split.classes.size());
  if (rows == 0) fail("dataset folder '" + dir.string() + "' has no classes", "add one subfolder of images per class");

  // First per_class files of each class, by path.
  std::vector<std::vector<size_t>> picks(static_cast<size_t>(rows));
  {
    std::vector<size_t> order(split.samples.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return split.samples[a].path < split.samples[b].path; });
    for (const size_t i : order) {
      const int label = split.samples[i].label;
      if (label < 0 || label >= rows) continue;
      auto &row = picks[static_cast<size_t>(label)];
      if (static_cast<int>(row.size()) < opt.per_class) row.push_back(i);
    }
  }

  const int side = split.size, cell = side * opt.scale, gap = 4;
  Image sheet;
  sheet.channels = 3;
  sheet.width = opt.per_class * (cell + gap) + gap;
  sheet.height = rows * (cell + gap) + gap;
  sheet.pixels.assign(static_cast<size_t>(sheet.width) * sheet.height * 3, 40);
  for (int r = 0; r < rows; ++r) {
    const auto &row = picks[static_cast<size_t>(r)];
    for (size_t col = 0; col < row.size(); ++col) {
      const uint8_t *src = split.image(row[col]);
      const int ox = gap + static_cast<int>(col) * (cell + gap), oy = gap + r * (cell + gap);
      for (int y = 0; y < cell; ++y) {
        const int sy = y / opt.scale;
        uint8_t *dst = &sheet.pixels[(static_cast<size_t>(oy + y) * sheet.width + ox) * 3];
        for (int x = 0; x < cell; ++x) {
          const uint8_t *s = src + (static_cast<size_t>(sy) * side + x / opt.scale) * 3;
          dst[x * 3 + 0] = s[0];
          dst[x * 3 + 1] = s[1];
          dst[x * 3 + 2] = s[2];
        }
      }
    }
  }

  const fs::path out(opt.out);
  if (out.has_parent_path() && !fs::is_directory(out.parent_path()))
    fail("cannot write preview '" + opt.out + "': folder '" + out.parent_path().string() + "' does not exist",
         "create the folder first or pass --out to an existing folder");
  write_png(opt.out, sheet);
  return rows;
}

}  // namespace qp::data
