#include "data/idx.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// An IDX header (type, dims as big-endian uint32) followed by `data`.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data,
                      uint8_t type = 0x08) {
  std::string out = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (const uint32_t d : dims) {
    for (const int shift : {24, 16, 8, 0}) out += static_cast<char>((d >> shift) & 0xFF);
  }
  return out + data;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Two 3x4 images, row-major; bytes chosen so that each position and the full byte range show.
const std::string kImages = {
    0,         1,         2,   3,  10, 11, 12, 13, 20, 21, 22,        23,  // image 0
    char(255), char(128), 127, 64, 5,  6,  7,  8,  9,  99, char(200), 42};

// Files under a fresh per-test temporary directory, removed at the end of the test.
class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attnlab_idx_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path_of(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(const std::string& bytes, const std::string& name = "data.idx") {
    std::ofstream(path_of(name), std::ios::binary) << bytes;
    return path_of(name);
  }

  // The same bytes gzipped in-process with zlib, as `gzip` would write them.
  std::string write_gzip(const std::string& bytes, const std::string& name = "data.idx.gz") {
    const gzFile file = gzopen(path_of(name).c_str(), "wb");
    EXPECT_NE(file, nullptr);
    EXPECT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    EXPECT_EQ(gzclose(file), Z_OK);
    return path_of(name);
  }

  // The DataError message read_idx throws for the file at path, or "" (and a failure) if none.
  static std::string error_for(const std::string& path) {
    try {
      read_idx(path);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "read_idx(" << path << ") threw nothing";
    return "";
  }

  // The message names the file first, then the problem.
  static void expect_error(const std::string& path, const std::string& problem) {
    const std::string message = error_for(path);
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << "does not start with the path: " << message;
    EXPECT_NE(message.find(problem), std::string::npos)
        << "'" << problem << "' not in: " << message;
  }

  fs::path dir_;
};

TEST_F(IdxTest, ReadsThreeDimensionalPlainFile) {
  const auto array = read_idx(write(idx_bytes({2, 3, 4}, kImages)));
  EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3, 4}));
  ASSERT_EQ(array.data.size(), 24u);
  EXPECT_EQ(array.data, std::vector<uint8_t>(kImages.begin(), kImages.end()));
  EXPECT_EQ(array.data[0 * 12 + 2 * 4 + 1], 21);   // image 0, row 2, column 1
  EXPECT_EQ(array.data[1 * 12 + 0 * 4 + 0], 255);  // image 1, row 0, column 0
  EXPECT_EQ(array.data[1 * 12 + 2 * 4 + 3], 42);   // last byte
}

TEST_F(IdxTest, ReadsGzippedFileByMagicNotName) {
  const auto bytes = idx_bytes({2, 3, 4}, kImages);
  const auto gzipped = write_gzip(bytes, "images.bin");  // no .gz: told by the gzip magic 1f 8b
  ASSERT_EQ(read_file(gzipped).substr(0, 2), "\x1f\x8b");
  const auto from_gzip = read_idx(gzipped);
  const auto from_plain = read_idx(write(bytes, "plain.gz"));  // named .gz, yet plain
  EXPECT_EQ(from_gzip.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(from_gzip.data, std::vector<uint8_t>(kImages.begin(), kImages.end()));
  EXPECT_EQ(from_plain.dims, from_gzip.dims);
  EXPECT_EQ(from_plain.data, from_gzip.data);
}

TEST_F(IdxTest, ReadsOneDimensionalLabels) {
  const auto array = read_idx(write_gzip(idx_bytes({5}, {9, 0, 3, 3, 7})));
  EXPECT_EQ(array.dims, (std::vector<int64_t>{5}));
  EXPECT_EQ(array.data, (std::vector<uint8_t>{9, 0, 3, 3, 7}));
}

TEST_F(IdxTest, ReadsDataLargerThanOneChunk) {
  std::string data(3 * 700 * 1000, '\0');  // 2.1 MB: more than one 1 MiB read
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 7919 + i / 1000) & 0xFF);
  const auto bytes = idx_bytes({3, 700, 1000}, data);
  for (const auto& path : {write(bytes), write_gzip(bytes)}) {
    const auto array = read_idx(path);
    EXPECT_EQ(array.dims, (std::vector<int64_t>{3, 700, 1000}));
    EXPECT_TRUE(array.data == std::vector<uint8_t>(data.begin(), data.end())) << path;
  }
}

