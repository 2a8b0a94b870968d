#pragma once
// Shared fixtures of the attention_log tests: synthetic records, temporary directories, and
// running a shell command (python3, chromium) to read its output.

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "attention_log/record.h"

namespace attnlab::testing {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "attnlab_test_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

struct CommandResult {
  int rc = -1;
  std::string out;  // stdout (and stderr when the command redirects it)
};

inline CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

constexpr const char* kPython = "/usr/bin/python3";

inline bool python_has_torch() {
  static const bool ok = run_shell(std::string(kPython) + " -c 'import torch' >/dev/null 2>&1").rc == 0;
  return ok;
}

inline bool python_available() {
  static const bool ok = run_shell(std::string(kPython) + " -c 'import zlib' >/dev/null 2>&1").rc == 0;
  return ok;
}

// Runs `script` (written to a file in `dir`) with /usr/bin/python3; stdout and stderr together.
inline CommandResult run_python(const TempDir& dir, const std::string& script) {
  const auto path = dir.file("script.py");
  write_file(path, script);
  return run_shell(std::string(kPython) + " " + path + " 2>&1");
}

// Rows of softmax(random) over each example's valid keys, zero elsewhere: (N, H, T, T).
inline at::Tensor random_weights(const std::vector<int64_t>& lengths, int64_t heads, uint64_t seed) {
  const auto N = static_cast<int64_t>(lengths.size());
  int64_t T = 0;
  for (auto L : lengths) T = std::max(T, L);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto w = at::zeros({N, heads, T, T});
  for (int64_t n = 0; n < N; ++n) {
    const auto L = lengths[static_cast<size_t>(n)];
    auto scores = at::randn({heads, L, L}, gen) * 2.0;  // (H, L, L)
    w[n].narrow(1, 0, L).narrow(2, 0, L).copy_(scores.softmax(-1));
  }
  return w;
}

// A small valid record: examples "the cat sat" / "a dog", layers `layers`, heads 0..heads-1.
inline AttentionRecord make_record(int64_t step, int64_t num_layers = 2, int64_t heads = 2,
                                   uint64_t seed = 1) {
  AttentionRecord r;
  r.step = step;
  r.source = "train";
  r.tokens = {{"the", "cat", "sat"}, {"a", "dog"}};
  r.lengths = {3, 2};
  for (int64_t l = 0; l < num_layers; ++l) r.layer_ids.push_back(l);
  for (int64_t h = 0; h < heads; ++h) r.head_ids.push_back(h);
  for (int64_t l = 0; l < num_layers; ++l)
    r.layers.push_back(random_weights(r.lengths, heads, seed * 1000 + static_cast<uint64_t>(l)));
  return r;
}

}  // namespace attnlab::testing
