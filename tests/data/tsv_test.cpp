#include "data/tsv.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace attnlab {
namespace {

namespace fs = std::filesystem;

// A file under a fresh per-test temporary directory, removed at the end of the test.
class TsvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("attnlab_tsv_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& content, const std::string& name = "data.tsv") {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // The DataError message read_tsv throws for content, or "" if it throws nothing.
  std::string error_for(const std::string& content) {
    const auto path = write(content);
    try {
      read_tsv(path);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(TsvTest, ReadsFieldsAndLineNumbers) {
  const auto path = write("a b\tb a\n\nxyz\tlabel\r\nü ñ\tä\n");
  const auto examples = read_tsv(path);
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].source, "a b");
  EXPECT_EQ(examples[0].target, "b a");
  EXPECT_EQ(examples[0].line, 1);
  EXPECT_EQ(examples[1].source, "xyz");
  EXPECT_EQ(examples[1].target, "label");  // '\r' stripped
  EXPECT_EQ(examples[1].line, 3);          // the empty line 2 still counts
  EXPECT_EQ(examples[2].source, "ü ñ");
  EXPECT_EQ(examples[2].line, 4);
}

TEST_F(TsvTest, LastLineWithoutNewlineAndByteOrderMark) {
  const auto examples = read_tsv(write("\xEF\xBB\xBFsrc\ttgt\nx\ty"));
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[0].source, "src");
  EXPECT_EQ(examples[1].target, "y");
}

TEST_F(TsvTest, MissingTabNamesFileAndLine) {
  const auto path = (dir_ / "data.tsv").string();
  EXPECT_EQ(error_for("a\tb\n\nno tab here\n"),
            path + ":3: no TAB; expected exactly one TAB between source and target");
}

TEST_F(TsvTest, TwoTabsNameFileAndLine) {
  const auto path = (dir_ / "data.tsv").string();
  EXPECT_EQ(error_for("a\tb\nc\td\te\n"),
            path + ":2: 2 TABs; expected exactly one TAB between source and target");
}

TEST_F(TsvTest, EmptyFieldsNameFileAndLine) {
  const auto path = (dir_ / "data.tsv").string();
  EXPECT_EQ(error_for("\tb\n"), path + ":1: empty source field (before the TAB)");
  EXPECT_EQ(error_for("a\tb\na\t\r\n"), path + ":2: empty target field (after the TAB)");
}

TEST_F(TsvTest, InvalidUtf8NamesFileAndLine) {
  const auto path = (dir_ / "data.tsv").string();
  EXPECT_EQ(error_for("a\tb\nab\xFF\tc\n"), path + ":2: invalid UTF-8 at byte 3 of the line");
  EXPECT_EQ(error_for("\xC0\xAF\tc\n"),
            path + ":1: invalid UTF-8 at byte 1 of the line");  // overlong '/'
}

TEST_F(TsvTest, EmptyFileHasNoExamples) {
  const auto path = (dir_ / "data.tsv").string();
  EXPECT_EQ(error_for(""), path + ": no examples");
  EXPECT_EQ(error_for("\n\r\n\n"), path + ": no examples");
}

TEST_F(TsvTest, MissingFileNamesTheFile) {
  const auto path = (dir_ / "missing.tsv").string();
  try {
    read_tsv(path);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot open file (No such file or directory)");
  }
  EXPECT_THROW(read_tsv(dir_.string()), DataError);  // a directory
}

TEST_F(TsvTest, WriteThenReadRoundTrips) {
  const std::vector<Example> examples = {{"a b c", "c b a", 0}, {"héllo", "positive", 0}};
  const auto path = (dir_ / "out.tsv").string();
  write_tsv(path, examples);
  std::ifstream in(path, std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "a b c\tc b a\nhéllo\tpositive\n");
  const auto back = read_tsv(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].source, "héllo");
  EXPECT_EQ(back[1].line, 2);
}

TEST_F(TsvTest, WriteRejectsFieldsThatCannotBeReadBack) {
  const auto path = (dir_ / "out.tsv").string();
  EXPECT_THROW(write_tsv(path, {{"a\tb", "c", 0}}), DataError);
  EXPECT_THROW(write_tsv(path, {{"a", "", 0}}), DataError);
  EXPECT_THROW(write_tsv(path, {{"a", "b\n", 0}}), DataError);
  EXPECT_THROW(write_tsv((dir_ / "no_dir" / "x.tsv").string(), {{"a", "b", 0}}), DataError);
}

TEST(Utf8Test, FindsFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), -1);
  EXPECT_EQ(find_invalid_utf8("\xE2\x82\xAC \xF0\x9F\x98\x80"), -1);  // euro sign, emoji
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2);                          // lone continuation byte
  EXPECT_EQ(find_invalid_utf8("a\xE2\x82"), 1);                       // truncated sequence
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0);                    // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0);                // above U+10FFFF
}

}  // namespace
}  // namespace attnlab
