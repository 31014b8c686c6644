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

TEST(ImageFolder, AnyInputSizeLumaAndReplicatedGray) {
  test::TempDir t;
  // A 96x96 colour PNG (no resize at 96x96) and a 96x96 grayscale PNG.
  const data::Image colour = test::random_image(96, 96, 7);
  put_png(t / "s/a/colour.png", 96, 96, 7);
  data::Image gray;
  gray.width = gray.height = 96;
  gray.channels = 1;
  gray.pixels.resize(96 * 96);
  for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = static_cast<uint8_t>(i * 7 % 256);
  fs::create_directories(t / "s/b");
  data::write_png((t / "s/b/gray.png").string(), gray);

  data::LoadOptions lo;
  lo.hash_pixels = true;
  lo.set_input(96, 96, 1);
  const auto luma = data::load_split((t / "s").string(), lo);
  ASSERT_EQ(luma.samples.size(), 2u);
  EXPECT_EQ(luma.height, 96);
  EXPECT_EQ(luma.width, 96);
  EXPECT_EQ(luma.channels, 1);
  EXPECT_EQ(luma.image_bytes(), 96u * 96u);
  ASSERT_EQ(luma.pixels.size(), 2u * 96 * 96);
  // A known pixel: (x = 10, y = 20) of the colour image, Y = (77 R + 150 G + 29 B + 128) >> 8.
  const int r = colour.at(10, 20, 0), g = colour.at(10, 20, 1), b = colour.at(10, 20, 2);
  EXPECT_EQ(luma.image(0)[20 * 96 + 10], (77 * r + 150 * g + 29 * b + 128) >> 8);
  // A grayscale file is read as is: its luma is its value.
  EXPECT_TRUE(std::equal(gray.pixels.begin(), gray.pixels.end(), luma.image(1)));

  lo.set_input(96, 96, 3);
  const auto rgb = data::load_split((t / "s").string(), lo);
  for (size_t i = 0; i < 96 * 96; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb.image(1)[3 * i + static_cast<size_t>(c)], gray.pixels[i]) << i;
  // Pixel hashes do not depend on the input size.
  EXPECT_FALSE(rgb.samples[0].pixels_sha256.empty());
  EXPECT_EQ(rgb.samples[0].pixels_sha256, luma.samples[0].pixels_sha256);

  lo.set_input(5, 4, 7);
  EXPECT_THROW(data::load_split((t / "s").string(), lo), Error);
}

TEST(ImageFolder, NonSquareInputCropsToItsAspect) {
  test::TempDir t;
  // 200x100 image whose columns 40..159 are white and the rest black: a 48x40 (W x H) input crops the
  // middle 120x100 (aspect 1.2), so every pixel is white; a centre square crop would keep only 100 columns
  // but still be white, so the left/right edge columns of a plain resize (no crop) show the difference.
  data::Image img;
  img.width = 200;
  img.height = 100;
  img.channels = 3;
  img.pixels.assign(200 * 100 * 3, 0);
  for (int y = 0; y < 100; ++y)
    for (int x = 40; x < 160; ++x)
      for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * 200 + x) * 3 + c] = 255;
  fs::create_directories(t / "s/a");
  data::write_png((t / "s/a/i.png").string(), img);
  data::LoadOptions lo;
  lo.set_input(40, 48, 3);
  const auto split = data::load_split((t / "s").string(), lo);
  ASSERT_EQ(split.pixels.size(), 40u * 48u * 3u);
  for (const uint8_t p : split.pixels) ASSERT_EQ(p, 255);
  lo.crop_square = false;
  const auto plain = data::load_split((t / "s").string(), lo);
  EXPECT_EQ(plain.image(0)[0], 0);  // the black left margin is kept without the crop

  const data::Image c = data::center_crop_aspect(img, 48, 40);
  EXPECT_EQ(c.width, 120);
  EXPECT_EQ(c.height, 100);
  const data::Image tall = data::center_crop_aspect(img, 1, 2);
  EXPECT_EQ(tall.width, 50);
  EXPECT_EQ(tall.height, 100);
  EXPECT_EQ(tall.at(0, 0, 0), 255);  // x0 = 75
}
