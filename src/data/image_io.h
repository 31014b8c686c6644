// Images in memory (8-bit, interleaved HWC), decoding (image_decode.cpp: libpng, libjpeg-turbo, libwebp and a
// checked BMP reader), area-filter resizing and PNG encoding through stb_image_write (deterministic bytes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qp::data {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;             // 3 (RGB) as decoded; 1 (luma) after to_luma for 1-channel models
  std::vector<uint8_t> pixels;  // row-major, channels interleaved
  uint8_t at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// Input limits, checked from the header before any pixel memory is allocated: 16384 pixels per side and
// 40 megapixels (120 MB of RGB), far above what a model that sees a few dozen pixels per side needs.
constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = 40000000;

// Decodes PNG, JPEG, WebP or BMP bytes to 8-bit RGB (gray and palette expanded, 16-bit to 8, alpha dropped).
// The format comes from the content (magic bytes), not from `name`; anything else is refused. Throws qp::Error
// naming `name` when the bytes are not a complete, decodable image of a format qparity reads or exceed the
// limits above. A pure function of the bytes (no file I/O), so it can be fuzzed.
Image decode_image(const std::vector<uint8_t> &bytes, const std::string &name);

// Reads a file fully; throws qp::Error naming the path when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string &path);

// Largest centred square of the image.
Image center_crop_square(const Image &img);

// Largest centred region with the aspect ratio width:height (integer sizes: the crop's other side is
// rounded down; the odd pixel of a margin goes to the right/bottom). For width == height: center_crop_square.
Image center_crop_aspect(const Image &img, int width, int height);

// Luma of an RGB image as one channel, in integers: Y = (77 R + 150 G + 29 B + 128) >> 8 (BT.601 weights
// in 1/256 steps; they sum to 256, so a gray pixel R = G = B = v gives exactly v: grayscale files, which the
// decoder expands to RGB, come back unchanged). A 1-channel image is returned as is.
Image to_luma(const Image &img);

// Resizes with an exact area (box) filter: every output pixel is the coverage-weighted mean of the input
// pixels under it, so downsampling anti-aliases and a constant image stays constant.
Image resize_area(const Image &img, int width, int height);

// The standard model input preparation: optional centre crop to square, then area resize to size x size.
Image prepare_input(const Image &img, int size, bool crop_square);
// Any input size: optional centre crop to the aspect width:height, area resize to width x height (on RGB), then
// for channels == 1 the luma (to_luma); channels == 3 keeps RGB (grayscale files are already replicated).
Image prepare_input(const Image &img, int height, int width, int channels, bool crop);

// PNG bytes of an RGB image (deterministic: same pixels, same bytes).
std::vector<uint8_t> encode_png(const Image &img);
void write_png(const std::string &path, const Image &img);

// Writes bytes to `path` through a temporary file and a rename, so a reader never sees half a file.
void write_file_atomic(const std::string &path, const void *data, size_t size);

}  // namespace qp::data
