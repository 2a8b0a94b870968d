#pragma once
// Shared by the file-reading harnesses: each input is written to one file per process under
// /dev/shm (or TMPDIR), which the readers then open by path as attnlab does.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace attnlab::fuzz {

inline const std::string& write_input(const uint8_t* data, size_t size, const char* name) {
  static const std::string path = [&] {
    const char* dir = std::getenv("TMPDIR");
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (dir ? dir : "/tmp");
    return base + "/attnlab_fuzz_" + std::to_string(::getpid()) + "_" + name;
  }();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

[[noreturn]] inline void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace attnlab::fuzz
