#include "data/synth.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/parallel.h"
#include "common/rng.h"
#include "common/sha256.h"
#include "data/image_folder.h"

namespace fs = std::filesystem;

namespace qp::data {

// Bump when the renderer changes what it draws, so an old dataset on disk is not mistaken for a new one.
static constexpr int kSynthVersion = 1;

int synth_class_count(int n, int classes, int cls) {
  return n / classes + (cls < n % classes ? 1 : 0);
}

namespace {

nlohmann::ordered_json synth_params(const SynthOptions &opt) {
  return {{"generator", "qparity-synth"}, {"version", kSynthVersion}, {"seed", opt.seed},
          {"train", opt.train},           {"test", opt.test},         {"size", opt.size}};
}

bool existing_matches(const fs::path &manifest, const nlohmann::ordered_json &params) {
  if (!fs::is_regular_file(manifest)) return false;
  try {
    std::ifstream in(manifest);
    const auto j = nlohmann::ordered_json::parse(in);
    if (!j.contains("synth") || j["synth"] != params) return false;
    for (const auto &img : j["images"])
      if (!fs::is_regular_file(img["path"].get<std::string>())) return false;
    return true;
  } catch (const std::exception &) {
    return false;
  }
}

}  // namespace

SynthSummary synth_dataset(const SynthOptions &opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.out_dir.empty()) fail("no output folder given", "pass --out DIR");
  if (opt.size < 8 || opt.size > 256)
    fail("--size " + std::to_string(opt.size) + " is out of range", "pick an image side from 8 to 256 pixels (default 32)");
  if (opt.train < 3 || opt.test < 3)
    fail("--train and --test must each be at least 3 (one image per class)", "pass larger counts");
  const fs::path root(opt.out_dir);
  const auto params = synth_params(opt);
  SynthSummary summary{opt.train, opt.test, false, 0};
  if (existing_matches(root / "manifest.json", params)) {
    summary.reused = true;
    return summary;
  }
  // Never overwrite a user's folder without being asked.
  if (fs::exists(root) && !fs::is_empty(root) && !opt.force)
    fail("output folder '" + opt.out_dir + "' already exists and holds something other than this dataset",
         "choose another --out, or pass --force to replace its train/, test/, classes.txt and manifest.json");
  const auto &names = synth_class_names();
  const int k = static_cast<int>(names.size());

  struct Job {
    std::string path;
    int cls;
    uint64_t seed;
  };
  std::vector<Job> jobs;
  std::vector<Split> splits(2);
  const std::pair<const char *, int> split_sizes[2] = {{"train", opt.train}, {"test", opt.test}};
  for (int s = 0; s < 2; ++s) {
    const fs::path split_dir = root / split_sizes[s].first;
    if (fs::exists(split_dir)) fs::remove_all(split_dir);
    splits[static_cast<size_t>(s)].classes = names;
    for (int c = 0; c < k; ++c) {
      fs::create_directories(split_dir / names[static_cast<size_t>(c)]);
      const int count = synth_class_count(split_sizes[s].second, k, c);
      for (int i = 0; i < count; ++i) {
        char file[32];
        std::snprintf(file, sizeof file, "%05d.png", i);
        const std::string path = (split_dir / names[static_cast<size_t>(c)] / file).string();
        jobs.push_back({path, c, seed_mix(opt.seed, static_cast<uint64_t>(s * 16 + c), static_cast<uint64_t>(i))});
        splits[static_cast<size_t>(s)].samples.push_back(Sample{path, c, split_sizes[s].first, "", ""});
      }
    }
  }
  std::vector<std::string> hashes(jobs.size());
  std::vector<std::string> errors(jobs.size());
  parallel_for(jobs.size(), opt.threads, [&](size_t i) {
    try {
      const auto png = encode_png(synth_render(jobs[i].cls, jobs[i].seed, opt.size));
      hashes[i] = sha256_hex(png.data(), png.size());
      write_file_atomic(jobs[i].path, png.data(), png.size());
    } catch (const Error &e) {
      errors[i] = e.what();
    }
  });
  for (const auto &e : errors)
    if (!e.empty()) throw Error(e);

  size_t j = 0;
  for (auto &s : splits)
    for (auto &smp : s.samples) smp.sha256 = hashes[j++];
  {
    std::ofstream out(root / "classes.txt");
    for (const auto &n : names) out << n << "\n";
  }
  write_manifest((root / "manifest.json").string(), {&splits[0], &splits[1]}, {{"synth", params}});
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace qp::data
