// Reading files, cropping, resizing and PNG writing; decoding is in image_decode.cpp.
#include "data/image_io.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/error.h"

namespace qp::data {

std::vector<uint8_t> read_file_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '" + path + "'", "check that the file exists and is readable");
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Image center_crop_square(const Image &img) { return center_crop_aspect(img, 1, 1); }

Image center_crop_aspect(const Image &img, int width, int height) {
  if (width <= 0 || height <= 0) fail("internal: crop aspect " + std::to_string(width) + ":" + std::to_string(height));
  // The widest region of the target aspect that fits: full height when the image is wider than the target.
  int cw = img.width, ch = img.height;
  if (static_cast<int64_t>(img.width) * height >= static_cast<int64_t>(img.height) * width)
    cw = std::max(1, static_cast<int>(static_cast<int64_t>(img.height) * width / height));
  else
    ch = std::max(1, static_cast<int>(static_cast<int64_t>(img.width) * height / width));
  if (cw == img.width && ch == img.height) return img;
  const int x0 = (img.width - cw) / 2, y0 = (img.height - ch) / 2;
  Image out;
  out.width = cw;
  out.height = ch;
  out.channels = img.channels;
  out.pixels.resize(static_cast<size_t>(cw) * ch * img.channels);
  for (int y = 0; y < ch; ++y) {
    const uint8_t *src = &img.pixels[(static_cast<size_t>(y + y0) * img.width + x0) * img.channels];
    std::copy(src, src + static_cast<size_t>(cw) * img.channels, &out.pixels[static_cast<size_t>(y) * cw * img.channels]);
  }
  return out;
}

Image to_luma(const Image &img) {
  if (img.channels == 1) return img;
  if (img.channels != 3) fail("internal: to_luma of a " + std::to_string(img.channels) + "-channel image");
  Image out;
  out.width = img.width;
  out.height = img.height;
  out.channels = 1;
  const size_t n = static_cast<size_t>(img.width) * img.height;
  out.pixels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = img.pixels[3 * i], g = img.pixels[3 * i + 1], b = img.pixels[3 * i + 2];
    out.pixels[i] = static_cast<uint8_t>((77 * r + 150 * g + 29 * b + 128) >> 8);
  }
  return out;
}

namespace {

// For each output index along one axis: the input indices it covers and their weights (summing to 1).
struct Tap {
  int first;
  std::vector<double> weights;
};

std::vector<Tap> area_taps(int in, int out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double a = o * scale, b = (o + 1) * scale;
    int i0 = static_cast<int>(std::floor(a));
    int i1 = std::min(in, static_cast<int>(std::ceil(b)));
    Tap t{i0, {}};
    for (int i = i0; i < i1; ++i) {
      const double lo = std::max(a, static_cast<double>(i)), hi = std::min(b, static_cast<double>(i + 1));
      t.weights.push_back((hi - lo) / scale);
    }
    taps[static_cast<size_t>(o)] = std::move(t);
  }
  return taps;
}

}  // namespace

Image resize_area(const Image &img, int width, int height) {
  if (img.width <= 0 || img.height <= 0) fail("cannot resize an empty image");
  if (img.width == width && img.height == height) return img;
  const auto tx = area_taps(img.width, width), ty = area_taps(img.height, height);
  const int c = img.channels;
  // Horizontal pass into doubles, then vertical.
  std::vector<double> tmp(static_cast<size_t>(img.height) * width * c);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < width; ++x)
      for (int ch = 0; ch < c; ++ch) {
        double acc = 0;
        const Tap &t = tx[static_cast<size_t>(x)];
        for (size_t k = 0; k < t.weights.size(); ++k) acc += t.weights[k] * img.at(t.first + static_cast<int>(k), y, ch);
        tmp[(static_cast<size_t>(y) * width + x) * c + ch] = acc;
      }
  Image out;
  out.width = width;
  out.height = height;
  out.channels = c;
  out.pixels.resize(static_cast<size_t>(width) * height * c);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int ch = 0; ch < c; ++ch) {
        double acc = 0;
        const Tap &t = ty[static_cast<size_t>(y)];
        for (size_t k = 0; k < t.weights.size(); ++k)
          acc += t.weights[k] * tmp[(static_cast<size_t>(t.first + static_cast<int>(k)) * width + x) * c + ch];
        const long v = std::lround(acc);
        out.pixels[(static_cast<size_t>(y) * width + x) * c + ch] = static_cast<uint8_t>(std::clamp(v, 0L, 255L));
      }
  return out;
}

Image prepare_input(const Image &img, int size, bool crop_square) {
  return resize_area(crop_square ? center_crop_square(img) : img, size, size);
}

Image prepare_input(const Image &img, int height, int width, int channels, bool crop) {
  if (channels != 1 && channels != 3)
    fail("a model input with " + std::to_string(channels) + " channels", "qparity feeds images as 1 (luma) or 3 (RGB) channels");
  Image out = resize_area(crop ? center_crop_aspect(img, width, height) : img, width, height);
  return channels == 1 ? to_luma(out) : out;
}

std::vector<uint8_t> encode_png(const Image &img) {
  std::vector<uint8_t> out;
  auto sink = [](void *ctx, void *data, int size) {
    auto *v = static_cast<std::vector<uint8_t> *>(ctx);
    const auto *p = static_cast<const uint8_t *>(data);
    v->insert(v->end(), p, p + size);
  };
  if (!stbi_write_png_to_func(sink, &out, img.width, img.height, img.channels, img.pixels.data(), img.width * img.channels))
    fail("PNG encoding failed");
  return out;
}

void write_file_atomic(const std::string &path, const void *data, size_t size) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write '" + path + "'", "check that the folder exists and is writable");
    out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
    if (!out) fail("writing '" + path + "' failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot write '" + path + "': " + ec.message());
}

void write_png(const std::string &path, const Image &img) {
  const auto bytes = encode_png(img);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace qp::data
