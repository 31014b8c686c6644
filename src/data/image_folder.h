// ImageFolder datasets: a split folder holds one subfolder per class; the class names are the sorted
// subfolder names, unless the split folder or its parent holds classes.txt (one name per line), which
// then fixes the order (the built-in set writes one so its order is the seed's: rock, paper, scissors).
//
//   auto split = qp::data::load_split("data/test", {});           // decode + resize every image
//   split.pixels: split.samples.size() images of size*size*3 bytes, HWC RGB
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
};

struct LoadOptions {
  int size = 32;            // model input side; images are resized to size x size
  bool crop_square = true;  // centre-crop to square before resizing
  bool skip_bad = false;    // skip unreadable images (counted) instead of failing
  int threads = 0;          // 0 = all cores
  // When non-empty, these are the class names (e.g. a model's); every class folder must be among them
  // and labels index this list. When empty, the split's own classes are used.
  std::vector<std::string> classes;
};

struct Split {
  std::string dir;
  std::vector<std::string> classes;
  std::vector<Sample> samples;
  std::vector<uint8_t> pixels;  // samples.size() * size * size * 3, HWC RGB, in sample order
  int size = 32;
  std::vector<std::string> skipped;  // files skipped with --skip-bad, each with its reason
  const uint8_t *image(size_t i) const { return pixels.data() + i * static_cast<size_t>(size) * size * 3; }
};

// Class names of a split folder (classes.txt order, else sorted subfolder names). Throws when the
// folder is missing or has no class subfolders.
std::vector<std::string> split_classes(const std::string &dir);

// Lists, hashes, decodes and resizes every image of a split. Throws qp::Error naming the file or
// folder and the fix for: a missing folder, no class folders, an empty class folder, a non-image file,
// an unreadable or corrupt image (unless skip_bad), a class not among opt.classes, no images at all.
// Hidden files (names starting with '.') are ignored.
Split load_split(const std::string &dir, const LoadOptions &opt);

// The training root convention: ROOT/train and optionally ROOT/test. Checks that every class of test
// is also a class of train.
void check_train_test_classes(const std::string &root);

// Writes a manifest (JSON): every image's path, label, class, split and content hash; `extra` keys
// (e.g. the generator's parameters) are added at the top level.
void write_manifest(const std::string &path, const std::vector<const Split *> &splits,
                    const nlohmann::ordered_json &extra = nlohmann::ordered_json::object());

}  // namespace qp::data
