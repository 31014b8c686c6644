#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "common/error.h"
#include "common/sha256.h"
#include "data/image_folder.h"
#include "data/synth.h"
#include "test_util.h"

using namespace qp;
namespace fs = std::filesystem;

namespace {
std::map<std::string, std::string> tree_hashes(const fs::path &root) {
  std::map<std::string, std::string> h;
  for (const auto &e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() != "manifest.json")
      h[fs::relative(e.path(), root).string()] = sha256_file_hex(e.path().string());
  return h;
}
}  // namespace

TEST(SynthRender, PureFunctionOfItsInputs) {
  for (int cls = 0; cls < 3; ++cls) {
    const auto a = data::synth_render(cls, 1234), b = data::synth_render(cls, 1234);
    EXPECT_EQ(a.pixels, b.pixels);
    EXPECT_EQ(a.width, 32);
    EXPECT_NE(a.pixels, data::synth_render(cls, 1235).pixels);
  }
}

TEST(SynthRender, ImagesAreNotFlatAndClassesDiffer) {
  // Every image has real content (many distinct colours), and the three classes do not render alike
  // from the same seed.
  for (uint64_t s = 0; s < 30; ++s) {
    const auto img = data::synth_render(static_cast<int>(s % 3), s);
    std::set<uint32_t> colours;
    for (size_t i = 0; i < img.pixels.size(); i += 3)
      colours.insert((uint32_t(img.pixels[i]) << 16) | (uint32_t(img.pixels[i + 1]) << 8) | img.pixels[i + 2]);
    EXPECT_GT(colours.size(), 100u) << "seed " << s;
  }
  EXPECT_NE(data::synth_render(0, 9).pixels, data::synth_render(1, 9).pixels);
  EXPECT_NE(data::synth_render(1, 9).pixels, data::synth_render(2, 9).pixels);
}

TEST(SynthDataset, DeterministicBalancedAndSeeded) {
  test::TempDir t;
  data::SynthOptions o;
  o.train = 31;
  o.test = 14;
  o.seed = 7;
  o.out_dir = (t / "a").string();
  data::synth_dataset(o);
  o.out_dir = (t / "b").string();
  o.threads = 1;  // thread count must not change a byte
  data::synth_dataset(o);
  const auto a = tree_hashes(t / "a"), b = tree_hashes(t / "b");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 31u + 14u + 1u);  // images + classes.txt
  // Balanced: 31 = 11 + 10 + 10, 14 = 5 + 5 + 4.
  auto count = [&](const std::string &dir) {
    return std::distance(fs::directory_iterator(t / "a" / dir), fs::directory_iterator{});
  };
  EXPECT_EQ(count("train/rock"), 11);
  EXPECT_EQ(count("train/paper"), 10);
  EXPECT_EQ(count("train/scissors"), 10);
  EXPECT_EQ(count("test/rock"), 5);
  EXPECT_EQ(count("test/scissors"), 4);
  // The loader reads it back in the seed's class order.
  const auto split = data::load_split((t / "a/train").string(), {});
  EXPECT_EQ(split.classes, (std::vector<std::string>{"rock", "paper", "scissors"}));
  // Another seed gives other images.
  o.seed = 8;
  o.out_dir = (t / "c").string();
  data::synth_dataset(o);
  EXPECT_NE(tree_hashes(t / "c").at("train/rock/00000.png"), a.at("train/rock/00000.png"));
  // Train and test never share an image.
  EXPECT_NE(a.at("train/rock/00000.png"), a.at("test/rock/00000.png"));
}

TEST(SynthDataset, ReusesAnIdenticalSetAndProtectsUserFolders) {
  test::TempDir t;
  data::SynthOptions o;
  o.train = 6;
  o.test = 3;
  o.out_dir = (t / "d").string();
  EXPECT_FALSE(data::synth_dataset(o).reused);
  EXPECT_TRUE(data::synth_dataset(o).reused);
  o.seed = 99;  // different parameters: refuse without --force
  EXPECT_THROW(data::synth_dataset(o), Error);
  o.force = true;
  EXPECT_FALSE(data::synth_dataset(o).reused);
  fs::create_directories(t / "mine");
  std::ofstream(t / "mine/thesis.txt") << "precious";
  data::SynthOptions u;
  u.out_dir = (t / "mine").string();
  u.train = 6;
  u.test = 3;
  EXPECT_THROW(data::synth_dataset(u), Error);
  EXPECT_TRUE(fs::exists(t / "mine/thesis.txt"));
}
