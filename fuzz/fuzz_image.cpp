// libFuzzer harness: image decoding (src/data/image_io, decode_image: every format qparity reads from a
// user's photo folder) and the preparation every decoded image goes through (centre crop, area resize).
// A decoded image must be RGB with exactly width * height * 3 bytes; anything undecodable must be a
// qp::Error that names the file.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "fuzz_util.h"

namespace {

void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  const std::vector<uint8_t> bytes(data, data + size);
  const std::string name = "fuzz/input.img";
  try {
    const qp::data::Image img = qp::data::decode_image(bytes, name);
    check(img.width > 0 && img.height > 0 && img.channels == 3, "decoded image is empty or not RGB");
    check(img.pixels.size() == static_cast<size_t>(img.width) * img.height * 3, "pixel buffer size differs from the image size");
    const qp::data::Image sq = qp::data::center_crop_square(img);
    check(sq.width == sq.height && sq.width == std::min(img.width, img.height), "centre crop is not the largest square");
    const int side = 1 + static_cast<int>(size % 40);
    const qp::data::Image a = qp::data::prepare_input(img, side, (size & 64) != 0);
    check(a.width == side && a.height == side && a.pixels.size() == static_cast<size_t>(side) * side * 3,
          "prepared input has the wrong size");
    const qp::data::Image b = qp::data::resize_area(img, 7, 3);
    check(b.width == 7 && b.height == 3 && b.pixels.size() == 7u * 3u * 3u, "resized image has the wrong size");
  } catch (const qp::Error &e) {
    check(std::string(e.what()).find(name) != std::string::npos, "the error message does not name the file");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "FINDING: %s escaped instead of qp::Error: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
