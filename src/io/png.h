#pragma once
// PNG decoding with libpng, to the 8-bit grey or RGB pixels an image model reads. Pixel values
// come out as stored: no gamma or colour-profile correction (gAMA, sRGB, iCCP are ignored).

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab {

// An 8-bit image, rows top to bottom, channels interleaved (HWC).
struct DecodedImage {
  int64_t width = 0, height = 0;
  int64_t channels = 0;         // 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;  // height * width * channels
};

// The largest width and height decode_png accepts (an RGB image of 16384 x 16384 is 768 MiB).
constexpr int64_t kMaxPngSide = 16384;

// Decodes the bytes of a PNG file to 8-bit grey (grey, grey + alpha) or RGB (RGB, RGBA,
// palette). Alpha and tRNS transparency are dropped, not composited: a transparent pixel keeps
// the colour stored under it. 16-bit samples keep their high byte (v >> 8, libpng's
// png_set_strip_16); 1, 2 and 4-bit grey is scaled to 0..255; interlaced images are
// de-interlaced. The whole file is checked, up to IEND (chunk CRCs included). `name` only
// names the image in errors. Throws std::runtime_error "<name>: not a PNG file",
// "<name>: corrupt PNG: <libpng's message>" or "<name>: image of WxH is larger than 16384 x 16384".
DecodedImage decode_png(const std::string& bytes, const std::string& name);

// decode_png on the bytes of the file at `path`; also throws std::runtime_error
// "<path>: cannot open file (<reason>)" for a file that cannot be read.
DecodedImage read_png(const std::string& path);

}  // namespace attnlab
