#pragma once
// An exclusive lock on a directory, held for as long as the object lives: two processes that
// would write the same run directory cannot both hold it. The kernel releases it when the
// holder exits in any way, kill -9 included, so a crashed run never leaves the directory locked.

#include <stdexcept>
#include <string>

namespace attnlab {

// Another process holds the lock; the message names the directory and the holder.
class DirectoryInUseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DirectoryLock {
 public:
  // flock(LOCK_EX | LOCK_NB) on `<directory>/.lock` (created if missing; the directory must
  // exist). The holder writes its pid, host and start time into the file, so that a process
  // that finds the lock taken can say who holds it: it throws DirectoryInUseError with those
  // details. Any other failure (permissions, no such directory) throws std::runtime_error
  // naming the file.
  explicit DirectoryLock(const std::string& directory);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  const std::string& path() const { return path_; }

  static constexpr const char* kFileName = ".lock";

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace attnlab