TEST_F(IdxTest, ParsesBytesWithTheSameRules) {
  const auto array = parse_idx(idx_bytes({2, 3, 4}, kImages), "in-memory");
  EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(array.data, std::vector<uint8_t>(kImages.begin(), kImages.end()));
  try {
    parse_idx(idx_bytes({2, 3, 4}, kImages + "xy"), "in-memory");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()), "in-memory: 2 bytes after the data (2 x 3 x 4)");
  }
}

TEST_F(IdxTest, TruncatedDataSaysHowMuchWasFound) {
  const auto path = write(idx_bytes({2, 3, 4}, kImages.substr(0, 20)));
  EXPECT_EQ(error_for(path),
            path + ": truncated: header says 24 bytes of data (2 x 3 x 4), found 20");
  const auto gz =
      write_gzip(idx_bytes({2, 3, 4}, kImages.substr(0, 20)));  // a whole gzip, short IDX
  EXPECT_EQ(error_for(gz), gz + ": truncated: header says 24 bytes of data (2 x 3 x 4), found 20");
}

TEST_F(IdxTest, TruncatedHeader) {
  expect_error(write(""),
               "truncated: an IDX file starts with a 4-byte magic number, found 0 bytes");
  expect_error(write(idx_bytes({2, 3, 4}, "").substr(0, 10)),
               "truncated: header says 3 dimensions (12 bytes), found 6");
}

TEST_F(IdxTest, TruncatedGzipIsAnErrorNotShortData) {
  std::string data(2 * 28 * 28, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * i * 31 + 17) % 251);
  const auto whole = read_file(write_gzip(idx_bytes({2, 28, 28}, data)));
  ASSERT_GT(whole.size(), 200u);
  // Cut in half (mid-deflate), and cut only the 8-byte trailer (CRC and length): there every
  // data byte is present, so only the gzip stream can tell.
  expect_error(write(whole.substr(0, whole.size() / 2), "half.gz"),
               "corrupt or truncated gzip stream");
  expect_error(write(whole.substr(0, whole.size() - 8), "no_trailer.gz"),
               "corrupt or truncated gzip stream (unexpected end of file)");
}

TEST_F(IdxTest, CorruptGzipIsAnError) {
  std::string data(4096, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 13);
  std::string gz = read_file(write_gzip(idx_bytes({4096}, data)));
  for (size_t i = 12; i < gz.size() - 8; i += 3) gz[i] = static_cast<char>(gz[i] ^ 0x5A);
  expect_error(write(gz, "corrupt.gz"), "corrupt or truncated gzip stream");
  std::string bad_crc = read_file(write_gzip(idx_bytes({4096}, data)));
  bad_crc[bad_crc.size() - 6] ^= 1;  // in the CRC-32 of the trailer
  expect_error(write(bad_crc, "bad_crc.gz"),
               "corrupt or truncated gzip stream (incorrect data check)");
}

TEST_F(IdxTest, WrongMagicIsNotAnIdxFile) {
  auto bytes = idx_bytes({2, 3, 4}, kImages);
  bytes[0] = 0x01;
  const auto path = write(bytes);
  EXPECT_EQ(error_for(path), path +
                                 ": magic number starts 0x01 0x00, not two zero bytes: not an IDX "
                                 "file (or a damaged one)");
  expect_error(write("label\tdata\n", "text.tsv"),
               "magic number starts 0x6C 0x61, not two zero bytes");
}

TEST_F(IdxTest, UnsupportedElementType) {
  const auto path = write(idx_bytes({2}, std::string(8, '\0'), /*type=*/0x0D));
  EXPECT_EQ(
      error_for(path),
      path + ": element type 0x0D (float) is not supported; attnlab reads unsigned bytes (0x08)");
  expect_error(write(idx_bytes({2}, "ab", /*type=*/0x07), "odd.idx"),
               "element type 0x07 (unknown) is not supported");
}

TEST_F(IdxTest, ZeroOrTooManyDimensions) {
  const auto none = write(idx_bytes({}, "x"), "none.idx");
  EXPECT_EQ(error_for(none), none + ": 0 dimensions; attnlab reads IDX arrays of 1 to 4");
  expect_error(write(idx_bytes({1, 1, 1, 1, 1}, "x"), "five.idx"),
               "5 dimensions; attnlab reads IDX arrays of 1 to 4");
  const auto four = read_idx(write(idx_bytes({1, 2, 1, 2}, "abcd"), "four.idx"));  // 4 is the most
  EXPECT_EQ(four.dims, (std::vector<int64_t>{1, 2, 1, 2}));
}

