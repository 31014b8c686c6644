// decode_image: images from users' folders are untrusted files, so they go through decoders made for
// that: PNG through libpng, JPEG through libjpeg-turbo, WebP through libwebp (all maintained and fuzzed
// upstream), and BMP through the small checked reader below. The format is taken from the content (magic
// bytes), never from the file name; the size in the header is checked against kMaxImageSide and
// kMaxImagePixels before any pixel memory is allocated; every decoder writes RGB directly (gray and palette
// expanded, 16-bit reduced to the high byte, alpha dropped). A truncated or corrupt file is an error, never a
// partly decoded image. libpng and libjpeg report errors by longjmp: the functions that call them hold no C++
// objects between setjmp and the library call, and the error becomes a qp::Error only after they return.
// No file I/O here: decoding is a pure function of the bytes (the fuzzing harness calls it directly).
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses size_t and FILE without including them
#include <cstring>
#include <string_view>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>

#include "common/error.h"
#include "data/image_io.h"

namespace qp::data {

namespace {

using namespace std::literals;

const char *const kFix = "replace or remove the file, or pass --skip-bad to skip unreadable images";

[[noreturn]] void unreadable(const std::string &name, const std::string &format, const std::string &why) {
  fail("'" + name + "' is not a readable " + format + " image (" + why + ")", kFix);
}

// Refuses a header size outside the limits, before the caller allocates the pixels.
void check_size(const std::string &name, int64_t width, int64_t height) {
  const std::string dims = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0) unreadable(name, "image", "its header says " + dims + " pixels");
  const std::string fix = "downscale it (the model sees a few dozen pixels per side), remove it, or pass --skip-bad to skip it";
  if (width > kMaxImageSide || height > kMaxImageSide)
    fail("'" + name + "' is " + dims + " pixels, over qparity's limit of " + std::to_string(kMaxImageSide) +
             " pixels per side",
         fix);
  if (width * height > kMaxImagePixels)
    fail("'" + name + "' is " + dims + " pixels, over qparity's limit of " + std::to_string(kMaxImagePixels / 1000000) +
             " megapixels",
         fix);
}

Image rgb_image(int64_t width, int64_t height) {
  Image img;
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  return img;
}

// ---- PNG (libpng) ----

struct PngCtx {
  const uint8_t *data = nullptr;
  size_t size = 0, pos = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  char msg[200] = {};
  ~PngCtx() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto *ctx = static_cast<PngCtx *>(png_get_error_ptr(png));
  std::snprintf(ctx->msg, sizeof ctx->msg, "%s", msg != nullptr ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // ancillary problems: libpng skips the chunk

void png_on_read(png_structp png, png_bytep out, size_t n) {
  auto *ctx = static_cast<PngCtx *>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

// Reads the header and sets the transforms to 8-bit RGB. False (ctx.msg says why) on error.
bool png_begin(PngCtx &ctx, png_uint_32 &width, png_uint_32 &height) {
  ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  if (ctx.png == nullptr) return false;
  ctx.info = png_create_info_struct(ctx.png);
  if (ctx.info == nullptr) return false;
  if (setjmp(png_jmpbuf(ctx.png))) return false;
  png_set_read_fn(ctx.png, &ctx, png_on_read);
  // The header check is ours (check_size); these only bound what libpng itself may allocate for chunks.
  png_set_user_limits(ctx.png, 1000000, 1000000);
  png_set_chunk_cache_max(ctx.png, 1000);
  png_set_chunk_malloc_max(ctx.png, 8u << 20);
  png_read_info(ctx.png, ctx.info);
  int depth = 0, color = 0;
  png_get_IHDR(ctx.png, ctx.info, &width, &height, &depth, &color, nullptr, nullptr, nullptr);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(ctx.png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(ctx.png);
  if (depth == 16) png_set_strip_16(ctx.png);
  png_set_strip_alpha(ctx.png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(ctx.png);
  png_set_interlace_handling(ctx.png);
  png_read_update_info(ctx.png, ctx.info);
  if (png_get_channels(ctx.png, ctx.info) != 3 || png_get_bit_depth(ctx.png, ctx.info) != 8 ||
      png_get_rowbytes(ctx.png, ctx.info) != static_cast<size_t>(width) * 3) {
    std::snprintf(ctx.msg, sizeof ctx.msg, "unsupported pixel layout (bit depth %d, color type %d)", depth, color);
    return false;
  }
  return true;
}

// Decodes all rows (every interlace pass) and reads to IEND, so a truncated file fails.
bool png_rows(PngCtx &ctx, png_bytepp rows) {
  if (setjmp(png_jmpbuf(ctx.png))) return false;
  png_read_image(ctx.png, rows);
  png_read_end(ctx.png, nullptr);
  return true;
}

Image decode_png(const uint8_t *data, size_t size, const std::string &name) {
  // The IHDR is always first: check its size here too, so a width past libpng's own limits gets our message.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    const auto be32 = [&](size_t at) {
      return int64_t{data[at]} << 24 | int64_t{data[at + 1]} << 16 | int64_t{data[at + 2]} << 8 | int64_t{data[at + 3]};
    };
    check_size(name, be32(16), be32(20));
  }
  PngCtx ctx;
  ctx.data = data;
  ctx.size = size;
  png_uint_32 width = 0, height = 0;
  if (!png_begin(ctx, width, height)) unreadable(name, "PNG", ctx.msg[0] ? ctx.msg : "libpng could not start");
  check_size(name, width, height);
  Image img = rgb_image(width, height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = &img.pixels[static_cast<size_t>(y) * width * 3];
  if (!png_rows(ctx, rows.data())) unreadable(name, "PNG", ctx.msg);
  return img;
}

// ---- JPEG (libjpeg-turbo) ----

struct JpegErr {
  jpeg_error_mgr pub;  // first, so a j_common_ptr's err converts to JpegErr
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX + 64];
};

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
  auto *err = reinterpret_cast<JpegErr *>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->msg);
  std::longjmp(err->jump, 1);
}

// Warnings that mean the pixels are wrong or missing (a truncated or corrupt scan) are errors; the rest
// (extraneous bytes between markers, an unknown JFIF revision, a bad ICC marker) do not touch the pixels.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level != -1) return;
  switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION: jpeg_on_error(cinfo);
    default: return;
  }
}

