#include "runtime/threads.h"

#include <dlfcn.h>
#include <omp.h>

#include <string>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

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

}  // namespace
}  // namespace attnlab
