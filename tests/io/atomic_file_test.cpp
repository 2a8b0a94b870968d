#include "io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

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

// A pid that no process has: a child that has exited and been reaped (the kernel hands pids
// out in increasing order, so it is not reused within the test).
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

TEST(AtomicFile, StaleTemporaryFilesOfDeadProcessesAreRemovedAndOnlyThose) {
  test::ScratchDir dir;
  const std::string dead = std::to_string(dead_pid());
  const std::string own = std::to_string(::getpid());
  const std::string alive = std::to_string(::getppid());  // ctest, or the shell that ran us
  const std::vector<std::string> stale = {".last.pt.tmp." + dead, ".step_00000020.pt.tmp." + own};
  const std::vector<std::string> kept = {
      ".best.pt.tmp." + alive, "last.pt", "notes.tmp." + dead, ".x.tmp.12ab", ".x.tmp.",
      "..tmp." + dead,         ".lock"};
  for (const auto& name : stale) test::write_text(dir.file(name), "torn");
  for (const auto& name : kept) test::write_text(dir.file(name), "keep");
  fs::create_directory(dir.file(".attention.tmp." + dead));  // only files are removed
  fs::create_directory(dir.file("attention"));
  test::write_text(dir.file("attention/.step_1.pt.tmp." + dead), "subfolders are not searched");

  auto removed = remove_stale_temporary_files(dir.path().string());
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = {dir.file(stale[0]), dir.file(stale[1])};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(removed, expected);
  for (const auto& name : stale) EXPECT_FALSE(fs::exists(dir.file(name))) << name;
  for (const auto& name : kept) EXPECT_TRUE(fs::exists(dir.file(name))) << name;
  EXPECT_TRUE(fs::exists(dir.file(".attention.tmp." + dead)));
  EXPECT_TRUE(fs::exists(dir.file("attention/.step_1.pt.tmp." + dead)));
  EXPECT_TRUE(remove_stale_temporary_files(dir.file("no_such_folder")).empty());
}

}  // namespace
}  // namespace attnlab
