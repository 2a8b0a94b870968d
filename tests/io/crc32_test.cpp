#include "io/crc32.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "support/common.h"

namespace attnlab {
namespace {

uint32_t crc_of(const std::string& s) { return crc32(s.data(), s.size()); }

TEST(Crc32, MatchesPublishedCheckValues) {
  // The CRC-32/ISO-HDLC check value of "123456789" and the CRC of a PNG IEND chunk's type.
  EXPECT_EQ(crc_of("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc_of("IEND"), 0xAE426082u);
  EXPECT_EQ(crc_of(""), 0u);
  EXPECT_EQ(crc32(nullptr, 0, 0x12345678u), 0x12345678u);
}

TEST(Crc32, ContinuesAcrossPieces) {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  for (size_t cut : {size_t{0}, size_t{1}, size_t{9}, text.size() / 2, text.size()}) {
    const auto first = crc32(text.data(), cut);
    EXPECT_EQ(crc32(text.data() + cut, text.size() - cut, first), crc_of(text)) << cut;
  }
  EXPECT_EQ(crc_of(text), 0x414FA339u);
}

TEST(Crc32, AgreesWithPythonsZlibOnRandomBytes) {
  if (!test::python_has("zlib")) GTEST_SKIP() << test::kPython << " has no zlib";
  test::ScratchDir dir;
  std::string bytes(100'003, '\0');
  uint32_t state = 12345;
  for (auto& b : bytes) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<char>(state >> 24);
  }
  const auto data = dir.file("bytes.bin");
  test::write_text(data, bytes);
  const auto script = dir.file("crc.py");
  test::write_text(script, "import sys, zlib\nprint(zlib.crc32(open(sys.argv[1], 'rb').read()))\n");
  bool ok = false;
  const auto out = test::run_python(script, data, ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_EQ(crc_of(bytes), static_cast<uint32_t>(std::stoul(out)));
}

}  // namespace
}  // namespace attnlab
