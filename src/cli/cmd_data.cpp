#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "common/error.h"
#include "data/image_folder.h"
#include "data/preview.h"
#include "data/synth.h"

namespace fs = std::filesystem;

namespace qp::cli {

void add_data_commands(CLI::App &app) {
  auto *data = app.add_subcommand("data", "Datasets: the built-in synthetic set, previews, checks");
  data->require_subcommand(1);

  auto synth_opt = std::make_shared<data::SynthOptions>();
  auto *synth = data->add_subcommand("synth", "Render the built-in rock/paper/scissors dataset as an ImageFolder tree");
  synth->add_option("--out", synth_opt->out_dir, "Output folder (DIR/{train,test}/{rock,paper,scissors}/NNNNN.png)")->required();
  synth->add_option("--train", synth_opt->train, "Training images (balanced over the classes)")->capture_default_str();
  synth->add_option("--test", synth_opt->test, "Test images")->capture_default_str();
  synth->add_option("--seed", synth_opt->seed, "Random seed: same seed, same bytes")->capture_default_str();
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

  struct CheckArgs {
    std::string dir, manifest;
    bool skip_bad = false;
    bool crop = true;
  };
  auto chk = std::make_shared<CheckArgs>();
  auto *check = data->add_subcommand("check", "Load a dataset as training would, report problems, optionally write a manifest");
  check->add_option("dir", chk->dir, "Dataset root (with train/ and test/) or a split folder")->required();
  check->add_option("--manifest", chk->manifest, "Write a manifest JSON (path, label, split, sha256 of every image)");
  check->add_flag("--skip-bad", chk->skip_bad, "Skip and count unreadable images instead of failing");
  check->callback([chk] {
    std::vector<std::string> dirs;
    if (fs::is_directory(fs::path(chk->dir) / "train")) {
      data::check_train_test_classes(chk->dir);
      for (const char *s : {"train", "test"})
        if (fs::is_directory(fs::path(chk->dir) / s)) dirs.push_back((fs::path(chk->dir) / s).string());
    } else {
      dirs.push_back(chk->dir);
    }
    std::vector<data::Split> splits;
    std::vector<std::string> classes;
    for (const auto &d : dirs) {
      data::LoadOptions lo;
      lo.skip_bad = chk->skip_bad;
      lo.classes = classes;  // test labels follow train's classes
      splits.push_back(data::load_split(d, lo));
      if (classes.empty()) classes = splits.back().classes;
    }
    for (const auto &s : splits) {
      std::vector<int> per(s.classes.size(), 0);
      for (const auto &smp : s.samples) ++per[static_cast<size_t>(smp.label)];
      std::printf("%s: %zu images", s.dir.c_str(), s.samples.size());
      for (size_t c = 0; c < per.size(); ++c) std::printf("%s %s %d", c ? "," : ":", s.classes[c].c_str(), per[c]);
      std::printf("\n");
      for (const auto &sk : s.skipped) std::printf("  skipped %s\n", sk.c_str());
    }
    if (!chk->manifest.empty()) {
      std::vector<const data::Split *> ptrs;
      for (const auto &s : splits) ptrs.push_back(&s);
      data::write_manifest(chk->manifest, ptrs);
      std::printf("wrote manifest %s\n", chk->manifest.c_str());
    }
  });
}

}  // namespace qp::cli
