#include "io/atomic_file.h"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/common.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

std::vector<char> bytes_of(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }

TEST(AtomicFile, WritesAndReplacesLeavingNoTemporaryFile) {
  test::ScratchDir dir;
  const auto path = dir.file("out.bin");
  write_file_atomically(path, bytes_of("first version"));
  EXPECT_EQ(test::read_text(path), "first version");
  write_file_atomically(path, bytes_of("second"));
  EXPECT_EQ(test::read_text(path), "second");
  write_file_atomically(path, {});
  EXPECT_EQ(fs::file_size(path), 0u);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "out.bin");
  }
  EXPECT_EQ(files, 1);
}

TEST(AtomicFile, FailureNamesTheFileAndKeepsTheOldOne) {
  test::ScratchDir dir;
  try {
    write_file_atomically(dir.file("no_such_dir/out.bin"), bytes_of("x"));
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const std::runtime_error& e) {
    test::expect_contains(e.what(), "no_such_dir");
  }
  // The rename fails (the target is a non-empty directory; this fails for root too): what
  // was at the path stays, and no temporary file is left beside it.
  const auto target = dir.file("target");
  fs::create_directory(target);
  test::write_text(target + "/kept.txt", "old");
  EXPECT_THROW(write_file_atomically(target, bytes_of("new")), std::runtime_error);
  EXPECT_EQ(test::read_text(target + "/kept.txt"), "old");
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace attnlab
