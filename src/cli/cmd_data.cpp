#include <algorithm>
#include <bit>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "common/error.h"
#include "data/image_folder.h"
#include "data/preview.h"
#include "data/synth.h"
#include "model/ir.h"

namespace fs = std::filesystem;

namespace qp::cli {

namespace {

struct CheckArgs {
  std::string dir, manifest;
  bool skip_bad = false;
};

// At most this many lines per kind of warning; the count says how many there are in all.
constexpr size_t kMaxWarningLines = 20;

// qparity data check: loads every split as training would, but goes on after a problem so that all of
// them are listed in one pass (exit 1 when there is any); then warns, without changing the exit code,
// about the same image in train and test, duplicates within a split, and class imbalance.
void check_dataset(const CheckArgs &chk) {
  std::vector<std::string> dirs;
  if (fs::is_directory(fs::path(chk.dir) / "train")) {
    for (const char *s : {"train", "test"})
      if (fs::is_directory(fs::path(chk.dir) / s)) dirs.push_back((fs::path(chk.dir) / s).string());
  } else {
    dirs.push_back(chk.dir);
  }
  std::vector<std::string> problems;
  std::vector<data::Split> splits;
  std::vector<std::string> classes;  // train's: test labels follow them
  for (const auto &d : dirs) {
    data::LoadOptions lo;
    lo.skip_bad = chk.skip_bad;
    lo.collect_problems = true;
    lo.hash_pixels = true;
    lo.classes = classes;
    try {
      if (!classes.empty()) {
        // A test class that train lacks is a problem of its own; the test split is still loaded.
        std::vector<std::string> listed_later;  // load_split reports classes.txt problems itself
        for (const auto &c : data::split_classes(d, &listed_later)) {
          if (std::find(classes.begin(), classes.end(), c) != classes.end()) continue;
          problems.push_back("class '" + c + "' is in '" + d + "' but not in '" + dirs.front() + "'\n  fix: add training images for '" +
                             c + "' or remove it from the test split");
          lo.classes.push_back(c);
        }
      }
      splits.push_back(data::load_split(d, lo));
    } catch (const Error &e) {
      problems.push_back(e.what());
      continue;
    }
    problems.insert(problems.end(), splits.back().problems.begin(), splits.back().problems.end());
    if (classes.empty()) classes = splits.back().classes;
  }

  size_t warnings = 0;
  auto warn = [&](const std::string &text) {
    ++warnings;
    std::printf("warning: %s\n", text.c_str());
  };
  for (const auto &s : splits) {
    const auto b = data::class_balance(s);
    std::printf("%s: %zu images", s.dir.c_str(), s.samples.size());
    for (size_t c = 0; c < b.counts.size(); ++c) std::printf("%s %s %d", c ? "," : ":", s.classes[c].c_str(), b.counts[c]);
    std::printf("\n");
    if (b.counts.size() - b.empty.size() >= 2)
      std::printf("  class balance: largest/smallest %.2f (%s %d, %s %d)\n", b.ratio, s.classes[b.largest].c_str(),
                  b.counts[b.largest], s.classes[b.smallest].c_str(), b.counts[b.smallest]);
    for (const auto &sk : s.skipped) std::printf("  skipped %s\n", sk.c_str());
    for (size_t c : b.empty)  // (an empty class folder is a problem, listed below)
      if (!fs::is_directory(fs::path(s.dir) / s.classes[c]))
        warn("'" + s.dir + "' has no images of class '" + s.classes[c] + "' (no such folder)");
    if (b.ratio > data::kImbalanceWarnRatio) {
      char text[512];
      std::snprintf(text, sizeof text,
                    "'%s' is imbalanced: class '%s' has %d images, '%s' only %d (%.1fx, above %.0fx)\n"
                    "  hint: a model tends to favour the large classes; add images of the small ones or thin out the large ones",
                    s.dir.c_str(), s.classes[b.largest].c_str(), b.counts[b.largest], s.classes[b.smallest].c_str(),
                    b.counts[b.smallest], b.ratio, data::kImbalanceWarnRatio);
      warn(text);
    }
  }
  const auto groups = data::find_duplicates(splits);
  for (const bool across : {true, false}) {
    size_t shown = 0, total = 0;
    for (const auto &g : groups) {
      if (g.across_splits != across) continue;
      ++total;
      if (shown == kMaxWarningLines) continue;
      ++shown;
      std::string files, labels;
      for (const auto &[si, i] : g.members) {
        const auto &smp = splits[si].samples[i];
        files += (files.empty() ? "" : ", ") + smp.path;
        const std::string &name = splits[si].classes[static_cast<size_t>(smp.label)];
        if (labels.find("'" + name + "'") == std::string::npos) labels += (labels.empty() ? "'" : ", '") + name + "'";
      }
      warn(std::string(across ? "the same image is in train and test (the test accuracy would count it as unseen): "
                              : "duplicate images in one split: ") +
           files + (g.labels_differ ? " (labelled " + labels + ")" : ""));
    }
    if (total > shown) {
      ++warnings;
      std::printf("warning: ... and %zu more %s\n", total - shown, across ? "images shared by train and test" : "duplicate groups");
    }
  }

  for (const auto &p : problems) std::printf("problem: %s\n", p.c_str());
  std::printf("%zu problem(s), %zu warning(s)\n", problems.size(), warnings);
  std::fflush(stdout);  // the list before the error message, also when both go to one pipe
  if (!problems.empty())
    fail("'" + chk.dir + "' has " + std::to_string(problems.size()) + " problem(s), listed above",
         "fix each one (or pass --skip-bad to skip unreadable and non-image files), then check again");
  if (!chk.manifest.empty()) {
    std::vector<const data::Split *> ptrs;
    for (const auto &s : splits) ptrs.push_back(&s);
    data::write_manifest(chk.manifest, ptrs);
    std::printf("wrote manifest %s\n", chk.manifest.c_str());
  }
}

}  // namespace

void add_data_commands(CLI::App &app) {
  auto *data = app.add_subcommand("data", "Datasets: the built-in synthetic set, previews, checks");
  data->require_subcommand(1);

  auto synth_opt = std::make_shared<data::SynthOptions>();
  auto *synth = data->add_subcommand("synth", "Render the built-in rock/paper/scissors dataset as an ImageFolder tree");
  synth->add_option("--out", synth_opt->out_dir, "Output folder (DIR/{train,test}/{rock,paper,scissors}/NNNNN.png)")->required();
  synth->add_option("--train", synth_opt->train, "Training images (balanced over the classes)")->capture_default_str();
  synth->add_option("--test", synth_opt->test, "Test images")->capture_default_str();
  synth->add_option("--seed", synth_opt->seed, "Random seed: same seed, same bytes")->capture_default_str();
  synth->add_option("--size", synth_opt->size, "Image side in pixels (e.g. 64 for --input 64x64x3)")->capture_default_str();
  synth->add_option("--threads", synth_opt->threads, "Worker threads (0 = all cores)")->capture_default_str();
  synth->add_flag("--force", synth_opt->force, "Replace an existing dataset with different parameters");
  synth->callback([synth_opt] {
    const auto s = data::synth_dataset(*synth_opt);
    if (s.reused)
      std::printf("dataset %s is up to date (%d train, %d test, seed %llu); nothing to do\n", synth_opt->out_dir.c_str(), s.train,
                  s.test, static_cast<unsigned long long>(synth_opt->seed));
    else
      std::printf("wrote %d train + %d test images to %s in %.2f s (seed %llu)\n", s.train, s.test, synth_opt->out_dir.c_str(),
                  s.seconds, static_cast<unsigned long long>(synth_opt->seed));
  });

  auto prev_opt = std::make_shared<data::PreviewOptions>();
  auto *prev = data->add_subcommand("preview", "Write a contact sheet (a grid of samples per class)");
  prev->add_option("dir", prev_opt->dir, "Dataset root or split folder")->required();
  prev->add_option("--out", prev_opt->out, "PNG to write")->required();
  prev->add_option("--per-class", prev_opt->per_class, "Samples per class (columns)")->capture_default_str();
  prev->add_option("--scale", prev_opt->scale, "Pixel scale of each sample")->capture_default_str();
  prev->callback([prev_opt] {
    const int rows = data::preview_write(*prev_opt);
    std::printf("wrote %s (%d classes x %d samples)\n", prev_opt->out.c_str(), rows, prev_opt->per_class);
  });

  auto chk = std::make_shared<CheckArgs>();
  auto *check = data->add_subcommand("check", "Load a dataset as training would, report problems, optionally write a manifest");
  check->add_option("dir", chk->dir, "Dataset root (with train/ and test/) or a split folder")->required();
  check->add_option("--manifest", chk->manifest, "Write a manifest JSON (path, label, split, sha256 of every image)");
  check->add_flag("--skip-bad", chk->skip_bad, "Skip and count unreadable images instead of failing");
  check->callback([chk] { check_dataset(*chk); });

  // The model inputs as raw tensors, for running a split through another runtime (tests/ort_check.js feeds
  // them to ONNX Runtime): the pixels exactly as qparity's FP32 executor reads them.
  struct TensorArgs {
    std::string dir, input = "32x32x3", out;
    bool force = false;
  };
  auto ta = std::make_shared<TensorArgs>();
  auto *tensors = data->add_subcommand(
      "tensors", "Write a split's model inputs as one raw float32 NCHW tensor (p/255) plus a JSON index of the images");
  tensors->add_option("dir", ta->dir, "Split folder (e.g. DATA/test)")->required();
  tensors->add_option("--input", ta->input, "Model input HxWxC the images are resized to")->capture_default_str();
  tensors->add_option("--out", ta->out, "Tensor file to write (little-endian float32 [N,C,H,W]); OUT.json lists the images")
      ->required();
  tensors->add_flag("--force", ta->force, "Overwrite --out if it exists");
  tensors->callback([ta] {
    const model::Shape in = model::parse_input_size(ta->input);
    if (!ta->force && (fs::exists(ta->out) || fs::exists(ta->out + ".json")))
      fail("'" + ta->out + "' (or its .json) already exists", "choose another --out, or pass --force to replace it");
    data::LoadOptions lo;
    lo.set_input(in.h, in.w, in.c);
    const data::Split split = data::load_split(ta->dir, lo);
    const size_t hw = static_cast<size_t>(in.h) * static_cast<size_t>(in.w), per = hw * static_cast<size_t>(in.c);
    std::vector<float> x(split.samples.size() * per);
    nlohmann::ordered_json index = {{"shape", {split.samples.size(), in.c, in.h, in.w}},
                                    {"classes", split.classes},
                                    {"images", nlohmann::ordered_json::array()}};
    for (size_t i = 0; i < split.samples.size(); ++i) {
      const uint8_t *p = split.image(i);
      for (size_t c = 0; c < static_cast<size_t>(in.c); ++c)
        for (size_t k = 0; k < hw; ++k)
          x[i * per + c * hw + k] = static_cast<float>(p[k * static_cast<size_t>(in.c) + c]) / 255.f;
      index["images"].push_back({{"file", split.samples[i].path}, {"label", split.samples[i].label}});
    }
    static_assert(std::endian::native == std::endian::little, "the tensor file is little-endian");
    data::write_file_atomic(ta->out, x.data(), x.size() * sizeof(float));
    const std::string text = index.dump(1) + "\n";
    data::write_file_atomic(ta->out + ".json", text.data(), text.size());
    std::printf("wrote %zu images as float32 [%zu,%d,%d,%d] to %s (index %s.json)\n", split.samples.size(), split.samples.size(),
                in.c, in.h, in.w, ta->out.c_str(), ta->out.c_str());
  });
}

}  // namespace qp::cli
