#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

// OpenBLAS's own count, looked up at run time: libblas.so.3 is OpenBLAS after setup.sh.
int openblas_threads() {
  using Getter = int (*)();
  auto get = reinterpret_cast<Getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : -1;
}

class Threads : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = at::get_num_threads(); }
  void TearDown() override { configure_threads(saved_); }
  int saved_ = 1;
};

TEST_F(Threads, AvailableCoresIsWhatNprocCounts) {
  // coreutils' nproc counts the affinity mask too (and honours OMP_NUM_THREADS: unset it).
  const auto nproc = test::run_shell("env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc");
  ASSERT_EQ(nproc.rc, 0);
  EXPECT_EQ(std::to_string(available_cores()) + "\n", nproc.out);
}

TEST_F(Threads, AvailableCoresFollowsTaskset) {
  // The CLI under taskset -c 0: one core in its mask, so `--threads 0` means one thread.
  const auto one = test::run_shell("taskset -c 0 " ATTNLAB_BINARY
                                   " bench --size small --warmup-steps 0 --steps 1 --eval-steps 1"
                                   " --threads 0 --json");
  if (one.rc == 127) GTEST_SKIP() << "no taskset";
  ASSERT_EQ(one.rc, 0) << one.out;
  test::expect_contains(one.out, "\"threads\": 1");
}

TEST_F(Threads, OneCountForOpenMpLibTorchAndOpenBlas) {
  for (const int n : {1, 2}) {
    EXPECT_EQ(configure_threads(n), n);
    EXPECT_EQ(at::get_num_threads(), n);
    EXPECT_EQ(omp_get_max_threads(), n);
    // A double matmul goes to BLAS dgemm_ (OpenBLAS), which reads OpenMP's count per call.
    const auto a = torch::rand({256, 256}, torch::kFloat64);
    const auto c = at::matmul(a, a);
    ASSERT_TRUE(test::all_finite(c));
    const int blas = openblas_threads();
    if (blas < 0) GTEST_SKIP() << "libblas.so.3 is not OpenBLAS";
    EXPECT_EQ(blas, n) << "OpenBLAS runs its own thread count";
  }
}

// utime + stime (clock ticks) of every thread of `pid`, by thread id.
std::map<int, long> thread_cpu_ticks(pid_t pid) {
  std::map<int, long> ticks;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ticks;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');  // the name may hold spaces; fields follow it
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; fields >> x;) f.push_back(x);
    if (f.size() > 12) ticks[std::atoi(e->d_name)] = std::stol(f[11]) + std::stol(f[12]);
  }
  ::closedir(d);
  return ticks;
}

// A training run with run.threads=N computes on N threads: OpenMP's team (the main thread and
// N-1 workers) and nothing else. The other threads sleep: the signal watcher, the attention
// record writer, and LibTorch's pthreadpool (for NNPACK/XNNPACK ops, which this model never
// calls; at::set_num_threads sizes it to N-1 workers and re-creates it, so for a moment one
// more thread exists). The threads that used more than a tenth of the busiest one's CPU time
// must be at most N; the steady thread count (the most frequent sample) is 2N + 1.
TEST_F(Threads, TrainingComputesOnRunThreadsAndNoMore) {
  for (const int n : {1, 2}) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::freopen("/dev/null", "w", stdout);
      ::freopen("/dev/null", "w", stderr);
      const std::string config = std::string(ATTNLAB_SOURCE_DIR) + "/configs/reverse.yaml";
      const std::string out =
          "run.out_dir=" + ::testing::TempDir() + "attnlab_threads_" + std::to_string(::getpid());
      const std::string threads = "run.threads=" + std::to_string(n);
      ::execl(ATTNLAB_BINARY, ATTNLAB_BINARY, "train", "--config", config.c_str(), "--overwrite",
              "--set", out.c_str(), "--set", threads.c_str(), "--set", "train.max_steps=400",
              "--set", "train.stop_at=0", "--set", "log.progress=false", "--set",
              "log.attention.every=100", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::map<int, long> last;
    std::map<size_t, int> count_samples;
    int status = 0;
    while (::waitpid(child, &status, WNOHANG) == 0) {
      auto now = thread_cpu_ticks(child);
      if (!now.empty()) {
        ++count_samples[now.size()];
        last = std::move(now);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    ASSERT_FALSE(last.empty());
    long busiest = 0;
    for (const auto& [tid, t] : last) busiest = std::max(busiest, t);
    int busy = 0;
    std::string table;
    for (const auto& [tid, t] : last) {
      busy += t * 10 > busiest ? 1 : 0;
      table += " " + std::to_string(tid) + ":" + std::to_string(t);
    }
    EXPECT_LE(busy, n) << "threads:ticks" << table;
    const auto steady =
        std::max_element(count_samples.begin(), count_samples.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    EXPECT_EQ(steady->first, static_cast<size_t>(2 * n + 1)) << "threads:ticks" << table;
    test::run_shell("rm -rf " + ::testing::TempDir() + "attnlab_threads_" + std::to_string(child));
  }
}

}  // namespace
}  // namespace attnlab
