// libFuzzer harness for the PNG decoder (io/png.h): decode_png on the bytes, as the image
// folders and `predict IMAGE.png` read a file. Allowed outcomes: an image, or the
// std::runtime_error png.h documents, naming the image. Checked on every image: sides 1 to
// kMaxPngSide, 1 or 3 channels, width * height * channels pixel bytes; and the pixels, written
// back as a plain 8-bit grey or RGB PNG (by the writer below: zlib, no filters), decode to the
// same image.
//
// Odd-length inputs get their chunk CRCs recomputed first: libpng is not instrumented, so
// libFuzzer could not learn a CRC, and nearly every mutation would end at the CRC check (which
// even-length inputs still reach). Inputs whose IHDR announces more than kMaxPixels within the
// reader's 16384 x 16384 are skipped: the reader allocates and zeroes the pixels before reading
// them (up to 768 MiB: 0.7 s and 0.9 GB of RSS under ASan, within libFuzzer's limits), and with
// CRCs recomputed, mutants of such a header would slow the search.
#include <zlib.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_file.h"
#include "io/png.h"

namespace {

constexpr uint64_t kMaxPixels = uint64_t{1} << 22;  // 12 MiB of RGB

uint32_t get_u32(const std::string& in, size_t pos) {
  const auto* b = reinterpret_cast<const uint8_t*>(in.data()) + pos;
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}

void put_u32(std::string& out, uint32_t v) {
  for (const int shift : {24, 16, 8, 0}) out += static_cast<char>((v >> shift) & 0xFF);
}

void put_chunk(std::string& out, const char* type, const std::string& body) {
  put_u32(out, static_cast<uint32_t>(body.size()));
  const std::string typed = type + body;
  out += typed;
  put_u32(out, static_cast<uint32_t>(
                   crc32(0, reinterpret_cast<const Bytef*>(typed.data()), typed.size())));
}

// Rewrites the CRC of every whole chunk after the 8-byte signature.
void fix_crcs(std::string& png) {
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint64_t length = get_u32(png, pos);
    if (length > png.size() - pos - 12) break;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(png.data()) + pos + 4,
                            static_cast<uInt>(length + 4));
    pos += 8 + length;
    for (const int shift : {24, 16, 8, 0}) png[pos++] = static_cast<char>((crc >> shift) & 0xFF);
  }
}

// An independent writer: attnlab's encode_png (attention_log/svg_png.h) needs LibTorch.
std::string encode(const attnlab::DecodedImage& image) {
  const size_t row = static_cast<size_t>(image.width * image.channels);
  std::string raw;
  for (int64_t y = 0; y < image.height; ++y) {
    raw += '\0';  // filter: None
    raw.append(reinterpret_cast<const char*>(image.pixels.data()) + y * row, row);
  }
  std::string idat(compressBound(raw.size()), '\0');
  uLongf idat_size = idat.size();
  if (compress2(reinterpret_cast<Bytef*>(idat.data()), &idat_size,
                reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 1) != Z_OK)
    attnlab::fuzz::fail("zlib compress2 failed", std::to_string(raw.size()));
  idat.resize(idat_size);
  std::string ihdr;
  put_u32(ihdr, static_cast<uint32_t>(image.width));
  put_u32(ihdr, static_cast<uint32_t>(image.height));
  ihdr += {8, static_cast<char>(image.channels == 1 ? 0 : 2), 0, 0, 0};  // depth, colour type, ...
  std::string png = "\x89PNG\r\n\x1a\n";
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", idat);
  put_chunk(png, "IEND", "");
  return png;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnlab;
  const std::string name = "fuzz.png";
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size % 2 == 1) fix_crcs(bytes);
  if (size >= 24 && bytes.compare(12, 4, "IHDR") == 0) {
    const uint64_t width = get_u32(bytes, 16), height = get_u32(bytes, 20);
    if (width <= kMaxPngSide && height <= kMaxPngSide && width * height > kMaxPixels) return 0;
  }
  DecodedImage image;
  try {
    image = decode_png(bytes, name);
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind(name + ": ", 0) != 0)
      fuzz::fail("error does not name the image", e.what());
    return 0;
  }
  const std::string shape = std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                            std::to_string(image.channels);
  if (image.width < 1 || image.height < 1 || image.width > kMaxPngSide ||
      image.height > kMaxPngSide || (image.channels != 1 && image.channels != 3))
    fuzz::fail("bad image shape", shape);
  if (image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels))
    fuzz::fail("pixel bytes do not match the shape",
               shape + " with " + std::to_string(image.pixels.size()));
  const DecodedImage again = decode_png(encode(image), name + " (written back)");
  if (again.width != image.width || again.height != image.height ||
      again.channels != image.channels || again.pixels != image.pixels)
    fuzz::fail("write/decode round trip differs", shape);
  return 0;
}
