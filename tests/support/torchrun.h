#pragma once
// Launching real torchrun workers on loopback from a test (docs/development.md, "Data-parallel
// groups"). Header-only.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/common.h"

namespace attnlab::test {

constexpr const char* kTorchrun = "/usr/bin/torchrun";  // from python3-torch

inline bool has_torchrun() { return std::filesystem::exists(kTorchrun); }

// A TCP port nobody listens on now (the kernel's pick for an ephemeral bind on loopback).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// "torchrun --nproc_per_node N --master_port P --redirects 2 --tee 2 --no_python": what goes
// before the worker's command line. torchrun 1.13 on Python 3.11 fails before starting any
// worker with its default redirects; --redirects 2 --tee 2 avoids that (and echoes each
// worker's stderr with a "[defaultR]:" prefix).
inline std::string torchrun_prefix(int ranks, int port, const std::string& extra = "") {
  return std::string(kTorchrun) + " --nproc_per_node " + std::to_string(ranks) + " --master_port " +
         std::to_string(port) + " --redirects 2 --tee 2 " + extra + " --no_python ";
}

// Runs the tests `filter` of this test binary as `ranks` torchrun workers on loopback, with
// ATTNLAB_TEST_WORKER=1 (worker tests skip without it); their output and exit status.
inline CommandResult torchrun_workers(int ranks, const std::string& filter) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  return run_shell("ATTNLAB_TEST_WORKER=1 " + torchrun_prefix(ranks, free_port()) + self +
                   " --gtest_filter='" + filter + "' 2>&1");
}

}  // namespace attnlab::test
