#pragma once
// Helpers shared by the train and bench tests: a tiny model, parameter copying, a scratch
// directory, and running /usr/bin/python3 as an independent reference. Header-only.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/encoder_model.h"

namespace attnlab::test {

// A one-layer transduction encoder small enough for many optimizer steps in a test.
inline ModelOptions tiny_model_options(int64_t vocab = 11, int64_t outputs = 7,
                                       int64_t d_model = 16, int64_t layers = 1) {
  ModelOptions m;
  m.embedding.vocab_size = vocab;
  m.embedding.d_model = d_model;
  m.embedding.max_len = 16;
  m.embedding.dropout = 0.0;
  m.encoder.num_layers = layers;
  m.encoder.layer.d_model = d_model;
  m.encoder.layer.num_heads = 2;
  m.encoder.layer.d_ff = 2 * d_model;
  m.encoder.layer.dropout = 0.0;
  m.task = TaskKind::kTransduction;
  m.num_outputs = outputs;
  return m;
}

// Copies every parameter and buffer of `from` into the same-named one of `to`.
inline void copy_state(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto params = to.named_parameters();
  for (const auto& p : from.named_parameters()) params[p.key()].copy_(p.value());
  auto buffers = to.named_buffers();
  for (const auto& b : from.named_buffers()) buffers[b.key()].copy_(b.value());
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

inline void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "attnlab_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<char>& bytes, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(n));
}

constexpr const char* kPython = "/usr/bin/python3";

// True when /usr/bin/python3 can import `module` (e.g. "json", "torch").
// Cached per process: importing torch takes seconds.
inline bool python_has(const std::string& module) {
  static std::map<std::string, bool> known;
  auto it = known.find(module);
  if (it != known.end()) return it->second;
  const std::string cmd =
      std::string(kPython) + " -c 'import " + module + "' >/dev/null 2>&1";
  return known[module] = std::system(cmd.c_str()) == 0;
}

// Runs `python3 script_file args...` and returns its stdout; `ok` is false on a non-zero exit.
inline std::string run_python(const std::string& script_path, const std::string& args, bool& ok) {
  const std::string cmd = std::string(kPython) + " " + script_path + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  if (pipe == nullptr) {
    ok = false;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  ok = ::pclose(pipe) == 0;
  return out;
}

// Value of a "key=value" line in `text`, or "" when there is none.
inline std::string line_value(const std::string& text, const std::string& key) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    start = end + 1;
  }
  return "";
}

}  // namespace attnlab::test
