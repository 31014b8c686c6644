// ImageFolder datasets: a split folder holds one subfolder per class; the class names are the sorted
// subfolder names, unless the split folder or its parent holds classes.txt (one name per line), which
// then fixes the order (the built-in set writes one so its order is the seed's: rock, paper, scissors).
//
//   auto split = qp::data::load_split("data/test", {});           // decode + resize every image
//   split.pixels: split.samples.size() images of height*width*channels bytes, HWC (RGB, or luma when channels = 1)
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qp::data {

struct Sample {
  std::string path;    // as found: openable from the working directory
  int label = -1;      // index into the split's classes
  std::string split;   // "train", "test" or the split folder's name
  std::string sha256;  // of the file's bytes
  std::string pixels_sha256;  // of the decoded image (size + RGB pixels), only with LoadOptions::hash_pixels
};

struct LoadOptions {
  int size = 32;            // model input side when height/width are 0: images are resized to size x size
  int height = 0, width = 0;  // model input height and width (0 = size); images are resized to width x height
  int channels = 3;         // 3: RGB (grayscale files replicated); 1: luma (see data::to_luma; gray files read as is)
  bool crop_square = true;  // centre-crop to the input's aspect ratio (a square for square inputs) before resizing
  int input_height() const { return height > 0 ? height : size; }
  int input_width() const { return width > 0 ? width : size; }
  void set_input(int h, int w, int c) { height = h, width = w, channels = c, size = h; }  // a model's input (CHW: c, h, w)
  bool skip_bad = false;    // skip unreadable images (counted) instead of failing
  int threads = 0;          // 0 = all cores
  // When non-empty, these are the class names (e.g. a model's); every class folder must be among them
  // and labels index this list. When empty, the split's own classes are used.
  std::vector<std::string> classes;
  // Keep going after a problem (qparity data check lists them all in one pass): a bad or non-image
  // file (unless skip_bad), a folder inside a class folder, an empty class folder, a class not among
  // `classes`, no usable images: each is recorded in Split::problems instead of thrown, and left out.
  bool collect_problems = false;
  // Also hash each decoded image (Sample::pixels_sha256): the same picture saved twice with different
  // bytes (another format, other metadata) has one pixel hash. Costs a hash of the full-size pixels.
  bool hash_pixels = false;
};

struct Split {
  std::string dir;
  std::vector<std::string> classes;
  std::vector<Sample> samples;
  std::vector<uint8_t> pixels;  // samples.size() * height * width * channels, HWC, in sample order
  int height = 32, width = 32, channels = 3;  // every image's dimensions (LoadOptions' input size)
  int size = 32;                // = height (kept for callers written for square inputs)
  std::vector<std::string> skipped;  // files skipped with --skip-bad, each with its reason
  std::vector<std::string> problems; // with collect_problems: each problem's message (what + fix): folder
                                     // problems as listed, then unreadable images in file order
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
  bool has_input(int h, int w, int c) const { return height == h && width == w && channels == c; }
  const uint8_t *image(size_t i) const { return pixels.data() + i * image_bytes(); }
};

// Class names of a split folder (classes.txt order, else sorted subfolder names). Throws when the
// folder is missing or has no class subfolders, or a class folder is not in classes.txt; with
// `problems`, the last is recorded there instead and the folder's name follows the listed ones.
std::vector<std::string> split_classes(const std::string &dir, std::vector<std::string> *problems = nullptr);

// Lists, hashes, decodes and resizes every image of a split. Throws qp::Error naming the file or
// folder and the fix for: a missing folder, no class folders, an empty class folder, a non-image file,
// an unreadable or corrupt image (unless skip_bad), a class not among opt.classes, no images at all.
// Hidden files (names starting with '.') are ignored. With opt.collect_problems only a missing folder
// or one without class folders throws; everything else lands in Split::problems.
Split load_split(const std::string &dir, const LoadOptions &opt);

// The training root convention: ROOT/train and optionally ROOT/test. Checks that every class of test
// is also a class of train.
void check_train_test_classes(const std::string &root);

// Images with the same content, for `qparity data check`'s warnings: the same decoded pixels (when the
// splits were loaded with hash_pixels; the same picture in another format counts) or else the same file
// bytes. A group spanning two splits is a train/test leak (the test accuracy then measures memory);
// a group inside one split is a duplicate, worse when the copies carry different labels.
struct DuplicateGroup {
  std::vector<std::pair<size_t, size_t>> members;  // (split index, sample index), in load order
  bool across_splits = false;
  bool labels_differ = false;
};
std::vector<DuplicateGroup> find_duplicates(const std::vector<Split> &splits);

// Class balance of a split: the largest and smallest class among those with images, their ratio, and
// the classes with no images at all (e.g. a test split missing a class of train).
struct ClassBalance {
  std::vector<int> counts;           // per class of split.classes
  size_t largest = 0, smallest = 0;  // class indices (ties: the first largest, the last smallest)
  double ratio = 1.0;                // counts[largest] / counts[smallest]; 1 with fewer than two classes
  std::vector<size_t> empty;         // classes without images
};
ClassBalance class_balance(const Split &split);
// Above this largest/smallest ratio `data check` warns that the split is imbalanced: a model trained on
// it tends to favour the large classes, and the overall accuracy hides the small ones.
constexpr double kImbalanceWarnRatio = 3.0;

// Writes a manifest (JSON): every image's path, label, class, split and content hash; `extra` keys
// (e.g. the generator's parameters) are added at the top level.
void write_manifest(const std::string &path, const std::vector<const Split *> &splits,
                    const nlohmann::ordered_json &extra = nlohmann::ordered_json::object());

}  // namespace qp::data
