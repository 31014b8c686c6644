#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>  // before jpeglib.h
#include <cstring>
#include <functional>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

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


// ---- decoding untrusted files: each format through its own library's encoder, the limits, the regressions ----

namespace {

using Bytes = std::vector<uint8_t>;

// Decodes and expects a qp::Error whose text holds every one of `parts`.
void expect_refused(const Bytes &bytes, const std::string &name, const std::vector<std::string> &parts) {
  try {
    const Image img = data::decode_image(bytes, name);
    FAIL() << name << ": expected an error, got a " << img.width << "x" << img.height << " image";
  } catch (const Error &e) {
    for (const auto &p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

// A smooth colour image (JPEG and lossy WebP keep it within a few levels).
Image gradient(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t *p = &img.pixels[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(20 + 200 * x / w);
      p[1] = static_cast<uint8_t>(30 + 180 * y / h);
      p[2] = static_cast<uint8_t>(90 + 60 * (x + y) / (w + h));
    }
  return img;
}

int max_abs_diff(const Image &a, const Image &b) {
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

// ---- PNG through libpng's writer: any bit depth, colour type and interlacing ----

struct PngSpec {
  int width, height, depth, color;
  bool interlaced = false;
  std::vector<png_color> palette;
  Bytes trns;  // palette alpha
};

// `samples` is row-major, one value per channel per pixel (16-bit values for depth 16).
Bytes png_bytes(const PngSpec &s, const std::vector<unsigned> &samples) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep d, size_t n) {
        auto *v = static_cast<Bytes *>(png_get_io_ptr(p));
        v->insert(v->end(), d, d + n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(s.width), static_cast<png_uint_32>(s.height), s.depth, s.color,
               s.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) png_set_PLTE(png, info, s.palette.data(), static_cast<int>(s.palette.size()));
  if (!s.trns.empty()) png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  png_write_info(png, info);
  const int channels = png_get_channels(png, info);
  const size_t per_row = static_cast<size_t>(s.width) * channels;
  std::vector<Bytes> rows(static_cast<size_t>(s.height), Bytes(png_get_rowbytes(png, info), 0));
  for (int y = 0; y < s.height; ++y)
    for (size_t i = 0; i < per_row; ++i) {
      const unsigned v = samples[static_cast<size_t>(y) * per_row + i];
      Bytes &r = rows[static_cast<size_t>(y)];
      if (s.depth == 16) {
        r[2 * i] = static_cast<uint8_t>(v >> 8);
        r[2 * i + 1] = static_cast<uint8_t>(v);
      } else {  // depth <= 8: pack from the most significant bit
        const size_t bit = i * static_cast<size_t>(s.depth);
        r[bit / 8] = static_cast<uint8_t>(r[bit / 8] | v << (8 - s.depth - bit % 8));
      }
    }
  std::vector<png_bytep> ptrs;
  for (auto &r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void put_be32(Bytes &b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

void png_chunk(Bytes &b, const char *type, const Bytes &payload) {
  put_be32(b, static_cast<uint32_t>(payload.size()));
  const size_t start = b.size();
  b.insert(b.end(), type, type + 4);
  b.insert(b.end(), payload.begin(), payload.end());
  put_be32(b, crc32_of(&b[start], b.size() - start));
}

// A PNG whose IHDR (valid CRC) claims width x height, followed by a small IDAT: nothing that describes that many
// pixels, so only a header check stands between the claim and the allocation.
Bytes lying_png(uint32_t width, uint32_t height) {
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  png_chunk(b, "IHDR", ihdr);
  png_chunk(b, "IDAT", Bytes(16, 0));
  png_chunk(b, "IEND", {});
  return b;
}

// ---- JPEG through libjpeg-turbo's encoder ----

Bytes jpeg_bytes(int w, int h, int components, J_COLOR_SPACE space, const Bytes &samples, int quality = 95,
                 bool progressive = false) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = components;
  c.in_color_space = space;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t *>(&samples[static_cast<size_t>(c.next_scanline) * w * components]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  Bytes out(mem, mem + size);
  jpeg_destroy_compress(&c);
  std::free(mem);
  return out;
}

// ---- BMP built by hand (the format is a fixed header and rows) ----

void put_le(Bytes &b, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A BITMAPINFOHEADER BMP; `rows` are the stored rows in file order, already padded; `extra` goes between the
// header and the pixels (palette or bit masks).
Bytes bmp_bytes(int32_t w, int32_t h, int bpp, uint32_t compression, const Bytes &extra, const Bytes &rows,
                uint32_t colours = 0) {
  Bytes b = {'B', 'M'};
  put_le(b, static_cast<uint32_t>(54 + extra.size() + rows.size()), 4);
  put_le(b, 0, 4);
  put_le(b, static_cast<uint32_t>(54 + extra.size()), 4);
  put_le(b, 40, 4);
  put_le(b, static_cast<uint32_t>(w), 4);
  put_le(b, static_cast<uint32_t>(h), 4);
  put_le(b, 1, 2);
  put_le(b, static_cast<uint32_t>(bpp), 2);
  put_le(b, compression, 4);
  put_le(b, static_cast<uint32_t>(rows.size()), 4);
  put_le(b, 2835, 4);
  put_le(b, 2835, 4);
  put_le(b, colours, 4);
  put_le(b, 0, 4);
  b.insert(b.end(), extra.begin(), extra.end());
  b.insert(b.end(), rows.begin(), rows.end());
  return b;
}

// A 24-bit (or 32-bit BGRX) BMP of `img`, bottom-up unless top_down.
Bytes bmp_of(const Image &img, int bpp, bool top_down, uint32_t compression = 0, const Bytes &extra = {}) {
  const size_t stride = (static_cast<size_t>(img.width) * bpp / 8 + 3) / 4 * 4;
  Bytes rows;
  for (int r = 0; r < img.height; ++r) {
    const int y = top_down ? r : img.height - 1 - r;
    Bytes row;
    for (int x = 0; x < img.width; ++x) {
      row.insert(row.end(), {img.at(x, y, 2), img.at(x, y, 1), img.at(x, y, 0)});
      if (bpp == 32) row.push_back(0x5A);
    }
    row.resize(stride, 0);
    rows.insert(rows.end(), row.begin(), row.end());
  }
  return bmp_bytes(img.width, top_down ? -img.height : img.height, bpp, compression, extra, rows);
}

// Every strict prefix of `full` (stepping so each format takes well under a second) must be refused.
void expect_every_prefix_refused(const Bytes &full, const std::string &name) {
  const size_t step = std::max<size_t>(1, full.size() / 300);
  for (size_t n = 1; n < full.size(); n += (n + step < full.size() ? step : 1)) {
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(data::decode_image(cut, name), Error) << name << " cut to " << n << " of " << full.size() << " bytes";
  }
}

}  // namespace

TEST(DecodePng, GrayPaletteSixteenBitAlphaAndInterlacedToRgb) {
  const int w = 13, h = 7;  // odd sizes: every Adam7 pass and partial packed bytes are exercised
  std::vector<unsigned> gray, rgb16, rgba, idx, gray2;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      gray.push_back(static_cast<unsigned>((x * 19 + y * 31) % 256));
      for (int c = 0; c < 3; ++c) rgb16.push_back(static_cast<unsigned>((x * 4099 + y * 257 + c * 9001) % 65536));
      for (int c = 0; c < 4; ++c) rgba.push_back(static_cast<unsigned>((x * 7 + y * 11 + c * 50) % 256));
      idx.push_back(static_cast<unsigned>((x + y) % 3));
      gray2.push_back(static_cast<unsigned>((x + 2 * y) % 4));
    }
  const std::vector<png_color> pal = {{255, 0, 0}, {0, 128, 0}, {10, 20, 30}};
  for (bool interlaced : {false, true}) {
    SCOPED_TRACE(interlaced ? "interlaced" : "not interlaced");
    const Image g = data::decode_image(png_bytes({w, h, 8, PNG_COLOR_TYPE_GRAY, interlaced, {}, {}}, gray), "g.png");
    const Image c16 = data::decode_image(png_bytes({w, h, 16, PNG_COLOR_TYPE_RGB, interlaced, {}, {}}, rgb16), "c16.png");
    const Image a = data::decode_image(png_bytes({w, h, 8, PNG_COLOR_TYPE_RGBA, interlaced, {}, {}}, rgba), "a.png");
    const Image p = data::decode_image(png_bytes({w, h, 2, PNG_COLOR_TYPE_PALETTE, interlaced, pal, {0, 255}}, idx), "p.png");
    const Image g2 = data::decode_image(png_bytes({w, h, 2, PNG_COLOR_TYPE_GRAY, interlaced, {}, {}}, gray2), "g2.png");
    for (const Image *img : {&g, &c16, &a, &p, &g2}) {
      ASSERT_EQ(img->width, w);
      ASSERT_EQ(img->height, h);
      ASSERT_EQ(img->channels, 3);
    }
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const size_t i = static_cast<size_t>(y) * w + x;
        const unsigned p_idx = idx[i];
        for (int c = 0; c < 3; ++c) {
          EXPECT_EQ(g.at(x, y, c), gray[i]);
          EXPECT_EQ(c16.at(x, y, c), rgb16[i * 3 + c] >> 8);  // the high byte, as before
          EXPECT_EQ(a.at(x, y, c), rgba[i * 4 + c]);          // alpha dropped, colour kept
          const uint8_t pc[3] = {pal[p_idx].red, pal[p_idx].green, pal[p_idx].blue};
          EXPECT_EQ(p.at(x, y, c), pc[c]);  // transparent palette entries keep their colour
          EXPECT_EQ(g2.at(x, y, c), gray2[i] * 85);
        }
      }
  }
}

TEST(DecodePng, HeaderClaiming100000x100000IsRefusedBeforeAllocation) {
  const auto t0 = std::chrono::steady_clock::now();
  expect_refused(lying_png(100000, 100000), "huge.png", {"huge.png", "100000x100000", "16384 pixels per side", "--skip-bad"});
  expect_refused(lying_png(8000, 6000), "big.png", {"big.png", "8000x6000", "40 megapixels"});
  expect_refused(lying_png(0x7FFFFFFF, 1), "wider.png", {"wider.png", "2147483647x1", "16384 pixels per side"});
  expect_refused(lying_png(16384, 1), "wide.png", {"wide.png", "not a readable PNG"});  // within limits: the IDAT is junk
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

TEST(DecodePng, CorruptDataIsAnError) {
  Bytes png = data::encode_png(test::random_image(16, 16, 7));
  png[png.size() / 2] ^= 0x55;  // inside IDAT: the chunk CRC no longer matches
  expect_refused(png, "flip.png", {"flip.png", "not a readable PNG"});
}

TEST(DecodeJpeg, RgbRoundTripWithinTolerance) {
  const Image img = gradient(48, 40);
  const Bytes jpg = jpeg_bytes(img.width, img.height, 3, JCS_RGB, img.pixels);
  const Image back = data::decode_image(jpg, "x.jpg");
  ASSERT_EQ(back.width, 48);
  ASSERT_EQ(back.height, 40);
  EXPECT_LE(max_abs_diff(back, img), 6);
  EXPECT_EQ(back.pixels, data::decode_image(jpg, "x.jpg").pixels);
  const Bytes prog = jpeg_bytes(img.width, img.height, 3, JCS_RGB, img.pixels, 95, true);
  EXPECT_LE(max_abs_diff(data::decode_image(prog, "p.jpg"), img), 6);
  expect_every_prefix_refused(prog, "p.jpg");
}

TEST(DecodeJpeg, GrayscaleBecomesRgb) {
  const Image img = gradient(24, 16);
  Bytes gray;
  for (size_t i = 0; i < img.pixels.size(); i += 3) gray.push_back(img.pixels[i]);
  const Image back = data::decode_image(jpeg_bytes(24, 16, 1, JCS_GRAYSCALE, gray), "gray.jpg");
  ASSERT_EQ(back.channels, 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) {
      EXPECT_EQ(back.at(x, y, 0), back.at(x, y, 1));
      EXPECT_EQ(back.at(x, y, 0), back.at(x, y, 2));
      EXPECT_LE(std::abs(back.at(x, y, 0) - img.at(x, y, 0)), 4);
    }
}

TEST(DecodeJpeg, AdobeCmykIsConvertedToRgb) {
  // libjpeg writes CMYK with an Adobe marker, so the values are Adobe's inverted ink (255 = none): C=R, M=G, Y=B
  // with K=255 is the colour itself, and K=0 (full black ink) is black.
  const Image img = gradient(16, 16);
  Bytes cmyk;
  for (size_t i = 0; i < img.pixels.size(); i += 3) cmyk.insert(cmyk.end(), {img.pixels[i], img.pixels[i + 1], img.pixels[i + 2], 255});
  const Image back = data::decode_image(jpeg_bytes(16, 16, 4, JCS_CMYK, cmyk), "cmyk.jpg");
  EXPECT_LE(max_abs_diff(back, img), 6);
  for (size_t i = 3; i < cmyk.size(); i += 4) cmyk[i] = 0;
  const Image black = data::decode_image(jpeg_bytes(16, 16, 4, JCS_CMYK, cmyk), "black.jpg");
  for (auto p : black.pixels) EXPECT_LE(p, 2);
}

// Issue 14: stb_image wrote past its 256-entry table for a Huffman table of more than 256 codes.
TEST(DecodeJpeg, HuffmanTableOfMoreThan256CodesIsACleanError) {
  Bytes b = {0xFF, 0xD8, 0xFF, 0xC4};
  const size_t codes = 16 * 17;  // 272 codes: 17 of each length
  put_be32(b, 0);                // placeholder, replaced by the 16-bit segment length below
  b.resize(b.size() - 4);
  const uint16_t len = static_cast<uint16_t>(2 + 1 + 16 + codes);
  b.insert(b.end(), {static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), 0x00});
  for (int i = 0; i < 16; ++i) b.push_back(17);
  for (size_t i = 0; i < codes; ++i) b.push_back(static_cast<uint8_t>(i));
  b.insert(b.end(), {0xFF, 0xD9});
  expect_refused(b, "evil.jpg", {"evil.jpg", "not a readable JPEG", "Huffman"});
}

TEST(DecodeWebp, LosslessExactLossyWithinToleranceAlphaDropped) {
  const Image img = test::random_image(21, 11, 9);
  uint8_t *out = nullptr;
  size_t n = WebPEncodeLosslessRGB(img.pixels.data(), img.width, img.height, img.width * 3, &out);
  ASSERT_GT(n, 0u);
  const Bytes lossless(out, out + n);
  WebPFree(out);
  EXPECT_EQ(data::decode_image(lossless, "x.webp").pixels, img.pixels);

  Bytes rgba;
  for (size_t i = 0; i < img.pixels.size(); i += 3) rgba.insert(rgba.end(), {img.pixels[i], img.pixels[i + 1], img.pixels[i + 2], 77});
  n = WebPEncodeLosslessRGBA(rgba.data(), img.width, img.height, img.width * 4, &out);
  const Bytes alpha(out, out + n);
  WebPFree(out);
  EXPECT_EQ(data::decode_image(alpha, "a.webp").pixels, img.pixels);

  const Image smooth = gradient(40, 32);
  n = WebPEncodeRGB(smooth.pixels.data(), smooth.width, smooth.height, smooth.width * 3, 95, &out);
  const Bytes lossy(out, out + n);
  WebPFree(out);
  const Image back = data::decode_image(lossy, "lossy.webp");
  ASSERT_EQ(back.width, 40);
  EXPECT_LE(max_abs_diff(back, smooth), 12);
}

TEST(DecodeBmp, DirectColourBottomUpTopDownAndBitFields) {
  const Image img = test::random_image(5, 3, 11);  // width 5: 24-bit rows need padding
  EXPECT_EQ(data::decode_image(bmp_of(img, 24, false), "a.bmp").pixels, img.pixels);
  EXPECT_EQ(data::decode_image(bmp_of(img, 24, true), "b.bmp").pixels, img.pixels);
  EXPECT_EQ(data::decode_image(bmp_of(img, 32, false), "c.bmp").pixels, img.pixels);
  Bytes masks;
  put_le(masks, 0x00FF0000u, 4);
  put_le(masks, 0x0000FF00u, 4);
  put_le(masks, 0x000000FFu, 4);
  EXPECT_EQ(data::decode_image(bmp_of(img, 32, true, 3, masks), "d.bmp").pixels, img.pixels);
  Bytes swapped;
  put_le(swapped, 0x000000FFu, 4);
  put_le(swapped, 0x0000FF00u, 4);
  put_le(swapped, 0x00FF0000u, 4);
  expect_refused(bmp_of(img, 32, true, 3, swapped), "e.bmp", {"e.bmp", "bit-field masks"});
}

TEST(DecodeBmp, PalettesOf8And1Bits) {
  // 8-bit: 3x2 image, 3 palette colours (BGRX entries), rows padded to 4 bytes, bottom-up.
  const Bytes pal8 = {1, 2, 3, 0, 40, 50, 60, 0, 200, 100, 0, 0};
  const Bytes rows8 = {2, 1, 0, 0, /* bottom row */ 0, 0, 1, 0};
  const Image p8 = data::decode_image(bmp_bytes(3, 2, 8, 0, pal8, rows8, 3), "p8.bmp");
  ASSERT_EQ(p8.width, 3);
  ASSERT_EQ(p8.height, 2);
  const std::vector<uint8_t> want8 = {3, 2, 1, 3, 2, 1, 60, 50, 40,    // top row: the second stored row, 0 0 1
                                      0, 100, 200, 60, 50, 40, 3, 2, 1};  // bottom row: the first stored row, 2 1 0
  EXPECT_EQ(p8.pixels, want8);
  // 1-bit: 10 pixels in one row, colours black/white by bit (most significant bit first).
  const Bytes pal1 = {0, 0, 0, 0, 255, 255, 255, 0};
  const Image p1 = data::decode_image(bmp_bytes(10, 1, 1, 0, pal1, {0b10110000, 0b01000000, 0, 0}), "p1.bmp");
  const int bits[10] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(p1.at(x, 0, 1), bits[x] * 255) << x;
  // An index past the palette is an error, not a read past it.
  expect_refused(bmp_bytes(3, 2, 8, 0, pal8, {2, 1, 3, 0, 0, 0, 1, 0}, 3), "p9.bmp", {"p9.bmp", "palette entry 3 of 3"});
}

TEST(DecodeBmp, UnsupportedKindsAreRefusedByName) {
  const Image img = test::random_image(4, 4, 12);
  expect_refused(bmp_bytes(4, 4, 8, 1, Bytes(1024, 0), {0, 0}), "rle.bmp", {"rle.bmp", "RLE", "--skip-bad"});
  expect_refused(bmp_bytes(4, 4, 16, 0, {}, Bytes(32, 0)), "16.bmp", {"16.bmp", "16 bits per pixel"});
  expect_refused(bmp_bytes(4, 4, 24, 4, {}, Bytes(48, 0)), "jpeg.bmp", {"jpeg.bmp", "compression type 4"});
  expect_refused(bmp_bytes(0, 4, 24, 0, {}, {}), "zero.bmp", {"zero.bmp", "0x4"});
  expect_refused(bmp_bytes(20000, 1, 24, 0, {}, {}), "wide.bmp", {"wide.bmp", "16384 pixels per side"});
  expect_refused(bmp_bytes(4, INT32_MIN, 24, 0, {}, {}), "min.bmp", {"min.bmp", "16384"});
  Bytes bad_header = bmp_of(img, 24, false);
  bad_header[14] = 99;
  expect_refused(bad_header, "hdr.bmp", {"hdr.bmp", "header size 99"});
}

TEST(DecodeTruncated, EveryFormatRefusesEveryPrefix) {
  const Image img = test::random_image(12, 9, 13);
  expect_every_prefix_refused(data::encode_png(img), "t.png");
  expect_every_prefix_refused(png_bytes({12, 9, 8, PNG_COLOR_TYPE_RGB, true, {}, {}},
                                        std::vector<unsigned>(img.pixels.begin(), img.pixels.end())),
                              "ti.png");
  expect_every_prefix_refused(jpeg_bytes(12, 9, 3, JCS_RGB, img.pixels), "t.jpg");
  uint8_t *out = nullptr;
  size_t n = WebPEncodeLosslessRGB(img.pixels.data(), img.width, img.height, img.width * 3, &out);
  const Bytes webp(out, out + n);
  WebPFree(out);
  n = WebPEncodeRGB(img.pixels.data(), img.width, img.height, img.width * 3, 80, &out);
  const Bytes lossy(out, out + n);
  WebPFree(out);
  expect_every_prefix_refused(webp, "t.webp");
  expect_every_prefix_refused(lossy, "tl.webp");
  const Image four = test::random_image(4, 3, 14);  // 12-byte rows: no padding, so every byte is pixels
  expect_every_prefix_refused(bmp_of(four, 24, false), "t.bmp");
}

TEST(DecodeByContent, TheNameDoesNotChooseTheDecoder) {
  const Image img = test::random_image(6, 5, 15);
  EXPECT_EQ(data::decode_image(data::encode_png(img), "really-a-png.jpg").pixels, img.pixels);
  EXPECT_EQ(data::decode_image(bmp_of(img, 24, false), "really-a-bmp.png").pixels, img.pixels);
}

// Issue 14: a 60-byte TGA claiming 12 megapixels cost stb_image 1.5 s and 230 MB; qparity does not read TGA.
TEST(DecodeByContent, TgaClaiming12MegapixelsIsRefusedInstantly) {
  Bytes tga(60, 0);
  tga[2] = 2;  // uncompressed true colour
  tga[12] = 4000 & 0xFF;
  tga[13] = 4000 >> 8;
  tga[14] = 3000 & 0xFF;
  tga[15] = 3000 >> 8;
  tga[16] = 24;
  const auto t0 = std::chrono::steady_clock::now();
  expect_refused(tga, "photos/big.tga", {"photos/big.tga", "not a readable image", "PNG, JPEG, BMP or WebP", "--skip-bad"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.1);
}

// Issue 14: a 2-byte "P6" file decoded to an empty image and failed later without naming the file.
TEST(DecodeByContent, OtherFormatsAreNamedAndRefused) {
  expect_refused({'P', '6'}, "tiny.ppm", {"tiny.ppm", "not a readable image", "PNM"});
  expect_refused({'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0}, "anim.png", {"anim.png", "GIF"});
  expect_refused({'I', 'I', '*', 0, 8, 0, 0, 0}, "scan.jpg", {"scan.jpg", "TIFF"});
  expect_refused({'B'}, "b.bmp", {"b.bmp", "not a readable image"});
  expect_refused({'B', 'M'}, "bm.bmp", {"bm.bmp", "not a readable BMP", "truncated"});
  expect_refused({0xFF, 0xD8, 0xFF}, "soi.jpg", {"soi.jpg", "not a readable JPEG"});
  expect_refused({'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P'}, "r.webp", {"r.webp", "not a readable WebP"});
}
