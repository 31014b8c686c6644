#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sha256.h"
#include "data/image_folder.h"
#include "test_util.h"

using namespace qp;
namespace fs = std::filesystem;

namespace {

void put_png(const fs::path &p, int w, int h, uint64_t seed) {
  fs::create_directories(p.parent_path());
  data::write_png(p.string(), test::random_image(w, h, seed));
}

void put_text(const fs::path &p, const std::string &text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Expects load_split(dir) to throw a qp::Error whose message contains every `needle`.
void expect_error(const std::string &dir, std::initializer_list<std::string> needles, data::LoadOptions opt = {}) {
  try {
    data::load_split(dir, opt);
    FAIL() << "expected an error for " << dir;
  } catch (const Error &e) {
    for (const auto &n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\nmissing: " << n;
  }
}

}  // namespace

TEST(ImageFolder, LoadsLabelsSortedAndResizes) {
  test::TempDir t;
  put_png(t / "s/zebra/a.png", 64, 48, 1);
  put_png(t / "s/apple/b.png", 20, 20, 2);
  put_png(t / "s/apple/c.PNG", 33, 90, 3);
  put_text(t / "s/apple/.DS_Store", "hidden files are ignored");
  const auto split = data::load_split((t / "s").string(), {});
  ASSERT_EQ(split.classes, (std::vector<std::string>{"apple", "zebra"}));
  ASSERT_EQ(split.samples.size(), 3u);
  EXPECT_EQ(split.samples[0].label, 0);
  EXPECT_EQ(split.samples[1].label, 0);
  EXPECT_EQ(split.samples[2].label, 1);
  EXPECT_EQ(split.samples[2].path, (t / "s/zebra/a.png").string());
  EXPECT_EQ(split.samples[0].sha256, sha256_file_hex((t / "s/apple/b.png").string()));
  EXPECT_EQ(split.pixels.size(), 3u * 32 * 32 * 3);
  EXPECT_EQ(split.samples[0].split, "s");
}

TEST(ImageFolder, ClassesTxtFixesTheOrder) {
  test::TempDir t;
  put_png(t / "d/test/rock/1.png", 8, 8, 1);
  put_png(t / "d/test/paper/1.png", 8, 8, 2);
  put_png(t / "d/test/scissors/1.png", 8, 8, 3);
  put_text(t / "d/classes.txt", "rock\npaper\nscissors\n");
  const auto split = data::load_split((t / "d/test").string(), {});
  EXPECT_EQ(split.classes, (std::vector<std::string>{"rock", "paper", "scissors"}));
  EXPECT_EQ(split.samples[0].path, (t / "d/test/rock/1.png").string());
  EXPECT_EQ(split.samples[0].label, 0);
  EXPECT_EQ(split.samples[0].split, "test");
}

TEST(ImageFolder, ModelClassesMapLabels) {
  test::TempDir t;
  put_png(t / "s/b/1.png", 8, 8, 1);
  data::LoadOptions opt;
  opt.classes = {"a", "b", "c"};
  const auto split = data::load_split((t / "s").string(), opt);
  EXPECT_EQ(split.samples[0].label, 1);
  opt.classes = {"x", "y"};
  expect_error((t / "s").string(), {"is not a class of the model", "x, y"}, opt);
}

TEST(ImageFolder, EachBadInputHasItsError) {
  test::TempDir t;
  expect_error((t / "missing").string(), {"does not exist"});
  fs::create_directories(t / "noclasses");
  expect_error((t / "noclasses").string(), {"has no class subfolders"});
  put_png(t / "empty/a/1.png", 8, 8, 1);
  fs::create_directories(t / "empty/b");
  expect_error((t / "empty").string(), {"empty/b", "is empty"});
  put_png(t / "nonimage/a/1.png", 8, 8, 1);
  put_text(t / "nonimage/a/notes.txt", "hello");
  expect_error((t / "nonimage").string(), {"notes.txt", "is not an image file", "--skip-bad"});
  put_png(t / "corrupt/a/1.png", 8, 8, 1);
  put_text(t / "corrupt/a/2.png", "not really a png");
  expect_error((t / "corrupt").string(), {"corrupt/a/2.png", "not a readable"});
  put_png(t / "trunc/a/1.png", 8, 8, 1);
  {
    const auto png = data::encode_png(test::random_image(16, 16, 9));
    std::ofstream(t / "trunc/a/2.png", std::ios::binary)
        .write(reinterpret_cast<const char *>(png.data()), static_cast<std::streamsize>(png.size() / 2));
  }
  expect_error((t / "trunc").string(), {"trunc/a/2.png"});
  put_text(t / "allbad/a/1.png", "x");
  data::LoadOptions skip;
  skip.skip_bad = true;
  expect_error((t / "allbad").string(), {"no usable images", "1 skipped"}, skip);
}

TEST(ImageFolder, SkipBadSkipsAndCounts) {
  test::TempDir t;
  put_png(t / "s/a/1.png", 8, 8, 1);
  put_text(t / "s/a/2.png", "corrupt");
  put_text(t / "s/a/readme.txt", "not an image");
  put_png(t / "s/b/1.png", 8, 8, 2);
  data::LoadOptions opt;
  opt.skip_bad = true;
  const auto split = data::load_split((t / "s").string(), opt);
  EXPECT_EQ(split.samples.size(), 2u);
  EXPECT_EQ(split.skipped.size(), 2u);
  EXPECT_EQ(split.pixels.size(), 2u * 32 * 32 * 3);
  EXPECT_EQ(split.samples[1].label, 1);
}

TEST(ImageFolder, TestClassMustExistInTrain) {
  test::TempDir t;
  put_png(t / "d/train/a/1.png", 8, 8, 1);
  put_png(t / "d/test/a/1.png", 8, 8, 1);
  EXPECT_NO_THROW(data::check_train_test_classes((t / "d").string()));
  put_png(t / "d/test/z/1.png", 8, 8, 1);
  try {
    data::check_train_test_classes((t / "d").string());
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("class 'z' is in"), std::string::npos);
  }
  EXPECT_THROW(data::check_train_test_classes((t / "d/test").string()), Error);  // no train/
}

TEST(ImageFolder, ManifestRecordsEveryImage) {
  test::TempDir t;
  put_png(t / "d/train/a/1.png", 8, 8, 1);
  put_png(t / "d/train/b/1.png", 8, 8, 2);
  const auto split = data::load_split((t / "d/train").string(), {});
  data::write_manifest((t / "m.json").string(), {&split});
  std::ifstream in(t / "m.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["images"][1]["class"], "b");
  EXPECT_EQ(j["images"][1]["split"], "train");
  EXPECT_EQ(j["images"][1]["sha256"], sha256_file_hex((t / "d/train/b/1.png").string()));
}
