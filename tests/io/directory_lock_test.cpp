#include "io/directory_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/common.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

TEST(DirectoryLock, IsExclusiveNamesItsHolderAndIsReleasedWithTheObject) {
  test::ScratchDir dir;
  {
    const DirectoryLock first(dir.path().string());
    EXPECT_EQ(first.path(), dir.file(".lock"));
    // flock locks belong to an open file description, so a second open in this process
    // conflicts exactly as another process's would.
    try {
      const DirectoryLock second(dir.path().string());
      ADD_FAILURE() << "a second lock on the same directory was granted";
    } catch (const DirectoryInUseError& e) {
      test::expect_contains(e.what(), dir.path().string() + " is in use");
      test::expect_contains(e.what(), "pid " + std::to_string(::getpid()) + " on ");
      test::expect_contains(e.what(), "since 20");
    }
  }
  const DirectoryLock again(dir.path().string());  // released when `first` went
  EXPECT_TRUE(fs::exists(again.path()));
}

// Another process holds the lock (util-linux's flock(1), which writes no note), then is killed
// with SIGKILL: the kernel drops its lock, and the directory can be locked again.
TEST(DirectoryLock, AProcessKilledWithSigkillLeavesTheDirectoryUnlocked) {
  if (test::run_shell("command -v flock >/dev/null").rc != 0) GTEST_SKIP() << "flock(1) missing";
  test::ScratchDir dir;
  const std::string lock_file = dir.file(".lock");
  const std::string ready = dir.file("ready");
  const std::string script = "touch " + ready + " && exec sleep 60";
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {  // --no-fork: the shell, then sleep, is this very process
    ::execlp("flock", "flock", "--exclusive", "--no-fork", lock_file.c_str(), "sh", "-c",
             script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 400 && !fs::exists(ready); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  bool refused = false;
  try {
    const DirectoryLock probe(dir.path().string());
  } catch (const DirectoryInUseError& e) {
    refused = true;
    test::expect_contains(e.what(), "has not written its pid yet");
  }
  EXPECT_TRUE(refused) << "flock(1) never held the lock";
  ::kill(holder, SIGKILL);
  int status = 0;
  ::waitpid(holder, &status, 0);
  EXPECT_NO_THROW(DirectoryLock(dir.path().string()));
}

TEST(DirectoryLock, AMissingDirectoryIsAnErrorNamingTheFileNotAHolder) {
  test::ScratchDir dir;
  try {
    const DirectoryLock lock(dir.file("missing"));
    ADD_FAILURE() << "locked a directory that does not exist";
  } catch (const DirectoryInUseError& e) {
    ADD_FAILURE() << "reported as in use: " << e.what();
  } catch (const std::runtime_error& e) {
    test::expect_contains(e.what(), dir.file("missing/.lock"));
  }
}

}  // namespace
}  // namespace attnlab
