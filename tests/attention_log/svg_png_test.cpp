#include "attention_log/svg_png.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "io/crc32.h"
#include "support/attention_helpers.h"

namespace attnlab {
namespace {

using test::ScratchDir;

uint32_t crc_of(const std::string& s) { return crc32(s.data(), s.size()); }

uint32_t be32(const std::string& s, size_t pos) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[pos])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[pos + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[pos + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[pos + 3]));
}

// Python (stdlib only) that checks every chunk CRC, inflates IDAT, undoes filter 0 and prints
// "W H" then the RGB of the listed pixels.
std::string decode_png_script(const std::string& path, const std::string& pixels) {
  return R"PY(
import struct, zlib
data = open(")PY" +
         path + R"PY(", "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, chunks = 8, []
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(kind + body) & 0xffffffff == crc, "bad CRC in %r" % kind
    chunks.append((kind, body))
    pos += 12 + n
assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
w, h, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][1])
assert (depth, ctype, comp, filt, inter) == (8, 2, 0, 0, 0)
raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
stride = 1 + 3 * w
assert len(raw) == h * stride
assert all(raw[y * stride] == 0 for y in range(h))
print(w, h)
for x, y in )PY" +
         pixels + R"PY(:
    p = y * stride + 1 + 3 * x
    print(x, y, tuple(raw[p:p + 3]))
)PY";
}

TEST(SvgPng, Adler32MatchesKnownValues) {  // CRC-32: tests/io/crc32_test.cpp
  const std::string wiki = "Wikipedia";
  EXPECT_EQ(adler32(reinterpret_cast<const uint8_t*>(wiki.data()), wiki.size()), 0x11E60398u);
  EXPECT_EQ(adler32(nullptr, 0), 1u);
}

TEST(SvgPng, PngStructure) {
  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0};  // 2x1: red, green
  const auto png = encode_png(2, 1, rgb);
  ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(be32(png, 8), 13u);
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(png, 16), 2u);
  EXPECT_EQ(be32(png, 20), 1u);
  EXPECT_EQ(be32(png, 29), crc_of(png.substr(12, 17)));
  // IDAT: zlib header 78 01, one final stored block of 7 bytes (filter byte + 6).
  EXPECT_EQ(png.substr(37, 4), "IDAT");
  const auto idat = png.substr(41, be32(png, 33));
  EXPECT_EQ(idat.substr(0, 7), std::string("\x78\x01\x01\x07\x00\xf8\xff", 7));
  EXPECT_EQ(idat.substr(7, 7), std::string("\x00\xff\x00\x00\x00\xff\x00", 7));
  EXPECT_EQ(png.substr(png.size() - 12), std::string("\x00\x00\x00\x00IEND\xae\x42\x60\x82", 12));
}

TEST(SvgPng, PythonDecodesTwoByTwoHeatmap) {
  if (!test::python_has("zlib")) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir dir;
  const auto path = dir.file("w.png");
  PngOptions options;
  options.cell_size = 3;
  write_png(path, torch::tensor({1.0, 0.0, 0.0, 0.5}).view({2, 2}), options);
  const auto result = test::run_python(
      dir, decode_png_script(path, "[(0, 0), (2, 2), (3, 0), (5, 2), (0, 3), (4, 4), (5, 5)]"));
  ASSERT_EQ(result.rc, 0) << result.out;
  // viridis: 1 -> #fde725, 0 -> #440154, 0.5 -> #21918c.
  EXPECT_EQ(result.out,
            "6 6\n"
            "0 0 (253, 231, 37)\n"
            "2 2 (253, 231, 37)\n"
            "3 0 (68, 1, 84)\n"
            "5 2 (68, 1, 84)\n"
            "0 3 (68, 1, 84)\n"
            "4 4 (33, 145, 140)\n"
            "5 5 (33, 145, 140)\n");
}

TEST(SvgPng, LargeImageSpansSeveralStoredBlocks) {
  if (!test::python_has("zlib")) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir dir;
  const auto path = dir.file("big.png");
  auto w = torch::zeros({60, 70});
  w[59][69] = 1.0;
  PngOptions options;
  options.cell_size = 4;  // 280 x 240 px: 240 * 841 raw bytes, four stored blocks
  write_png(path, w, options);
  const auto result = test::run_python(
      dir, decode_png_script(path, "[(0, 0), (279, 239), (276, 236), (275, 236)]"));
  ASSERT_EQ(result.rc, 0) << result.out;
  EXPECT_EQ(result.out,
            "280 240\n"
            "0 0 (68, 1, 84)\n"
            "279 239 (253, 231, 37)\n"
            "276 236 (253, 231, 37)\n"
            "275 236 (68, 1, 84)\n");
}

TEST(SvgPng, SvgIsWellFormedAndLabelled) {
  const auto w = torch::tensor({1.0, 0.0, 0.25, 0.75}).view({2, 2});
  const auto svg = render_svg(w, {"<q>", "a&b"}, {"k\"1", "k'2"}, "layer 0 <head 1>");
  EXPECT_EQ(svg.find("http://www.w3.org/2000/svg"), svg.find("http"));  // only the namespace
  EXPECT_NE(svg.find("&lt;q&gt;"), std::string::npos);
  if (!test::python_has("zlib")) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir dir;
  test::write_text(dir.file("w.svg"), svg);
  const auto result = test::run_python(dir, R"PY(
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(")PY" + dir.file("w.svg") + R"PY(").getroot()
print(root.find("s:title", ns).text)
cells = root.findall("s:g[@id='cells']/s:rect", ns)
print(len(cells), cells[0].get("fill"), cells[1].get("fill"))
print(cells[2].find("s:title", ns).text)
print([t.text for t in root.findall("s:g[@id='queries']/s:text", ns)])
print([t.text for t in root.findall("s:g[@id='keys']/s:text", ns)])
)PY");
  ASSERT_EQ(result.rc, 0) << result.out;
  EXPECT_EQ(result.out,
            "layer 0 <head 1>\n"
            "4 #fde725 #440154\n"
            "a&b (1) → k\"1 (0): 0.250\n"
            "['<q>', 'a&b']\n"
            "['k\"1', \"k'2\"]\n");
}

}  // namespace
}  // namespace attnlab
