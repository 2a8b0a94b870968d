#pragma once
// Helpers every test may use: comparisons, error capture, a scratch directory, file I/O, and
// running a shell command or /usr/bin/python3 (the independent reference) to read its output.
// Header-only.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnlab::test {

// max |a - b| in double.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// True when `t` is defined and holds no inf or NaN (an undefined gradient counts as a failure).
inline bool all_finite(const torch::Tensor& t) {
  return t.defined() && torch::isfinite(t).all().item<bool>();
}

inline void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

// Message of the c10::Error thrown by `f` without the backtrace; "" (and a test failure) when
// nothing or something else is thrown.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.msg();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected c10::Error, got std::exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected c10::Error, nothing was thrown";
  return "";
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

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Writes the first `n` of `bytes` (a truncated copy when n < bytes.size()).
inline void write_bytes(const std::string& path, const std::vector<char>& bytes, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(n));
}

struct CommandResult {
  int rc = -1;      // exit status; -1 when the command could not run or was killed
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

// The CPU flags line of /proc/cpuinfo, space-padded (" avx512f avx512_bf16 ... "), or "" when
// absent: the kernel's view of the CPU, independent of oneDNN.
inline std::string cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0) return " " + line.substr(line.find(':') + 1) + " ";
  return "";
}

// Whether the kernel lists a bf16 matmul instruction set (AVX512_BF16 or AMX-BF16).
inline bool cpuinfo_has_native_bf16() {
  const auto flags = cpuinfo_flags();
  return flags.find(" avx512_bf16 ") != std::string::npos ||
         flags.find(" amx_bf16 ") != std::string::npos;
}

// SentencePiece lives in a module opened with dlopen(RTLD_DEEPBIND) (src/io/sentencepiece_abi.h),
// which the sanitizer runtimes refuse: in a sanitizer build (scripts/sanitize.sh) the tests that
// need it skip, saying why.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE()                                          \
  GTEST_SKIP() << "SentencePiece cannot be loaded in a sanitizer build (dlopen with " \
                  "RTLD_DEEPBIND)"
#else
#define ATTNLAB_SKIP_WITHOUT_SENTENCEPIECE() static_cast<void>(0)
#endif

// The reference interpreter: Debian's python3 with python3-torch, never a virtualenv's.
constexpr const char* kPython = "/usr/bin/python3";

// True when /usr/bin/python3 can import `module` (e.g. "json", "torch"). Cached per process:
// importing torch takes seconds.
inline bool python_has(const std::string& module) {
  static std::map<std::string, bool> known;
  const auto it = known.find(module);
  if (it != known.end()) return it->second;
  return known[module] =
             run_shell(std::string(kPython) + " -c 'import " + module + "' >/dev/null 2>&1").rc ==
             0;
}

// Runs `python3 script_path args...`; returns stdout and stderr together, `ok` false on a
// non-zero exit.
inline std::string run_python(const std::string& script_path, const std::string& args, bool& ok) {
  const auto r = run_shell(std::string(kPython) + " " + script_path + " " + args + " 2>&1");
  ok = r.rc == 0;
  return r.out;
}

// Writes `script` to script.py in `dir` and runs it; stdout and stderr together.
inline CommandResult run_python(const ScratchDir& dir, const std::string& script) {
  const auto path = dir.file("script.py");
  write_text(path, script);
  return run_shell(std::string(kPython) + " " + path + " 2>&1");
}

}  // namespace attnlab::test
