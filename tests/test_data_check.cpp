// What `qparity data check` and the option checks of `qparity pipeline` rest on: loading a split that
// keeps going after a problem (every problem listed, not the first), content hashes of the decoded
// pixels, duplicate and train/test leak groups, class balance, and the --subset parser.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "data/image_folder.h"
#include "device/subset.h"
#include "pipeline/pipeline.h"
#include "test_util.h"

using namespace qp;
namespace fs = std::filesystem;

namespace {

void put_png(const fs::path &p, const data::Image &img) {
  fs::create_directories(p.parent_path());
  data::write_png(p.string(), img);
}

void put_bytes(const fs::path &p, const std::string &bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

// A 24-bit uncompressed BMP of `img` (bottom-up rows, BGR, rows padded to 4 bytes): the same pixels
// as a PNG of it, with entirely different file bytes.
void put_bmp(const fs::path &p, const data::Image &img) {
  const int row = (img.width * 3 + 3) / 4 * 4;
  const uint32_t data_bytes = static_cast<uint32_t>(row * img.height), file_bytes = 54 + data_bytes;
  std::string b(54, '\0');
  auto le = [&](size_t at, uint32_t v, int n) {
    for (int k = 0; k < n; ++k) b[at + static_cast<size_t>(k)] = static_cast<char>((v >> (8 * k)) & 0xff);
  };
  b[0] = 'B';
  b[1] = 'M';
  le(2, file_bytes, 4);
  le(10, 54, 4);
  le(14, 40, 4);
  le(18, static_cast<uint32_t>(img.width), 4);
  le(22, static_cast<uint32_t>(img.height), 4);
  le(26, 1, 2);
  le(28, 24, 2);
  le(34, data_bytes, 4);
  for (int y = img.height - 1; y >= 0; --y) {
    std::string r(static_cast<size_t>(row), '\0');
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) r[static_cast<size_t>(x * 3 + c)] = static_cast<char>(img.at(x, y, 2 - c));
    b += r;
  }
  put_bytes(p, b);
}

bool mentions(const std::vector<std::string> &lines, const std::string &needle) {
  for (const auto &l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

// Without collect_problems the first problem throws (the loaders of train/eval/quantize); with it,
// every problem is listed and the good images are still loaded.
TEST(DataCheck, CollectsEveryProblemInOnePass) {
  test::TempDir t;
  for (int i = 0; i < 3; ++i) put_png(t / ("s/cat/" + std::to_string(i) + ".png"), test::random_image(8, 8, 10 + i));
  for (int i = 0; i < 2; ++i) put_png(t / ("s/dog/" + std::to_string(i) + ".png"), test::random_image(8, 8, 20 + i));
  put_bytes(t / "s/cat/broken.png", "not a png");
  put_bytes(t / "s/dog/readme.txt", "notes");
  fs::create_directories(t / "s/dog/nested");
  fs::create_directories(t / "s/empty");
  put_bytes(t / "s/dog/z-broken.jpg", "nor a jpeg");

  EXPECT_THROW(data::load_split((t / "s").string(), {}), Error);
  data::LoadOptions lo;
  lo.collect_problems = true;
  const auto split = data::load_split((t / "s").string(), lo);
  EXPECT_EQ(split.problems.size(), 5u);
  EXPECT_TRUE(mentions(split.problems, "broken.png"));
  EXPECT_TRUE(mentions(split.problems, "readme.txt"));
  EXPECT_TRUE(mentions(split.problems, "nested' is a folder inside a class folder"));
  EXPECT_TRUE(mentions(split.problems, "class folder '" + (t / "s/empty").string() + "' is empty"));
  EXPECT_TRUE(mentions(split.problems, "z-broken.jpg"));
  EXPECT_EQ(split.samples.size(), 5u);  // the good images
  EXPECT_EQ(split.pixels.size(), 5u * 32 * 32 * 3);
  EXPECT_TRUE(split.skipped.empty());

  // --skip-bad turns unreadable and non-image files into skips; folder problems stay problems.
  lo.skip_bad = true;
  const auto skipping = data::load_split((t / "s").string(), lo);
  EXPECT_EQ(skipping.skipped.size(), 3u);
  EXPECT_EQ(skipping.problems.size(), 2u);
}

// A class folder missing from classes.txt is a problem, and its images are still checked.
TEST(DataCheck, ClassesTxtMismatchIsListedAndTheLoadGoesOn) {
  test::TempDir t;
  put_png(t / "s/a/0.png", test::random_image(8, 8, 1));
  put_bytes(t / "s/b/0.png", "bad");
  put_bytes(t / "s/classes.txt", "a\n");
  EXPECT_THROW(data::split_classes((t / "s").string()), Error);
  data::LoadOptions lo;
  lo.collect_problems = true;
  const auto split = data::load_split((t / "s").string(), lo);
  ASSERT_EQ(split.classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(mentions(split.problems, "is not listed in"));
  EXPECT_TRUE(mentions(split.problems, (t / "s/b/0.png").string()));
}

// The same picture as PNG and as BMP: different file hashes, one pixel hash; a leak across splits,
// a duplicate with conflicting labels within one.
TEST(DataCheck, DuplicatesByPixelsAcrossAndWithinSplits) {
  test::TempDir t;
  const auto same = test::random_image(12, 9, 77);
  put_png(t / "train/cat/same.png", same);
  put_png(t / "train/cat/other.png", test::random_image(12, 9, 78));
  put_png(t / "train/dog/copy.png", test::random_image(12, 9, 78));  // same bytes, other label
  put_png(t / "train/dog/dog.png", test::random_image(12, 9, 79));
  put_bmp(t / "test/cat/same.bmp", same);
  put_png(t / "test/dog/fresh.png", test::random_image(12, 9, 80));

  std::vector<data::Split> splits;
  data::LoadOptions lo;
  lo.hash_pixels = true;
  splits.push_back(data::load_split((t / "train").string(), lo));
  lo.classes = splits[0].classes;
  splits.push_back(data::load_split((t / "test").string(), lo));
  const auto &png = splits[0].samples[1], &bmp = splits[1].samples[0];
  ASSERT_EQ(fs::path(png.path).filename(), "same.png");
  ASSERT_EQ(fs::path(bmp.path).filename(), "same.bmp");
  EXPECT_NE(png.sha256, bmp.sha256);
  EXPECT_EQ(png.pixels_sha256, bmp.pixels_sha256);
  EXPECT_EQ(png.pixels_sha256.size(), 64u);

  const auto groups = data::find_duplicates(splits);
  ASSERT_EQ(groups.size(), 2u);
  // Groups come in the order of their first member: cat/other.png (index 0) before cat/same.png.
  EXPECT_FALSE(groups[0].across_splits);
  EXPECT_TRUE(groups[0].labels_differ);
  EXPECT_EQ(groups[0].members, (std::vector<std::pair<size_t, size_t>>{{0, 0}, {0, 2}}));
  EXPECT_TRUE(groups[1].across_splits);
  EXPECT_FALSE(groups[1].labels_differ);
  EXPECT_EQ(groups[1].members, (std::vector<std::pair<size_t, size_t>>{{0, 1}, {1, 0}}));

  // Without pixel hashes, only identical files group: the BMP copy is not found.
  for (auto &s : splits)
    for (auto &smp : s.samples) smp.pixels_sha256.clear();
  const auto by_bytes = data::find_duplicates(splits);
  ASSERT_EQ(by_bytes.size(), 1u);
  EXPECT_FALSE(by_bytes[0].across_splits);
}

TEST(DataCheck, ClassBalance) {
  data::Split s;
  s.classes = {"a", "b", "c", "d"};
  for (int label : {0, 0, 0, 0, 0, 0, 0, 1, 1, 3}) s.samples.push_back({"f", label, "train", "", ""});
  const auto b = data::class_balance(s);
  EXPECT_EQ(b.counts, (std::vector<int>{7, 2, 0, 1}));
  EXPECT_EQ(b.largest, 0u);
  EXPECT_EQ(b.smallest, 3u);
  EXPECT_DOUBLE_EQ(b.ratio, 7.0);
  EXPECT_EQ(b.empty, (std::vector<size_t>{2}));
  EXPECT_GT(b.ratio, data::kImbalanceWarnRatio);

  data::Split even;
  even.classes = {"a", "b"};
  for (int label : {0, 1, 0, 1}) even.samples.push_back({"f", label, "test", "", ""});
  EXPECT_DOUBLE_EQ(data::class_balance(even).ratio, 1.0);
}

TEST(DataCheck, SubsetSpec) {
  EXPECT_EQ(device::parse_subset("all"), 0u);
  EXPECT_EQ(device::parse_subset("50"), 50u);
  EXPECT_EQ(device::parse_subset("100000"), 100000u);  // above the split's size: the whole split
  for (const char *bad : {"0", "-3", "1.5", "ten", "", " 5", "+5", "5 ", "0x10", "ALL"}) {
    try {
      device::parse_subset(bad, 2);
      ADD_FAILURE() << "accepted --subset '" << bad << "'";
    } catch (const Error &e) {
      EXPECT_EQ(e.exit_code(), 2) << bad;
      EXPECT_NE(std::string(e.what()).find("--subset must be a positive count or 'all'"), std::string::npos);
    }
  }
}

// The pipeline's option checks run before anything is written: a bad option leaves no run folder.
TEST(DataCheck, PipelineOptionsCheckedBeforeAnything) {
  test::TempDir t;
  auto expect_usage = [&](pipeline::PipelineOptions o, const std::string &needle, int code = 2) {
    try {
      pipeline::check_options(o);
      ADD_FAILURE() << "accepted options; expected: " << needle;
    } catch (const Error &e) {
      EXPECT_EQ(e.exit_code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  pipeline::PipelineOptions ok;
  ok.synth = true;
  ok.out = (t / "run").string();
  EXPECT_NO_THROW(pipeline::check_options(ok));
  auto o = ok;
  o.subset = "0";
  expect_usage(o, "--subset must be");
  o = ok;
  o.device = "esp32";
  expect_usage(o, "--device must be none, qemu-rv32, qemu-xtensa");
  o = ok;
  o.device = (t / "ttyNOPE").string();
  expect_usage(o, "does not exist", 1);
  o = ok;
  o.target = "qemu-rv32";
  expect_usage(o, "--target must be an ESP-IDF board");
  o = ok;
  o.arch = "conv3x3(8) relu flatten dense(K) softmax frobnicate";
  expect_usage(o, "--arch: unknown architecture or layer token 'frobnicate'");
  o = ok;
  o.threads = -1;
  expect_usage(o, "--threads must not be negative");
  o = ok;
  o.out.clear();
  expect_usage(o, "--out is required");
  o = ok;
  o.data = t.str();
  expect_usage(o, "give exactly one of --synth");
  o = ok;
  o.fp32_model = (t / "missing.onnx").string();
  expect_usage(o, "--fp32 model", 1);
  EXPECT_FALSE(fs::exists(t / "run"));
}
