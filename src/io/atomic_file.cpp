#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

namespace attnlab {

namespace {

namespace fs = std::filesystem;

std::string temporary_name(const fs::path& target, pid_t pid) {
  return "." + target.filename().string() + ".tmp." + std::to_string(pid);
}

// True while a process with this pid exists (kill(pid, 0) fails with ESRCH only when none does;
// EPERM means it exists under another user).
bool process_exists(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / temporary_name(target, ::getpid())).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  // Close whatever fsync said (a failed fsync must not leak the descriptor), then report the
  // first failure.
  const int sync_error = ::fsync(fd) != 0 ? errno : 0;
  const int close_error = ::close(fd) != 0 ? errno : 0;
  if (sync_error != 0 || close_error != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot flush " + tmp + ": " +
                             std::strerror(sync_error != 0 ? sync_error : close_error));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  // Make the rename itself durable. A file system that cannot sync a directory says EINVAL
  // (there the rename is as durable as it gets); any other failure is reported: the new file is
  // in place, but a crash now could still bring the old one back.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    throw std::runtime_error("wrote " + path +
                             " but cannot open its directory to flush it: " + std::strerror(errno));
  const int dir_error = ::fsync(dir_fd) != 0 && errno != EINVAL ? errno : 0;
  ::close(dir_fd);
  if (dir_error != 0)
    throw std::runtime_error("wrote " + path +
                             " but cannot flush its directory: " + std::strerror(dir_error));
}

std::vector<std::string> remove_stale_temporary_files(const std::string& directory) {
  static const std::regex kTemporary(R"(\..+\.tmp\.([0-9]{1,9}))");
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    std::smatch match;
    if (!std::regex_match(name, match, kTemporary)) continue;
    const long pid = std::stol(match[1].str());
    if (pid != ::getpid() && process_exists(pid)) continue;
    std::error_code remove_error;
    if (entry.is_regular_file(remove_error) && fs::remove(entry.path(), remove_error))
      removed.push_back(entry.path().string());
  }
  return removed;
}

}  // namespace attnlab
