#include <gtest/gtest.h>

#include "common/error.h"
#include "data/image_io.h"
#include "test_util.h"

using namespace qp;
using data::Image;

TEST(ResizeArea, ConstantImageStaysConstant) {
  Image img = test::random_image(97, 61, 1);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = 200;
    img.pixels[i + 1] = 17;
    img.pixels[i + 2] = 99;
  }
  const Image out = data::resize_area(img, 32, 32);
  ASSERT_EQ(out.width, 32);
  ASSERT_EQ(out.height, 32);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) {
      ASSERT_EQ(out.at(x, y, 0), 200);
      ASSERT_EQ(out.at(x, y, 1), 17);
      ASSERT_EQ(out.at(x, y, 2), 99);
    }
}

TEST(ResizeArea, IntegerFactorIsTheBlockMean) {
  const Image img = test::random_image(64, 64, 2);
  const Image out = data::resize_area(img, 16, 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < 4; ++dy)
          for (int dx = 0; dx < 4; ++dx) sum += img.at(4 * x + dx, 4 * y + dy, c);
        const int expect = (sum + 8) / 16;  // the mean, rounded half up (weights 1/4 are exact in binary)
        ASSERT_EQ(out.at(x, y, c), expect) << x << "," << y;
      }
}

TEST(ResizeArea, FractionalFactorPreservesMean) {
  const Image img = test::random_image(45, 45, 3);
  const Image out = data::resize_area(img, 32, 32);
  double a = 0, b = 0;
  for (auto p : img.pixels) a += p;
  for (auto p : out.pixels) b += p;
  EXPECT_NEAR(a / img.pixels.size(), b / out.pixels.size(), 0.5);
}

TEST(CenterCrop, TakesTheMiddleSquare) {
  const Image img = test::random_image(40, 30, 4);
  const Image sq = data::center_crop_square(img);
  ASSERT_EQ(sq.width, 30);
  ASSERT_EQ(sq.height, 30);
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 30; ++x) ASSERT_EQ(sq.at(x, y, 1), img.at(x + 5, y, 1));
}

TEST(Png, RoundTripIsLosslessAndDeterministic) {
  const Image img = test::random_image(32, 32, 5);
  const auto png = data::encode_png(img);
  EXPECT_EQ(png, data::encode_png(img));
  const Image back = data::decode_image(png, "x.png");
  EXPECT_EQ(back.width, 32);
  EXPECT_EQ(back.pixels, img.pixels);
}

TEST(Decode, GarbageNamesTheFile) {
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  try {
    data::decode_image(junk, "photos/cat.png");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("photos/cat.png"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--skip-bad"), std::string::npos);
  }
  EXPECT_THROW(data::decode_image({}, "empty.png"), Error);
}
