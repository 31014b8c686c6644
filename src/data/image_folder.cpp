#include "data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/parallel.h"
#include "common/sha256.h"
#include "data/image_io.h"

namespace fs = std::filesystem;

namespace qp::data {
namespace {

bool is_hidden(const fs::path &p) {
  const auto name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

bool has_image_extension(const fs::path &p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".webp";
}

std::vector<std::string> read_classes_txt(const fs::path &file) {
  std::ifstream in(file);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

}  // namespace

std::vector<std::string> split_classes(const std::string &dir, std::vector<std::string> *problems) {
  const fs::path d(dir);
  if (!fs::is_directory(d))
    fail("dataset folder '" + dir + "' does not exist or is not a folder",
         "pass a folder with one subfolder per class (e.g. DIR/test/rock/*.png), or create one with 'qparity data synth'");
  std::vector<std::string> found;
  for (const auto &e : fs::directory_iterator(d))
    if (e.is_directory() && !is_hidden(e.path())) found.push_back(e.path().filename().string());
  std::sort(found.begin(), found.end());
  if (found.empty())
    fail("dataset folder '" + dir + "' has no class subfolders",
         "put each class's images in its own subfolder (e.g. '" + dir + "/rock/img1.png')");
  for (const fs::path &candidate : {d / "classes.txt", d.parent_path() / "classes.txt"}) {
    if (!fs::is_regular_file(candidate)) continue;
    auto order = read_classes_txt(candidate);
    std::vector<std::string> ordered;
    for (const auto &name : order)
      if (std::find(found.begin(), found.end(), name) != found.end()) ordered.push_back(name);
    for (const auto &name : found)
      if (std::find(ordered.begin(), ordered.end(), name) == ordered.end()) {
        const std::string what = "class folder '" + (d / name).string() + "' is not listed in '" + candidate.string() + "'";
        const std::string fix = "add '" + name + "' to " + candidate.string() + " or delete that file to use sorted folder names";
        if (!problems) fail(what, fix);
        problems->push_back(what + "\n  fix: " + fix);
        ordered.push_back(name);  // kept (after the listed ones) so its images are still checked
      }
    return ordered;
  }
  return found;
}

Split load_split(const std::string &dir, const LoadOptions &opt) {
  Split split;
  split.dir = dir;
  split.height = opt.input_height();
  split.width = opt.input_width();
  split.channels = opt.channels;
  split.size = split.height;
  if (split.height <= 0 || split.width <= 0 || split.height > 4096 || split.width > 4096)
    fail("model input size " + std::to_string(split.height) + "x" + std::to_string(split.width) + " is out of range",
         "use a height and width from 1 to 4096 pixels");
  if (split.channels != 1 && split.channels != 3)
    fail("model input with " + std::to_string(split.channels) + " channels",
         "qparity feeds images as 1 channel (luma) or 3 channels (RGB)");
  const auto own = split_classes(dir, opt.collect_problems ? &split.problems : nullptr);
  split.classes = opt.classes.empty() ? own : opt.classes;
  const std::string split_name = fs::path(dir).lexically_normal().filename().string().empty()
                                     ? fs::path(dir).lexically_normal().parent_path().filename().string()
                                     : fs::path(dir).lexically_normal().filename().string();
  // A problem stops the load, or (collect_problems) is recorded and the load goes on without it.
  auto problem = [&](const std::string &what, const std::string &fix) {
    if (!opt.collect_problems) fail(what, fix);
    split.problems.push_back(what + (fix.empty() ? "" : "\n  fix: " + fix));
  };

  // 1. List files in a stable order: class order, then sorted file names.
  for (const auto &cls : own) {
    const auto it = std::find(split.classes.begin(), split.classes.end(), cls);
    if (it == split.classes.end()) {
      problem(
          "class folder '" + (fs::path(dir) / cls).string() + "' is not a class of the model (classes: " +
              [&] {
                std::string s;
                for (auto &c : split.classes) s += (s.empty() ? "" : ", ") + c;
                return s;
              }() +
              ")",
          "rename or remove that folder, or evaluate a model trained on these classes");
      continue;
    }
    const int label = static_cast<int>(it - split.classes.begin());
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(fs::path(dir) / cls)) {
      if (is_hidden(e.path())) continue;
      if (e.is_directory()) {
        problem("'" + e.path().string() + "' is a folder inside a class folder",
                "class folders hold images only; move the images up or remove the folder");
        continue;
      }
      files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty())
      problem("class folder '" + (fs::path(dir) / cls).string() + "' is empty",
              "add images of class '" + cls + "' or remove the empty folder");
    for (const auto &f : files) {
      if (!has_image_extension(f)) {
        if (opt.skip_bad) {
          split.skipped.push_back(f.string() + ": not an image file (.png, .jpg, .jpeg, .bmp or .webp)");
          continue;
        }
        problem("'" + f.string() + "' is not an image file (expected .png, .jpg, .jpeg, .bmp or .webp)",
                "move it out of the dataset folder, or pass --skip-bad to skip such files");
        continue;
      }
      split.samples.push_back(Sample{f.string(), label, split_name, "", ""});
    }
  }

  // 2. Decode, hash and resize in parallel; each worker writes only its own slots.
  const size_t n = split.samples.size();
  const size_t img_bytes = split.image_bytes();
  split.pixels.assign(n * img_bytes, 0);
  std::vector<std::string> errors(n);
  parallel_for(n, opt.threads, [&](size_t i) {
    try {
      const auto bytes = read_file_bytes(split.samples[i].path);
      split.samples[i].sha256 = sha256_hex(bytes.data(), bytes.size());
      const Image full = decode_image(bytes, split.samples[i].path);
      if (opt.hash_pixels) {
        std::vector<uint8_t> px = {static_cast<uint8_t>(full.width >> 24), static_cast<uint8_t>(full.width >> 16),
                                   static_cast<uint8_t>(full.width >> 8), static_cast<uint8_t>(full.width),
                                   static_cast<uint8_t>(full.height >> 24), static_cast<uint8_t>(full.height >> 16),
                                   static_cast<uint8_t>(full.height >> 8), static_cast<uint8_t>(full.height)};
        px.insert(px.end(), full.pixels.begin(), full.pixels.end());
        split.samples[i].pixels_sha256 = sha256_hex(px.data(), px.size());
      }
      const Image img = prepare_input(full, split.height, split.width, split.channels, opt.crop_square);
      std::copy(img.pixels.begin(), img.pixels.end(), split.pixels.begin() + static_cast<std::ptrdiff_t>(i * img_bytes));
    } catch (const Error &e) {
      errors[i] = e.what();
    }
  });

  // 3. Report the first failure, or drop the bad samples when skipping (or collecting problems).
  std::vector<Sample> kept;
  std::vector<uint8_t> kept_px;
  bool any_bad = false;
  for (size_t i = 0; i < n; ++i) {
    if (errors[i].empty()) continue;
    if (!opt.skip_bad && !opt.collect_problems) throw Error(errors[i]);
    any_bad = true;
  }
  if (any_bad) {
    kept_px.reserve(split.pixels.size());
    for (size_t i = 0; i < n; ++i) {
      if (!errors[i].empty()) {
        if (opt.skip_bad)
          split.skipped.push_back(split.samples[i].path + ": " + errors[i].substr(0, errors[i].find('\n')));
        else
          split.problems.push_back(errors[i]);
        continue;
      }
      kept.push_back(split.samples[i]);
      kept_px.insert(kept_px.end(), split.image(i), split.image(i) + img_bytes);
    }
    split.samples = std::move(kept);
    split.pixels = std::move(kept_px);
  }
  if (split.samples.empty())
    problem("no usable images in '" + dir + "'" +
                (split.skipped.empty() ? "" : " (" + std::to_string(split.skipped.size()) + " skipped as bad)"),
            "add PNG, JPEG, BMP or WebP images to the class folders");
  return split;
}

void check_train_test_classes(const std::string &root) {
  const fs::path train = fs::path(root) / "train", test = fs::path(root) / "test";
  if (!fs::is_directory(train))
    fail("'" + root + "' has no train/ folder",
         "a training dataset is ROOT/train/<class>/*.png (and optionally ROOT/test/...); create one with 'qparity data synth "
         "--out " +
             root + "'");
  if (!fs::is_directory(test)) return;
  const auto tr = split_classes(train.string()), te = split_classes(test.string());
  for (const auto &c : te)
    if (std::find(tr.begin(), tr.end(), c) == tr.end())
      fail("class '" + c + "' is in '" + test.string() + "' but not in '" + train.string() + "'",
           "add training images for '" + c + "' or remove it from the test split");
}

std::vector<DuplicateGroup> find_duplicates(const std::vector<Split> &splits) {
  // Group by content hash; groups come out in the order of their first member.
  std::map<std::string, size_t> group_of;
  std::vector<std::vector<std::pair<size_t, size_t>>> groups;
  for (size_t s = 0; s < splits.size(); ++s)
    for (size_t i = 0; i < splits[s].samples.size(); ++i) {
      const Sample &smp = splits[s].samples[i];
      const std::string key = smp.pixels_sha256.empty() ? "file:" + smp.sha256 : "pixels:" + smp.pixels_sha256;
      const auto [it, fresh] = group_of.emplace(key, groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].emplace_back(s, i);
    }
  std::vector<DuplicateGroup> out;
  for (auto &members : groups) {
    if (members.size() < 2) continue;
    DuplicateGroup g;
    g.members = std::move(members);
    for (const auto &[s, i] : g.members) {
      const auto &[s0, i0] = g.members.front();
      g.across_splits = g.across_splits || s != s0;
      // Labels compare by class name: two splits may order their classes differently.
      const std::string &name = splits[s].classes[static_cast<size_t>(splits[s].samples[i].label)];
      g.labels_differ = g.labels_differ || name != splits[s0].classes[static_cast<size_t>(splits[s0].samples[i0].label)];
    }
    out.push_back(std::move(g));
  }
  return out;
}

ClassBalance class_balance(const Split &split) {
  ClassBalance b;
  b.counts.assign(split.classes.size(), 0);
  for (const auto &smp : split.samples) ++b.counts[static_cast<size_t>(smp.label)];
  bool any = false;
  for (size_t c = 0; c < b.counts.size(); ++c) {
    if (b.counts[c] == 0) {
      b.empty.push_back(c);
      continue;
    }
    if (!any || b.counts[c] > b.counts[b.largest]) b.largest = c;
    if (!any || b.counts[c] <= b.counts[b.smallest]) b.smallest = c;  // ties: the last, so it differs from largest
    any = true;
  }
  if (any) b.ratio = static_cast<double>(b.counts[b.largest]) / static_cast<double>(b.counts[b.smallest]);
  return b;
}

void write_manifest(const std::string &path, const std::vector<const Split *> &splits, const nlohmann::ordered_json &extra) {
  nlohmann::ordered_json j;
  j["format"] = "qparity-manifest-1";
  for (const auto &[key, value] : extra.items()) j[key] = value;
  j["classes"] = splits.empty() ? std::vector<std::string>{} : splits.front()->classes;
  auto &images = j["images"] = nlohmann::json::array();
  for (const Split *s : splits)
    for (const auto &smp : s->samples)
      images.push_back({{"path", smp.path},
                        {"label", smp.label},
                        {"class", s->classes[static_cast<size_t>(smp.label)]},
                        {"split", smp.split},
                        {"sha256", smp.sha256}});
  const std::string text = j.dump(1) + "\n";
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace qp::data