// A progressive JPEG may have thousands of tiny scans, each a full pass over the coefficients: libjpeg-turbo's
// advice for untrusted input is to bound the scan count.
constexpr int kMaxJpegScans = 500;

void jpeg_on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxJpegScans) {
    auto *err = reinterpret_cast<JpegErr *>(cinfo->err);
    std::snprintf(err->msg, sizeof err->msg, "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(err->jump, 1);
  }
}

struct JpegCtx {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  jpeg_progress_mgr progress;
  bool created = false;
  bool cmyk = false;
  JpegCtx() {
    std::memset(&cinfo, 0, sizeof cinfo);
    std::memset(&progress, 0, sizeof progress);
    err.msg[0] = 0;
  }
  ~JpegCtx() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

bool jpeg_begin(JpegCtx &ctx, const uint8_t *data, size_t size) {
  ctx.cinfo.err = jpeg_std_error(&ctx.err.pub);
  ctx.err.pub.error_exit = jpeg_on_error;
  ctx.err.pub.emit_message = jpeg_on_message;
  if (setjmp(ctx.err.jump)) return false;
  jpeg_create_decompress(&ctx.cinfo);
  ctx.created = true;
  ctx.progress.progress_monitor = jpeg_on_progress;
  ctx.cinfo.progress = &ctx.progress;
  ctx.cinfo.mem->max_memory_to_use = 512L << 20;  // virtual arrays (progressive) beyond this fail, not swap
  jpeg_mem_src(&ctx.cinfo, data, static_cast<unsigned long>(size));
  if (jpeg_read_header(&ctx.cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(ctx.err.msg, sizeof ctx.err.msg, "it holds tables but no image");
    return false;
  }
  switch (ctx.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB: ctx.cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
      ctx.cinfo.out_color_space = JCS_CMYK;
      ctx.cmyk = true;
      break;
    default:
      std::snprintf(ctx.err.msg, sizeof ctx.err.msg, "unsupported colour space with %d components",
                    ctx.cinfo.num_components);
      return false;
  }
  return true;
}

// Decodes every scanline into `out` (RGB rows, or CMYK rows into `cmyk_row` converted one at a time) and reads
// to the end of the image, so a truncated file fails.
bool jpeg_rows(JpegCtx &ctx, uint8_t *out, uint8_t *cmyk_row) {
  if (setjmp(ctx.err.jump)) return false;
  jpeg_start_decompress(&ctx.cinfo);
  const JDIMENSION w = ctx.cinfo.output_width;
  const int comps = ctx.cmyk ? 4 : 3;
  if (ctx.cinfo.output_components != comps || w != ctx.cinfo.image_width || ctx.cinfo.output_height != ctx.cinfo.image_height) {
    std::snprintf(ctx.err.msg, sizeof ctx.err.msg, "unexpected output layout");
    return false;
  }
  // Adobe's CMYK JPEGs store inverted ink (255 = none); others store ink.
  const bool inverted = ctx.cinfo.saw_Adobe_marker;
  while (ctx.cinfo.output_scanline < ctx.cinfo.output_height) {
    uint8_t *dst = out + static_cast<size_t>(ctx.cinfo.output_scanline) * w * 3;
    JSAMPROW row = ctx.cmyk ? cmyk_row : dst;
    if (jpeg_read_scanlines(&ctx.cinfo, &row, 1) != 1) {
      std::snprintf(ctx.err.msg, sizeof ctx.err.msg, "no scanline returned");
      return false;
    }
    if (ctx.cmyk)
      for (JDIMENSION x = 0; x < w; ++x) {
        const uint8_t *s = cmyk_row + static_cast<size_t>(x) * 4;
        const unsigned k = inverted ? s[3] : 255u - s[3];
        for (int c = 0; c < 3; ++c) {
          const unsigned v = inverted ? s[c] : 255u - s[c];
          dst[x * 3 + static_cast<JDIMENSION>(c)] = static_cast<uint8_t>((v * k + 127) / 255);
        }
      }
  }
  jpeg_finish_decompress(&ctx.cinfo);
  return true;
}

Image decode_jpeg(const uint8_t *data, size_t size, const std::string &name) {
  JpegCtx ctx;
  if (!jpeg_begin(ctx, data, size)) unreadable(name, "JPEG", ctx.err.msg);
  check_size(name, ctx.cinfo.image_width, ctx.cinfo.image_height);
  Image img = rgb_image(ctx.cinfo.image_width, ctx.cinfo.image_height);
  std::vector<uint8_t> cmyk_row(ctx.cmyk ? static_cast<size_t>(img.width) * 4 : 0);
  if (!jpeg_rows(ctx, img.pixels.data(), cmyk_row.data())) unreadable(name, "JPEG", ctx.err.msg);
  return img;
}

// ---- WebP (libwebp) ----

Image decode_webp(const uint8_t *data, size_t size, const std::string &name) {
  WebPBitstreamFeatures f;
  const VP8StatusCode st = WebPGetFeatures(data, size, &f);
  if (st != VP8_STATUS_OK)
    unreadable(name, "WebP", st == VP8_STATUS_NOT_ENOUGH_DATA ? "the file ends early (truncated)" : "bad header");
  if (f.has_animation) unreadable(name, "WebP", "it is animated; qparity reads still images");
  check_size(name, f.width, f.height);
  Image img = rgb_image(f.width, f.height);
  if (WebPDecodeRGBInto(data, size, img.pixels.data(), img.pixels.size(), img.width * 3) == nullptr)
    unreadable(name, "WebP", "corrupt or truncated image data");
  return img;
}

// ---- BMP (own reader: uncompressed 24/32-bit, 1/4/8-bit palettes) ----

uint32_t le32(const uint8_t *p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint16_t le16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

[[noreturn]] void bmp_bad(const std::string &name, const std::string &why) { unreadable(name, "BMP", why); }

Image decode_bmp(const uint8_t *data, size_t size, const std::string &name) {
  if (size < 26) bmp_bad(name, "the file ends early (truncated)");
  const uint64_t pixel_offset = le32(data + 10);
  const uint32_t header = le32(data + 14);
  int64_t width = 0, height = 0;
  unsigned planes = 0, bpp = 0, palette_entry = 4;
  uint32_t compression = 0, colours_used = 0;
  if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries
    width = le16(data + 18);
    height = le16(data + 20);
    planes = le16(data + 22);
    bpp = le16(data + 24);
    palette_entry = 3;
  } else if (header == 40 || header == 52 || header == 56 || header == 108 || header == 124) {  // BITMAPINFOHEADER, V2..V5
    if (size < 14 + static_cast<size_t>(header)) bmp_bad(name, "the file ends early (truncated)");
    width = static_cast<int32_t>(le32(data + 18));
    height = static_cast<int32_t>(le32(data + 22));
    planes = le16(data + 26);
    bpp = le16(data + 28);
    compression = le32(data + 30);
    colours_used = le32(data + 46);
  } else {
    bmp_bad(name, "unknown header size " + std::to_string(header));
  }
  const bool top_down = height < 0;
  if (top_down) height = -height;  // int64: INT32_MIN negates safely
  if (planes != 1) bmp_bad(name, "it has " + std::to_string(planes) + " planes, not 1");
  switch (compression) {
    case 0: break;  // BI_RGB
    case 3: {       // BI_BITFIELDS: only the plain BGRX layout of 32-bit images
      if (bpp != 32 || size < 66 || le32(data + 54) != 0x00FF0000u || le32(data + 58) != 0x0000FF00u ||
          le32(data + 62) != 0x000000FFu)
        bmp_bad(name, "its bit-field masks are not 8-bit BGR; qparity reads uncompressed 24/32-bit and 1/4/8-bit palette BMPs");
      break;
    }
    case 1:
    case 2: bmp_bad(name, "it is RLE-compressed; qparity reads uncompressed 24/32-bit and 1/4/8-bit palette BMPs");
    default: bmp_bad(name, "compression type " + std::to_string(compression) + " is not supported; qparity reads uncompressed BMPs");
  }
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
    bmp_bad(name, std::to_string(bpp) + " bits per pixel is not supported (1, 4, 8, 24 or 32)");
  check_size(name, width, height);

  // Palette: right after the header, `colours_used` entries (0 = all 2^bpp).
  const uint8_t *palette = nullptr;
  uint32_t palette_size = 0;
  if (bpp <= 8) {
    const uint32_t full = 1u << bpp;
    palette_size = colours_used == 0 ? full : colours_used;
    if (palette_size > full) bmp_bad(name, std::to_string(colours_used) + " palette colours for " + std::to_string(bpp) + "-bit pixels");
    const uint64_t start = 14 + static_cast<uint64_t>(header);
    if (start + static_cast<uint64_t>(palette_size) * palette_entry > size) bmp_bad(name, "the palette ends past the end of the file");
    palette = data + start;
  }
  const uint64_t stride = (static_cast<uint64_t>(width) * bpp + 31) / 32 * 4;
  const uint64_t last_row = (static_cast<uint64_t>(width) * bpp + 7) / 8;  // the last row may omit its padding
  if (pixel_offset < 14 + static_cast<uint64_t>(header) || pixel_offset > size ||
      size - pixel_offset < stride * static_cast<uint64_t>(height - 1) + last_row)
    bmp_bad(name, "the pixel data ends past the end of the file (truncated)");

  Image img = rgb_image(width, height);
  for (int64_t r = 0; r < height; ++r) {
    const uint8_t *src = data + pixel_offset + stride * static_cast<uint64_t>(r);
    const int64_t y = top_down ? r : height - 1 - r;
    uint8_t *dst = &img.pixels[static_cast<size_t>(y) * static_cast<size_t>(width) * 3];
    for (int64_t x = 0; x < width; ++x, dst += 3) {
      const uint8_t *bgr;
      if (bpp >= 24) {
        bgr = src + x * (bpp / 8);
      } else {
        const uint64_t bit = static_cast<uint64_t>(x) * bpp;
        const unsigned index = (src[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
        if (index >= palette_size) bmp_bad(name, "a pixel uses palette entry " + std::to_string(index) + " of " + std::to_string(palette_size));
        bgr = palette + static_cast<size_t>(index) * palette_entry;
      }
      dst[0] = bgr[2];
      dst[1] = bgr[1];
      dst[2] = bgr[0];
    }
  }
  return img;
}

// ---- format by content ----

bool starts_with(const std::vector<uint8_t> &b, std::string_view magic, size_t at = 0) {
  return b.size() >= at + magic.size() && std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

// Names formats qparity recognises but does not read, for the refusal message.
std::string other_format(const std::vector<uint8_t> &b) {
  if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) return "GIF";
  if (starts_with(b, "II*\0"sv) || starts_with(b, "MM\0*"sv)) return "TIFF";
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "PNM (PBM/PGM/PPM/PAM)";
  if (starts_with(b, "ftyp", 4)) return "HEIF/AVIF or another ISO media file";
  if (starts_with(b, "8BPS")) return "Photoshop (PSD)";
  if (starts_with(b, "\0\0\1\0"sv) || starts_with(b, "\0\0\2\0"sv)) return "ICO/CUR";
  if (starts_with(b, "qoif")) return "QOI";
  return "";
}

}  // namespace

Image decode_image(const std::vector<uint8_t> &bytes, const std::string &name) {
  if (bytes.empty()) fail("'" + name + "' is empty, not an image", "remove the file or pass --skip-bad to skip it");
  const uint8_t *d = bytes.data();
  const size_t n = bytes.size();
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return decode_png(d, n, name);
  if (starts_with(bytes, "\xff\xd8\xff")) return decode_jpeg(d, n, name);
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return decode_webp(d, n, name);
  if (starts_with(bytes, "BM")) return decode_bmp(d, n, name);
  const std::string other = other_format(bytes);
  fail("'" + name + "' is not a readable image: its content is not PNG, JPEG, BMP or WebP" +
           (other.empty() ? std::string() : " (it looks like " + other + ")") + "; the file name does not matter",
       "convert it to PNG or JPEG, remove it, or pass --skip-bad to skip unreadable images");
}

}  // namespace qp::data