TEST_F(IdxTest, DimensionOfZero) {
  const auto path = write(idx_bytes({2, 0, 4}, ""));
  EXPECT_EQ(error_for(path), path + ": dimension 2 of 3 is 0");
}

TEST_F(IdxTest, OverOneGibIsRejectedBeforeReading) {
  // Headers alone: had the reader allocated what they claim, these would take 4 GiB and 2^128
  // bytes.
  const auto big = write(idx_bytes({65536, 65536}, "abc"), "big.idx");
  EXPECT_EQ(error_for(big),
            big + ": dimensions 65536 x 65536 are over the 1 GiB limit for one array");
  expect_error(
      write_gzip(idx_bytes({4294967295u, 4294967295u, 4294967295u, 4294967295u}, "")),
      "dimensions 4294967295 x 4294967295 x 4294967295 x 4294967295 are over the 1 GiB limit");
  const auto at_limit =
      write(idx_bytes({1024, 1024, 1024}, ""), "at_limit.idx");  // exactly 1 GiB: allowed
  expect_error(at_limit,
               "truncated: header says 1073741824 bytes of data (1024 x 1024 x 1024), found 0");
}

TEST_F(IdxTest, BytesAfterTheData) {
  const auto bytes = idx_bytes({2, 3, 4}, kImages + std::string(12, '\x07'));
  const auto path = write(bytes);
  EXPECT_EQ(error_for(path), path + ": 12 bytes after the data (2 x 3 x 4)");
  expect_error(write_gzip(bytes), "12 bytes after the data");
}

TEST_F(IdxTest, MissingFileOrDirectory) {
  const auto path = path_of("missing.idx.gz");
  EXPECT_EQ(error_for(path), path + ": cannot open file (No such file or directory)");
  expect_error(dir_.string(), "read error (Is a directory)");
}

// The real Fashion-MNIST test set (Debian's dataset-fashion-mnist), against Python's gzip module:
// /usr/bin/python3 -c "import gzip; d=gzip.open('.../t10k-labels-idx1-ubyte.gz').read();
// print(list(d[8:18]))" printed [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]; sum(d[16:16+784]) of t10k-images
// printed 33456.
const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist/";

TEST(IdxFashionMnist, TestLabelsMatchPython) {
  const auto path = kFashionMnist + "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(path)) GTEST_SKIP() << path << " absent (apt install dataset-fashion-mnist)";
  const auto labels = read_idx(path);
  EXPECT_EQ(labels.dims, (std::vector<int64_t>{10000}));
  ASSERT_EQ(labels.data.size(), 10000u);
  EXPECT_EQ(std::vector<uint8_t>(labels.data.begin(), labels.data.begin() + 10),
            (std::vector<uint8_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
}

TEST(IdxFashionMnist, TestImagesMatchPython) {
  const auto path = kFashionMnist + "t10k-images-idx3-ubyte.gz";
  if (!fs::exists(path)) GTEST_SKIP() << path << " absent (apt install dataset-fashion-mnist)";
  const auto images = read_idx(path);
  EXPECT_EQ(images.dims, (std::vector<int64_t>{10000, 28, 28}));
  ASSERT_EQ(images.data.size(), 10000u * 28 * 28);
  EXPECT_EQ(std::accumulate(images.data.begin(), images.data.begin() + 784, int64_t{0}), 33456);
}

TEST(IdxFashionMnist, RealGzipCutInHalfIsAnError) {
  const auto path = kFashionMnist + "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(path)) GTEST_SKIP() << path << " absent (apt install dataset-fashion-mnist)";
  const std::string whole = read_file(path);
  const auto half =
      (fs::temp_directory_path() / ("attnlab_idx_half_" + std::to_string(::getpid()) + ".gz"))
          .string();
  std::ofstream(half, std::ios::binary) << whole.substr(0, whole.size() / 2);
  std::string message;
  try {
    read_idx(half);
  } catch (const DataError& e) {
    message = e.what();
  }
  fs::remove(half);
  EXPECT_EQ(message.rfind(half + ": corrupt or truncated gzip stream", 0), 0u) << message;
}

}  // namespace
}  // namespace attnlab
