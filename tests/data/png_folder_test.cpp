#include "data/png_folder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "support/common.h"

namespace attnlab {
namespace {

// Python (zlib + struct only, independent of our code) writing into argv[1]: a.png, b.png,
// c.png: RGB, 2 wide and 3 high, pixel (x, y) channel c of image n = 100n + 20y + 5x + c;
// grey.png (2x3 grey), wide.png (3x3 RGB) and junk.png (not a PNG).
constexpr const char* kWriter = R"PY(
import struct, sys, zlib
out = sys.argv[1]

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

def save(name, w, h, ctype, value):
    channels = 3 if ctype == 2 else 1
    raw = b"".join(b"\0" + bytes(value(x, y, c) for x in range(w) for c in range(channels))
                   for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    open(out + "/" + name, "wb").write(data)

for n, name in enumerate(["a.png", "b.png", "c.png"]):
    save(name, 2, 3, 2, lambda x, y, c, n=n: 100 * n + 20 * y + 5 * x + c)
save("grey.png", 2, 3, 0, lambda x, y, c: 7)
save("wide.png", 3, 3, 2, lambda x, y, c: 7)
open(out + "/junk.png", "wb").write(b"not a PNG")
)PY";

class PngFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::python_has("zlib")) GTEST_SKIP() << test::kPython << " has no zlib";
    test::write_text(dir_.file("write_pngs.py"), kWriter);
    bool ok = false;
    const auto out = test::run_python(dir_.file("write_pngs.py"), dir_.path().string(), ok);
    ASSERT_TRUE(ok) << out;
  }

  std::string tsv(const std::string& content) {
    test::write_text(dir_.file("labels.tsv"), content);
    return dir_.file("labels.tsv");
  }

  // The DataError message read_png_folder throws for the TSV content, or "" and a failure.
  std::string error_for(const std::string& content) {
    try {
      read_png_folder(dir_.path().string(), tsv(content));
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError for: " << content;
    return "";
  }

  test::ScratchDir dir_;
};

TEST_F(PngFolder, ReadsImagesAsNchwWithLabelsAndNames) {
  const auto set =
      read_png_folder(dir_.path().string(), tsv("b.png\tcat\na.png\tdog\n\nc.png\tcat\n"));
  ASSERT_EQ(set.size(), 3);
  EXPECT_EQ(set.labels, (std::vector<std::string>{"cat", "dog", "cat"}));
  EXPECT_EQ(set.names, (std::vector<std::string>{"b.png", "a.png", "c.png"}));
  ASSERT_EQ(set.pixels.sizes(), (std::vector<int64_t>{3, 3, 3, 2}));  // (N, C, H, W)
  EXPECT_EQ(set.pixels.scalar_type(), torch::kByte);
  const int64_t file_of_row[] = {1, 0, 2};  // b, a, c
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 0; y < 3; ++y) {
        for (int64_t x = 0; x < 2; ++x) {
          EXPECT_EQ(set.pixels[i][c][y][x].item<int64_t>(),
                    100 * file_of_row[i] + 20 * y + 5 * x + c)
              << i << " " << c << " " << y << " " << x;
        }
      }
    }
  }
}

TEST_F(PngFolder, MismatchedImagesNameTheLineAndTheFirstImage) {
  const auto path = dir_.file("labels.tsv");
  EXPECT_EQ(error_for("a.png\tx\nb.png\ty\ngrey.png\tz\n"),
            path + ":3: grey.png is 2x3 grey, the first image (a.png) is 2x3 RGB");
  EXPECT_EQ(error_for("a.png\tx\nwide.png\ty\n"),
            path + ":2: wide.png is 3x3 RGB, the first image (a.png) is 2x3 RGB");
}

TEST_F(PngFolder, UnreadableImagesNameTheLineAndTheFile) {
  const auto path = dir_.file("labels.tsv");
  EXPECT_EQ(
      error_for("a.png\tx\nmissing.png\ty\n"),
      path + ":2: " + dir_.file("missing.png") + ": cannot open file (No such file or directory)");
  EXPECT_EQ(error_for("junk.png\tx\n"), path + ":1: " + dir_.file("junk.png") + ": not a PNG file");
}

TEST_F(PngFolder, PathsOutsideTheFolderAreRefused) {
  const auto path = dir_.file("labels.tsv");
  const std::string rule = ": file names must be relative to the folder, without '..'";
  EXPECT_EQ(error_for("a.png\tx\n../x.png\ty\n"), path + ":2: ../x.png" + rule);
  EXPECT_EQ(error_for("sub/../a.png\tx\n"), path + ":1: sub/../a.png" + rule);
  EXPECT_EQ(error_for(dir_.file("a.png") + "\tx\n"), path + ":1: " + dir_.file("a.png") + rule);
}

TEST_F(PngFolder, LabelFileErrorsPassThrough) {
  const auto path = dir_.file("labels.tsv");
  EXPECT_EQ(error_for("a.png\tx\nb.png\n"),
            path + ":2: no TAB; expected exactly one TAB between source and target");
  EXPECT_EQ(error_for(""), path + ": no examples");
}

}  // namespace
}  // namespace attnlab
