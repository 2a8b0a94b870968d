// ProcessGroup: torchrun's variables, and the collectives across real processes that torchrun
// launches on loopback (this test binary, re-entered as the workers' `ProcessGroupWorker.*`).
#include "runtime/process_group.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/common.h"
#include "support/torchrun.h"

namespace attnlab {
namespace {

// Sets environment variables for one scope and restores them after.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_)
      old ? ::setenv(name.c_str(), old->c_str(), 1) : ::unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

const std::vector<std::string> kLaunchVariables = {"WORLD_SIZE",
                                                   "RANK",
                                                   "LOCAL_WORLD_SIZE",
                                                   "LOCAL_RANK",
                                                   "MASTER_ADDR",
                                                   "MASTER_PORT",
                                                   "TORCHELASTIC_USE_AGENT_STORE",
                                                   "TORCHELASTIC_RESTART_COUNT"};

TEST(LaunchEnv, NoVariablesIsAGroupOfOne) {
  if (std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "inside a torchrun worker";
  for (const auto& name : kLaunchVariables) ::unsetenv(name.c_str());  // as outside torchrun
  const auto env = launch_env_from_environment();
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  ProcessGroup group(env, std::chrono::seconds(1));
  auto t = torch::tensor({1.0f, 2.0f});
  group.all_reduce_sum(t, "a test tensor");  // nothing to talk to: unchanged, at once
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0f, 2.0f})));
}

TEST(LaunchEnv, ReadsWhatTorchrunSetsAndNamesABadVariable) {
  if (std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "inside a torchrun worker";
  {
    ScopedEnv scope({{"WORLD_SIZE", "4"},
                     {"RANK", "3"},
                     {"LOCAL_WORLD_SIZE", "2"},
                     {"LOCAL_RANK", "1"},
                     {"MASTER_ADDR", "10.0.0.1"},
                     {"MASTER_PORT", "29500"},
                     {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                     {"TORCHELASTIC_RESTART_COUNT", "2"}});
    const auto env = launch_env_from_environment();
    EXPECT_TRUE(env.distributed());
    EXPECT_EQ(env.rank, 3);
    EXPECT_EQ(env.world_size, 4);
    EXPECT_EQ(env.local_rank, 1);
    EXPECT_EQ(env.local_world_size, 2);
    EXPECT_EQ(env.master_addr, "10.0.0.1");
    EXPECT_EQ(env.master_port, 29500);
    EXPECT_TRUE(env.agent_store);
    EXPECT_EQ(env.restart_count, 2);
  }
  const auto message = [](std::vector<std::pair<std::string, std::string>> values) {
    ScopedEnv scope(std::move(values));
    try {
      launch_env_from_environment();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::pair<std::string, std::string> addr{"MASTER_ADDR", "127.0.0.1"},
      port{"MASTER_PORT", "29500"};
  test::expect_contains(message({{"WORLD_SIZE", "2"}, {"RANK", "2"}, addr, port}),
                        "RANK=2 is not an integer in [0, 1]");
  test::expect_contains(message({{"WORLD_SIZE", "two"}, addr, port}), "WORLD_SIZE=two");
  test::expect_contains(message({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", ""}, port}),
                        "MASTER_ADDR is not set");
  test::expect_contains(
      message({{"WORLD_SIZE", "2"}, {"RANK", "0"}, addr, {"MASTER_PORT", "70000"}}),
      "MASTER_PORT=70000");
}

TEST(ProcessGroup, TwoTorchrunWorkersSumAndBroadcast) {
  if (std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "inside a torchrun worker";
  if (!test::has_torchrun()) GTEST_SKIP() << "torchrun missing (python3-torch)";
  const auto run = test::torchrun_workers(2, "ProcessGroupWorker.SumsAndBroadcasts");
  EXPECT_EQ(run.rc, 0) << run.out;
  EXPECT_NE(run.out.find("[  PASSED  ] 1 test"), std::string::npos) << run.out;
}

TEST(ProcessGroup, ARankThatDiesMakesTheOtherFailWithinTheTimeoutNamingItself) {
  if (std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "inside a torchrun worker";
  if (!test::has_torchrun()) GTEST_SKIP() << "torchrun missing (python3-torch)";
  const auto start = std::chrono::steady_clock::now();
  const auto run = test::torchrun_workers(2, "ProcessGroupWorker.RankOneDies");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(run.rc, 0) << run.out;
  EXPECT_NE(run.out.find("rank 0 of 2: summing the survivor's tensor across ranks failed"),
            std::string::npos)
      << run.out;
  EXPECT_LT(seconds, 60.0) << run.out;  // the workers' timeout is 10 s; torchrun polls every 5 s
}

// ---- The workers: they run only inside torchrun (ATTNLAB_TEST_WORKER set). ----

TEST(ProcessGroupWorker, SumsAndBroadcasts) {
  if (!std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "run by ProcessGroup.* through torchrun";
  const auto env = launch_env_from_environment();
  ASSERT_EQ(env.world_size, 2);
  EXPECT_TRUE(env.agent_store);  // torchrun's static rendezvous serves the store itself
  ProcessGroup group(env, std::chrono::seconds(30));
  const float r = static_cast<float>(env.rank);
  // rank 0: (1, 10, ...), rank 1: (2, 20, ...): the sum is 3, 30, ... on both.
  auto t = torch::arange(1, 6, torch::kFloat) * (r + 1.0f) *
           torch::tensor({1.0f, 10.0f, 100.0f, 1e3f, 1e4f});
  group.all_reduce_sum(t, "a test tensor");
  EXPECT_TRUE(torch::allclose(t, torch::arange(1, 6, torch::kFloat) * 3.0f *
                                     torch::tensor({1.0f, 10.0f, 100.0f, 1e3f, 1e4f})))
      << t;
  auto big = torch::full({1 << 20}, r + 1.0, torch::kDouble);  // 8 MB: Gloo's ring, several chunks
  group.all_reduce_sum(big, "a large tensor");
  EXPECT_EQ(big.min().item<double>(), 3.0);
  EXPECT_EQ(big.max().item<double>(), 3.0);
  auto from_one = torch::full({3}, r == 1 ? 7L : -1L, torch::kLong);
  group.broadcast(from_one, /*root=*/1, "rank 1's numbers");
  EXPECT_TRUE(torch::equal(from_one, torch::full({3}, 7L, torch::kLong)));
}

TEST(ProcessGroupWorker, RankOneDies) {
  if (!std::getenv("ATTNLAB_TEST_WORKER")) GTEST_SKIP() << "run by ProcessGroup.* through torchrun";
  const auto env = launch_env_from_environment();
  ProcessGroup group(env, std::chrono::seconds(10));
  if (env.rank == 1) std::_Exit(3);
  auto t = torch::ones({4});
  try {
    group.all_reduce_sum(t, "the survivor's tensor");
    ADD_FAILURE() << "the sum succeeded without rank 1";
  } catch (const DistributedError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(1);
  }
}

}  // namespace
}  // namespace attnlab
