#include "io/png.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

// Writes the test images with Python's zlib and struct only (an encoder independent of ours
// and of libpng): each chunk, filter byte and packed sample is spelled out below.
constexpr const char* kWriter = R"PY(
import struct, sys, zlib
out = sys.argv[1]

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

def png(w, h, depth, ctype, scanlines, interlace=0, extra=b""):
    """scanlines: packed rows (or Adam7 pass rows), each without its filter byte (0 = None)."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    idat = zlib.compress(b"".join(b"\0" + bytes(row) for row in scanlines))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat) +
            chunk(b"IEND", b""))

def save(name, data):
    open(out + "/" + name, "wb").write(data)

grey8 = png(3, 2, 8, 0, [[0, 128, 255], [17, 34, 51]])
save("grey8.png", grey8)
save("grey8_gamma.png", png(3, 2, 8, 0, [[0, 128, 255], [17, 34, 51]],
                            extra=chunk(b"gAMA", struct.pack(">I", 100000))))  # gamma 1.0
save("rgb.png", png(2, 2, 8, 2, [[1, 2, 3, 250, 251, 252], [10, 20, 30, 40, 50, 60]]))
save("rgba.png", png(2, 1, 8, 6, [[10, 20, 30, 0, 40, 50, 60, 128]]))
save("grey_alpha.png", png(2, 1, 8, 4, [[77, 0, 200, 255]]))
# 2-bit palette indices 2, 0, 1 packed as 10 00 01 00; entry 0 fully transparent (tRNS).
save("palette.png", png(3, 1, 2, 3, [[0b10000100]],
                        extra=chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 5, 6, 7])) +
                              chunk(b"tRNS", bytes([0]))))
save("grey16.png", png(2, 1, 16, 0, [struct.pack(">HH", 0x12FF, 0xFF80)]))
save("grey1.png", png(10, 1, 1, 0, [[0b10110011, 0b10000000]]))  # 1011001110
save("grey2.png", png(4, 1, 2, 0, [[0b00011011]]))                # 0 1 2 3

# Adam7: RGB 9x7 with pixel (x, y) = (20x, 30y, x + y), written pass by pass.
w, h = 9, 7
rows = []
for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                       (1, 0, 2, 2), (0, 1, 1, 2)]:
    xs = range(x0, w, dx)
    if len(xs) == 0:
        continue
    for y in range(y0, h, dy):
        rows.append([c for x in xs for c in (20 * x, 30 * y, x + y)])
save("adam7.png", png(w, h, 8, 2, rows, interlace=1))

save("truncated.png", grey8[:len(grey8) - 20])  # ends inside IDAT
save("no_iend.png", grey8[:len(grey8) - 12])
save("not_png.png", b"GIF89a, not a PNG at all")
idat = grey8.index(b"IDAT")
idat_end = idat + 4 + struct.unpack(">I", grey8[idat - 4:idat])[0]
bad = bytearray(grey8)
bad[idat_end] ^= 0x01  # IDAT's CRC: the data inflate well, only the CRC shows the damage
save("bad_crc.png", bytes(bad))
bad = bytearray(grey8)
bad[idat + 6] ^= 0x01  # the first deflate block header: zlib fails before the CRC is read
save("bad_deflate.png", bytes(bad))
save("wide.png", png(20000, 1, 8, 0, [bytes(20000)]))
)PY";

// The directory of test images, written once per test binary run ("" if Python failed).
const test::ScratchDir& images() {
  static test::ScratchDir dir;
  static const bool written = [] {
    test::write_text(dir.file("write_pngs.py"), kWriter);
    bool ok = false;
    const auto out = test::run_python(dir.file("write_pngs.py"), dir.path().string(), ok);
    EXPECT_TRUE(ok) << out;
    return ok;
  }();
  if (!written) throw std::runtime_error("could not write the test PNGs");
  return dir;
}

class Png : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::python_has("zlib")) GTEST_SKIP() << test::kPython << " has no zlib";
  }
  static DecodedImage read(const std::string& name) { return read_png(images().file(name)); }

  // The message read_png throws for the file, or "" (and a failure) when it throws nothing.
  static std::string error_for(const std::string& name) {
    try {
      read(name);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    ADD_FAILURE() << name << " decoded without an error";
    return "";
  }
};

void expect_image(const DecodedImage& image, int64_t width, int64_t height, int64_t channels,
                  const std::vector<uint8_t>& pixels) {
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.height, height);
  EXPECT_EQ(image.channels, channels);
  EXPECT_EQ(image.pixels, pixels);
}

TEST_F(Png, GreyEightBit) {
  expect_image(read("grey8.png"), 3, 2, 1, {0, 128, 255, 17, 34, 51});
  expect_image(read("grey8_gamma.png"), 3, 2, 1, {0, 128, 255, 17, 34, 51});  // gAMA ignored
}

TEST_F(Png, Rgb) {
  expect_image(read("rgb.png"), 2, 2, 3, {1, 2, 3, 250, 251, 252, 10, 20, 30, 40, 50, 60});
}

TEST_F(Png, AlphaIsDroppedNotComposited) {
  expect_image(read("rgba.png"), 2, 1, 3, {10, 20, 30, 40, 50, 60});  // alpha 0 and 128
  expect_image(read("grey_alpha.png"), 2, 1, 1, {77, 200});
}

TEST_F(Png, PaletteBecomesRgbIgnoringTransparency) {
  expect_image(read("palette.png"), 3, 1, 3, {5, 6, 7, 255, 0, 0, 0, 255, 0});
}

TEST_F(Png, SixteenBitKeepsTheHighByte) {
  // v >> 8 (png_set_strip_16): 0x12FF -> 0x12 = 18, where rounding v * 255 / 65535 gives 19.
  expect_image(read("grey16.png"), 2, 1, 1, {0x12, 0xFF});
}

TEST_F(Png, LowBitDepthGreyIsScaledToFullRange) {
  expect_image(read("grey1.png"), 10, 1, 1, {255, 0, 255, 255, 0, 0, 255, 255, 255, 0});
  expect_image(read("grey2.png"), 4, 1, 1, {0, 85, 170, 255});
}

TEST_F(Png, Adam7InterlacedIsDeinterlaced) {
  std::vector<uint8_t> expected;
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 9; ++x) {
      expected.insert(expected.end(), {uint8_t(20 * x), uint8_t(30 * y), uint8_t(x + y)});
    }
  }
  expect_image(read("adam7.png"), 9, 7, 3, expected);
}

TEST_F(Png, DamagedFilesAreCorrupt) {
  const auto path = [](const std::string& name) { return images().file(name); };
  EXPECT_EQ(error_for("truncated.png"), path("truncated.png") + ": corrupt PNG: file is truncated");
  EXPECT_EQ(error_for("no_iend.png"), path("no_iend.png") + ": corrupt PNG: file is truncated");
  EXPECT_EQ(error_for("bad_crc.png"), path("bad_crc.png") + ": corrupt PNG: IDAT: CRC error");
  // zlib's own message follows ("invalid stored block lengths" with zlib 1.2.13).
  test::expect_contains(error_for("bad_deflate.png"),
                        path("bad_deflate.png") + ": corrupt PNG: IDAT: ");
}

TEST_F(Png, OtherFilesAreNotPng) {
  EXPECT_EQ(error_for("not_png.png"), images().file("not_png.png") + ": not a PNG file");
  try {
    decode_png("", "empty");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "empty: not a PNG file");
  }
}

TEST_F(Png, TooLargeIsRefusedBeforeDecoding) {
  EXPECT_EQ(error_for("wide.png"),
            images().file("wide.png") + ": image of 20000x1 is larger than 16384 x 16384");
}

TEST_F(Png, UnreadableFileNamesThePath) {
  EXPECT_EQ(error_for("missing.png"),
            images().file("missing.png") + ": cannot open file (No such file or directory)");
  EXPECT_EQ(error_for(""), images().file("") + ": is a directory, not a PNG file");
}

}  // namespace
}  // namespace attnlab
