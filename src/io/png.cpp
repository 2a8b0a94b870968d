#include "io/png.h"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <stdexcept>

// libpng's full API, not the simplified png_image one: that one takes 16-bit samples for
// linear light (0x8000 reads as 186, not 128) and composites alpha onto black (RGBA
// (40, 50, 60, 128) reads as (22, 34, 42)), where a model wants the values as stored.

namespace attnlab {
namespace {

// What libpng's callbacks share with decode_png: the bytes being read and the error message.
struct ReadState {
  const std::string* bytes = nullptr;
  size_t pos = 0;
  char error[256] = {};  // a fixed buffer: nothing may throw through libpng's C frames
};

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (n > state->bytes->size() - state->pos) png_error(png, "file is truncated");
  std::memcpy(out, state->bytes->data() + state->pos, n);
  state->pos += n;
}

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ReadState*>(png_get_error_ptr(png));
  std::snprintf(state->error, sizeof(state->error), "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // e.g. a damaged ancillary chunk, skipped

// Owns libpng's read structures; frees them on every path, the error paths included.
struct PngReadStruct {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadStruct() { png_destroy_read_struct(&png, &info, nullptr); }
};

// Runs `steps` (libpng calls) with libpng's error jump target set here; false when libpng
// reported an error. png_error longjmps from libpng back to this frame, which C++ allows only
// when no destructor is skipped: `steps` must create no object with a destructor.
template <typename Steps>
bool run_libpng(png_structp png, const Steps& steps) {
  if (setjmp(png_jmpbuf(png))) return false;
  steps();
  return true;
}

}  // namespace

DecodedImage decode_png(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0) {
    throw std::runtime_error(name + ": not a PNG file");
  }
  ReadState state;
  state.bytes = &bytes;
  PngReadStruct s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  if (s.png == nullptr || (s.info = png_create_info_struct(s.png)) == nullptr) {
    throw std::bad_alloc();
  }
  png_set_read_fn(s.png, &state, read_from_memory);
  const auto corrupt = [&] { return std::runtime_error(name + ": corrupt PNG: " + state.error); };

  png_uint_32 width = 0, height = 0;
  const bool header_ok = run_libpng(s.png, [&] {
    png_set_user_limits(s.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // ours below, with our message
    png_read_info(s.png, s.info);
    width = png_get_image_width(s.png, s.info);
    height = png_get_image_height(s.png, s.info);
  });
  if (!header_ok) throw corrupt();
  if (width > kMaxPngSide || height > kMaxPngSide) {
    throw std::runtime_error(name + ": image of " + std::to_string(width) + "x" +
                             std::to_string(height) + " is larger than 16384 x 16384");
  }

  int channels = 0;
  size_t row_bytes = 0;
  const bool transforms_ok = run_libpng(s.png, [&] {
    const int color_type = png_get_color_type(s.png, s.info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s.png);  // + alpha if tRNS
    if (color_type == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(s.png);  // to 0..255
    png_set_strip_16(s.png);     // 16 -> 8 bits: the high byte
    png_set_strip_alpha(s.png);  // alpha (from the file or from tRNS) dropped, not composited
    png_set_interlace_handling(s.png);
    png_read_update_info(s.png, s.info);
    channels = png_get_channels(s.png, s.info);
    row_bytes = png_get_rowbytes(s.png, s.info);
  });
  if (!transforms_ok) throw corrupt();
  if ((channels != 1 && channels != 3) || row_bytes != size_t{width} * channels) {  // not expected
    throw std::runtime_error(name + ": PNG decodes to " + std::to_string(channels) +
                             " channels of " + std::to_string(row_bytes) +
                             " bytes per row; expected 8-bit grey or RGB");
  }

  DecodedImage image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(size_t{height} * row_bytes);  // (H, W, C)
  std::vector<png_bytep> rows(height);
  for (size_t y = 0; y < height; ++y) rows[y] = image.pixels.data() + y * row_bytes;
  const bool pixels_ok = run_libpng(s.png, [&] {
    png_read_image(s.png, rows.data());
    png_read_end(s.png, nullptr);  // the chunks after the pixels: their CRCs, truncation
  });
  if (!pixels_ok) throw corrupt();
  return image;
}

DecodedImage read_png(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error(path + ": is a directory, not a PNG file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw std::runtime_error(path + ": cannot open file (" + std::string(std::strerror(err)) + ")");
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path + ": read error");
  return decode_png(buffer.str(), path);
}

}  // namespace attnlab
