// `attnlab train` under torchrun (data parallel, runtime/process_group.h): the loss curve of
// two ranks against one process on the same global batches, resuming across world sizes, the
// batch-size check, and what a dying rank or a SIGTERM to torchrun does.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "attention_log/record.h"
#include "data/tsv.h"
#include "io/directory_lock.h"
#include "support/common.h"
#include "support/image_task.h"
#include "support/tiny_task.h"
#include "support/torchrun.h"
#include "support/train_helpers.h"
#include "train/checkpoint.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class DataParallelTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::has_torchrun()) GTEST_SKIP() << "torchrun missing (python3-torch; scripts/setup.sh)";
    // 97 training examples: each epoch ends with a batch of one, so with two ranks rank 1's
    // share of it is empty (train_step's empty-share path).
    auto examples = fixtures::tiny_reverse_examples(117, "abcdefgh");
    write_tsv(dir_.file("train.tsv"), {examples.begin(), examples.begin() + 97});
    write_tsv(dir_.file("valid.tsv"), {examples.begin() + 97, examples.end()});
    // fp32, one thread, a constant learning rate after warmup (so that a run's max_steps does
    // not change its schedule and a shorter run is a prefix of a longer one), and dropout on:
    // its masks follow the examples, so any split of a batch draws the same ones.
    test::write_text(
        dir_.file("tiny.yaml"),
        "run: {name: tiny, out_dir: runs, threads: 1, dist_timeout_s: 60}\n"
        "data: {task: transduction, train: train.tsv, valid: valid.tsv, tokenization: word}\n"
        "model: {d_model: 32, num_heads: 2, num_layers: 1, d_ff: 64, dropout: 0.1,\n"
        "        attention_dropout: 0.1}\n"
        "train: {batch_size: 16, max_steps: 45, warmup_steps: 5, lr: 3.0e-3, schedule: constant,\n"
        "        precision: fp32, eval_interval: 15, checkpoint_interval: 15}\n"
        "log: {interval: 1, progress: false}\n");
  }
  // `attnlab train ARGS` on one process or under torchrun; its output (last_rc_: the status).
  std::string attnlab_train(const std::string& args, int ranks = 1) {
    const std::string launcher = ranks == 1 ? "" : test::torchrun_prefix(ranks, test::free_port());
    const auto r = test::run_shell(launcher + ATTNLAB_BINARY + " train " + args + " 2>&1");
    last_rc_ = r.rc;
    return r.out;
  }
  std::string train(const std::string& args, int ranks = 1) {
    return attnlab_train("--config " + dir_.file("tiny.yaml") + " " + args, ranks);
  }
  std::map<int64_t, double> losses(const std::string& name) {
    std::map<int64_t, double> out;
    for (const auto& [step, text] : test::logged_losses(dir_.path() / "runs" / name))
      out[step] = std::stod(text);
    return out;
  }
  // Starts `command` under /bin/sh without waiting; returns its pid (sh execs the command).
  static pid_t launch(const std::string& command) {
    const std::string shell_command = "exec " + command;  // built before fork: no malloc after it
    const pid_t pid = ::fork();
    if (pid == 0) {
      // This test process blocks SIGINT/SIGTERM in every thread (its stop-signal watcher takes
      // them, as attnlab's does), and a blocked mask survives exec: open it for torchrun.
      sigset_t none;
      sigemptyset(&none);
      ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
      ::execl("/bin/sh", "sh", "-c", shell_command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }
  // Two ranks training tiny.yaml into runs/NAME in the background (no validation, a checkpoint
  // every 10 steps, `sets`: more --set flags; `torchrun_flags`: more launcher flags), their
  // output in NAME.log; returns torchrun's pid.
  pid_t launch_two_ranks(const std::string& name, const std::string& sets,
                         const std::string& torchrun_flags = "") {
    return launch(test::torchrun_prefix(2, test::free_port(), torchrun_flags) + ATTNLAB_BINARY +
                  " train --config " + dir_.file("tiny.yaml") + " --set run.name=" + name +
                  " --set train.eval_interval=100000 --set train.checkpoint_interval=10 " + sets +
                  " > " + dir_.file(name + ".log") + " 2>&1");
  }
  // Waits up to `seconds` for `pid`; its exit status, or -1 after killing it (and its workers)
  // when it is still running then.
  static int wait_for(pid_t pid, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    test::run_shell("pkill -KILL -P " + std::to_string(pid));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  // Polls for `path` up to `seconds`.
  static bool appears(const fs::path& path, double seconds) {
    for (int i = 0; i < static_cast<int>(seconds * 100); ++i) {
      if (fs::exists(path)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // The pid of torchrun's worker of `rank` (a child of the torchrun process), or 0.
  static pid_t worker_of_rank(pid_t torchrun, int rank) {
    const auto children = test::run_shell("pgrep -P " + std::to_string(torchrun)).out;
    size_t start = 0;
    while (start < children.size()) {
      const size_t end = children.find('\n', start);
      const std::string pid = children.substr(start, end - start);
      start = end == std::string::npos ? children.size() : end + 1;
      if (pid.empty()) continue;
      std::ifstream in("/proc/" + pid + "/environ", std::ios::binary);
      const std::string variables((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
      // "RANK=1" as a whole variable (LOCAL_RANK, ROLE_RANK and GROUP_RANK end the same way).
      const std::string variable = "RANK=" + std::to_string(rank) + std::string(1, '\0');
      if (variables.rfind(variable, 0) == 0 ||
          variables.find(std::string(1, '\0') + variable) != std::string::npos)
        return static_cast<pid_t>(std::stoi(pid));
    }
    return 0;
  }
  test::ScratchDir dir_;
  int last_rc_ = -1;
};

// The tolerance: both runs are fp32 and sum the same numbers in other orders (GEMMs over 8
// rows instead of 16, the two halves of the loss and of every gradient added by Gloo instead of
// inside one reduction), ~1e-7 relative per operation, which Adam's normalised updates may let
// grow over the steps: the largest difference measured over these 45 steps was 2.9e-7. 1e-4
// leaves a margin of 300 and is still 100 times below what one step moves the loss (~1e-2), so
// another batch, order or weighting of the ranks' losses fails it.
constexpr double kCurveTolerance = 1e-4;

TEST_F(DataParallelTrain, TwoRanksFollowTheOneProcessCurveAndResumeOnOne) {
  const auto one = train("--set run.name=one");
  ASSERT_EQ(last_rc_, 0) << one;
  // Two ranks, 30 of the 45 steps (a prefix: constant schedule), each on 8 of the 16 examples.
  const auto two = train("--set run.name=two --set train.max_steps=30", /*ranks=*/2);
  ASSERT_EQ(last_rc_, 0) << two;
  test::expect_contains(two, "[dist] rank=0 world=2 (2 on this machine), gloo, 1 threads per rank");
  test::expect_contains(two, "train.batch_size=16 is the global batch, 8 per rank");
  test::expect_contains(two, "[dist] parameters identical on all 2 ranks after step 30");
  // Validation is sharded (10 of the 20 examples each) and its counts summed: the step-30
  // validation equals a one-process `attnlab eval` of the step-30 checkpoint.
  const auto eval =
      test::run_shell(std::string(ATTNLAB_BINARY) + " eval --checkpoint " +
                      (dir_.path() / "runs/two/last.pt").string() +
                      " --split valid --precision fp32 --threads 1 --samples 0 --json - 2>&1");
  ASSERT_EQ(eval.rc, 0) << eval.out;
  const auto metrics = test::read_text((dir_.path() / "runs/two/metrics.jsonl").string());
  const auto valid_at_30 = metrics.substr(metrics.rfind("{\"kind\": \"valid\", \"step\": 30,"));
  for (const std::string key : {"loss", "accuracy", "exact_match"}) {
    const std::regex number("\"" + key + "\": ?([-0-9.eE+]+)");
    std::smatch in_run, in_eval;
    ASSERT_TRUE(std::regex_search(valid_at_30, in_run, number)) << key << " in " << valid_at_30;
    ASSERT_TRUE(std::regex_search(eval.out, in_eval, number)) << key << " in " << eval.out;
    const double sharded = std::stod(in_run[1]), whole = std::stod(in_eval[1]);
    // Counts are exact; the loss is summed in another order and over other paddings.
    EXPECT_NEAR(sharded, whole, key == "loss" ? 1e-6 * std::abs(whole) : 0.0) << key;
  }
  // Then on one process, from the two-rank checkpoint: the data position is in global batches.
  const auto resumed = attnlab_train("--resume " + (dir_.path() / "runs/two/last.pt").string() +
                                     " --set train.max_steps=45");
  ASSERT_EQ(last_rc_, 0) << resumed;

  const auto reference = losses("one"), data_parallel = losses("two");
  ASSERT_EQ(reference.size(), 45u);
  ASSERT_EQ(data_parallel.size(), 45u);  // 30 from two ranks, 15 resumed on one
  double worst = 0.0;
  for (const auto& [step, loss] : reference) {
    const double diff = std::abs(data_parallel.at(step) - loss);
    worst = std::max(worst, diff);
    EXPECT_LT(diff, kCurveTolerance)
        << "step " << step << ": one process " << loss << ", two ranks (resumed on one after 30) "
        << data_parallel.at(step);
  }
  std::printf("largest loss difference over 45 steps: %.3g\n", worst);
  EXPECT_EQ(attnlab::load_checkpoint((dir_.path() / "runs/two/last.pt").string()).state.step, 45);
}

// Images: random crops, flips and dropout drawn per image, so two ranks that each see half of
// every batch follow the one-process curve; rank 0 alone logs the probe images' attention.
TEST_F(DataParallelTrain, ImagesWithAugmentationFollowTheOneProcessCurve) {
  test::write_quadrant_split(dir_.path().string(), "train", 80, /*seed=*/1);
  test::write_quadrant_split(dir_.path().string(), "valid", 16, /*seed=*/2);
  test::write_text(
      dir_.file("vit.yaml"),
      "run: {name: vit, out_dir: runs, threads: 1, dist_timeout_s: 60}\n"
      "data: {task: image_classification, format: idx, train: train-images-idx3-ubyte,\n"
      "       valid: valid-images-idx3-ubyte, image: {augment: {crop_padding: 1, flip: true}}}\n"
      "model: {patch_size: 4, d_model: 16, num_heads: 2, num_layers: 1, d_ff: 32, dropout: 0.1}\n"
      "train: {batch_size: 16, max_steps: 20, warmup_steps: 5, lr: 3.0e-3, schedule: constant,\n"
      "        precision: fp32, eval_interval: 10, checkpoint_interval: 10}\n"
      "log: {interval: 1, progress: false, attention: {enabled: true, every: 10, num_examples: "
      "2}}\n");
  const auto one = attnlab_train("--config " + dir_.file("vit.yaml") + " --set run.name=one");
  ASSERT_EQ(last_rc_, 0) << one;
  const auto two =
      attnlab_train("--config " + dir_.file("vit.yaml") + " --set run.name=two", /*ranks=*/2);
  ASSERT_EQ(last_rc_, 0) << two;
  test::expect_contains(two, "train.batch_size=16 is the global batch, 8 per rank");
  const auto reference = losses("one"), data_parallel = losses("two");
  ASSERT_EQ(reference.size(), 20u);
  ASSERT_EQ(data_parallel.size(), 20u);
  for (const auto& [step, loss] : reference)
    EXPECT_LT(std::abs(data_parallel.at(step) - loss), kCurveTolerance)
        << "step " << step << ": one process " << loss << ", two ranks " << data_parallel.at(step);
  for (const int64_t step : {0, 10, 20})
    EXPECT_TRUE(fs::exists(dir_.path() / "runs/two/attention" / record_file_name(step)))
        << "step " << step;
}

TEST_F(DataParallelTrain, ABatchThatDoesNotSplitEvenlyIsAConfigErrorBeforeAnyWork) {
  const auto out = train("--set run.name=odd --set train.batch_size=15", /*ranks=*/2);
  EXPECT_NE(last_rc_, 0) << out;  // torchrun reports the workers' exit 2 as its own failure
  test::expect_contains(out, "config error: train.batch_size: 15 is not divisible by WORLD_SIZE=2");
  EXPECT_FALSE(fs::exists(dir_.path() / "runs/odd/metrics.jsonl"));
}

// torchrun forwards a SIGTERM to every worker: the ranks agree on the step to stop at, rank 0
// writes last.pt, and it loads.
TEST_F(DataParallelTrain, SigtermToTorchrunLeavesALoadableLastCheckpoint) {
  const fs::path run_dir = dir_.path() / "runs" / "term";
  const std::string command = test::torchrun_prefix(2, test::free_port()) + ATTNLAB_BINARY +
                              " train --config " + dir_.file("tiny.yaml") +
                              " --set run.name=term --set train.max_steps=5000 > " +
                              dir_.file("term.log") + " 2>&1";
  const pid_t launcher = launch(command);
  ASSERT_GT(launcher, 0);
  for (int i = 0; i < 600; ++i) {  // until the workers train (metrics.jsonl has a step)
    if (test::read_text((run_dir / "metrics.jsonl").string()).find("\"step\"") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(launcher, SIGTERM);
  int status = 0;
  ::waitpid(launcher, &status, 0);
  const auto log = test::read_text(dir_.file("term.log"));
  test::expect_contains(log, "stopping after step");
  const auto last = load_checkpoint((run_dir / "last.pt").string());
  EXPECT_GT(last.state.step, 0) << log;
  EXPECT_LT(last.state.step, 5000) << log;
  EXPECT_EQ(log.find("failed"), std::string::npos) << log;  // no rank lost its peer on the way
}

// Two "machines" on one: two torchrun launchers, one per node (--nnodes 2, --node_rank 0 and
// 1, one worker each), meeting at 127.0.0.1 as two hosts would meet at the first one's address.
// Gloo goes over the interface GLOO_SOCKET_IFNAME names (lo here; a real network's elsewhere).
// They also accumulate gradients: batches of 8 (4 per rank), 2 per step, all-reduced once per
// step. Their 30 steps follow the one-process curve with batches of 16.
TEST_F(DataParallelTrain, TwoNodesAccumulatingHalfBatchesFollowTheOneProcessCurve) {
  const auto one = train("--set run.name=one --set train.max_steps=30");
  ASSERT_EQ(last_rc_, 0) << one;
  const int port = test::free_port();
  std::vector<pid_t> nodes;
  for (int node = 0; node < 2; ++node)
    nodes.push_back(launch("env GLOO_SOCKET_IFNAME=lo " + std::string(test::kTorchrun) +
                           " --nnodes 2 --node_rank " + std::to_string(node) +
                           " --nproc_per_node 1 --master_addr 127.0.0.1 --master_port " +
                           std::to_string(port) + " --redirects 2 --tee 2 --no_python " +
                           ATTNLAB_BINARY + " train --config " + dir_.file("tiny.yaml") +
                           " --set run.name=nodes --set train.max_steps=30 --set train.batch_size=8"
                           " --set train.grad_accum_steps=2 > " +
                           dir_.file("node" + std::to_string(node) + ".log") + " 2>&1"));
  for (int node = 0; node < 2; ++node) {
    const int rc = wait_for(nodes[static_cast<size_t>(node)], 120);
    EXPECT_EQ(rc, 0) << test::read_text(dir_.file("node" + std::to_string(node) + ".log"));
  }
  const auto log0 = test::read_text(dir_.file("node0.log"));
  test::expect_contains(log0, "[dist] rank=0 world=2 (1 on this machine)");
  test::expect_contains(log0, "[dist] parameters identical on all 2 ranks after step 30");
  const auto reference = losses("one"), nodes_curve = losses("nodes");
  ASSERT_EQ(reference.size(), 30u);
  ASSERT_EQ(nodes_curve.size(), 30u);
  double worst = 0.0;
  for (const auto& [step, loss] : reference) {
    worst = std::max(worst, std::abs(nodes_curve.at(step) - loss));
    EXPECT_LT(std::abs(nodes_curve.at(step) - loss), kCurveTolerance) << "step " << step;
  }
  std::printf("largest loss difference over 30 steps, two nodes against one process: %.3g\n",
              worst);
}

// A rank that dies (SIGKILL: no goodbye) fails the run: torchrun stops the other rank, which
// finds its peer gone in its next collective, and exits non-zero; nothing waits for the
// 60 s timeout, let alone forever.
TEST_F(DataParallelTrain, AKilledRankFailsTheRunWellWithinTheTimeout) {
  const fs::path run_dir = dir_.path() / "runs" / "killed";
  const auto started = std::chrono::steady_clock::now();
  const pid_t launcher = launch_two_ranks("killed", "--set train.max_steps=100000");
  ASSERT_GT(launcher, 0);
  ASSERT_TRUE(appears(run_dir / "step_00000010.pt", 120))
      << test::read_text(dir_.file("killed.log"));
  const pid_t rank1 = worker_of_rank(launcher, 1);
  ASSERT_GT(rank1, 0) << test::run_shell("ps -ef --forest").out;
  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(rank1, SIGKILL);
  const int rc = wait_for(launcher, 60);
  const double after_kill =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  const auto log = test::read_text(dir_.file("killed.log"));
  EXPECT_NE(rc, 0) << log;
  EXPECT_NE(rc, -1) << "torchrun still ran 60 s after a rank was killed:\n" << log;
  EXPECT_LT(after_kill, 30.0) << log;
  std::printf("torchrun exited %d, %.1f s after rank 1 was killed (%.1f s in all)\n", rc,
              after_kill,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // No last.pt claims a finished run; the periodic checkpoints are intact.
  EXPECT_FALSE(fs::exists(run_dir / "last.pt"));
  EXPECT_GE(load_checkpoint((run_dir / "step_00000010.pt").string()).state.step, 10);
}

// A rank that hangs (SIGSTOP: alive, silent) fails the others once run.dist_timeout_s (5 s
// here) has passed, with the message that says so. (torchrun then spends ~30 s stopping the
// frozen worker, SIGTERM first; the test kills it instead of waiting.)
TEST_F(DataParallelTrain, AHungRankFailsTheOthersAfterTheTimeout) {
  const fs::path run_dir = dir_.path() / "runs" / "hung";
  const pid_t launcher =
      launch_two_ranks("hung", "--set run.dist_timeout_s=5 --set train.max_steps=100000");
  ASSERT_GT(launcher, 0);
  ASSERT_TRUE(appears(run_dir / "step_00000010.pt", 120)) << test::read_text(dir_.file("hung.log"));
  const pid_t rank1 = worker_of_rank(launcher, 1);
  ASSERT_GT(rank1, 0) << test::run_shell("ps -ef --forest").out;
  ::kill(rank1, SIGSTOP);
  const auto stopped_at = std::chrono::steady_clock::now();
  const std::string expected = "across ranks failed (a rank died, or hung for more than 5 s)";
  bool reported = false;
  while (!reported && std::chrono::steady_clock::now() - stopped_at < std::chrono::seconds(30)) {
    reported = test::read_text(dir_.file("hung.log")).find(expected) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  ::kill(rank1, SIGKILL);
  ::kill(rank1, SIGCONT);
  const int rc = wait_for(launcher, 60);
  const auto log = test::read_text(dir_.file("hung.log"));
  ASSERT_TRUE(reported) << log;
  test::expect_contains(log, "attnlab train: error: rank 0 of 2: ");
  EXPECT_GE(after, 4.5) << log;   // not before the timeout...
  EXPECT_LT(after, 15.0) << log;  // ...and soon after it
  EXPECT_NE(rc, 0) << log;
  std::printf("rank 0 gave up %.1f s after rank 1 froze (run.dist_timeout_s=5)\n", after);
}

// torchrun --max_restarts 1 with train.resume: auto: after a rank is killed, torchrun starts
// both again and they continue from the newest checkpoint to the end.
TEST_F(DataParallelTrain, MaxRestartsWithResumeAutoFinishesAKilledRun) {
  const fs::path run_dir = dir_.path() / "runs" / "restarted";
  const pid_t launcher = launch_two_ranks(
      "restarted", "--set train.resume=auto --set train.max_steps=400", "--max_restarts 1");
  ASSERT_GT(launcher, 0);
  ASSERT_TRUE(appears(run_dir / "step_00000020.pt", 120))
      << test::read_text(dir_.file("restarted.log"));
  const pid_t rank0 = worker_of_rank(launcher, 0);
  ASSERT_GT(rank0, 0) << test::run_shell("ps -ef --forest").out;
  ::kill(rank0, SIGKILL);
  const int rc = wait_for(launcher, 240);
  const auto log = test::read_text(dir_.file("restarted.log"));
  ASSERT_EQ(rc, 0) << log;
  test::expect_contains(log, "train.resume=auto: no checkpoint in ");  // the first start
  test::expect_contains(log, "train.resume=auto: resuming from " + (run_dir / "step_").string());
  const auto last = load_checkpoint((run_dir / "last.pt").string());
  EXPECT_EQ(last.state.step, 400);
  // train.log holds both starts: the second resumed where the first's newest checkpoint was.
  const auto train_log = test::read_text((run_dir / "train.log").string());
  test::expect_contains(train_log, "resuming at step ");
}

// On one process, train.resume: auto starts a run afresh, then continues it from its newest
// checkpoint when the same command runs again (here with more steps).
TEST_F(DataParallelTrain, ResumeAutoOnOneProcessContinuesFromTheNewestCheckpoint) {
  const auto first = train("--set run.name=auto --set train.resume=auto --set train.max_steps=20");
  ASSERT_EQ(last_rc_, 0) << first;
  test::expect_contains(
      first, "no checkpoint in " + (dir_.path() / "runs/auto").string() + ", starting afresh");
  // A newer periodic checkpoint than last.pt wins (what a kill after a resume leaves).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fs::copy_file(dir_.path() / "runs/auto/step_00000015.pt",
                dir_.path() / "runs/auto/step_00000016.pt");
  const auto second = train("--set run.name=auto --set train.resume=auto --set train.max_steps=30");
  ASSERT_EQ(last_rc_, 0) << second;
  test::expect_contains(
      second,
      "resuming from " + (dir_.path() / "runs/auto/step_00000016.pt").string() + " (step 15)");
  EXPECT_EQ(load_checkpoint((dir_.path() / "runs/auto/last.pt").string()).state.step, 30);
  // Without train.resume: auto the same command refuses the directory, as before.
  const auto third = train("--set run.name=auto --set train.max_steps=40");
  EXPECT_EQ(last_rc_, 2) << third;
  test::expect_contains(third, "already holds a run");
  // A run's output without any checkpoint is refused, not cleared: auto never deletes a run.
  fs::create_directories(dir_.path() / "runs/nockpt");
  test::write_text((dir_.path() / "runs/nockpt/metrics.jsonl").string(), "{}\n");
  const auto fourth =
      train("--set run.name=nockpt --set train.resume=auto --set train.max_steps=10");
  EXPECT_EQ(last_rc_, 2) << fourth;
  test::expect_contains(fourth, "holds a run but no checkpoint to resume from");
  EXPECT_EQ(test::read_text((dir_.path() / "runs/nockpt/metrics.jsonl").string()), "{}\n");
  // --overwrite with auto is a usage error: every torchrun restart would clear the run.
  const auto fifth = train("--set run.name=auto --set train.resume=auto --overwrite");
  EXPECT_EQ(last_rc_, 2) << fifth;
  test::expect_contains(fifth, "--overwrite and train.resume=auto contradict each other");
  EXPECT_EQ(load_checkpoint((dir_.path() / "runs/auto/last.pt").string()).state.step, 30);
}

// train.resume: auto takes the run directory's lock before it reads the directory: while
// another process holds it, the run stops on that, naming the holder, and never reads (here: a
// broken) newest checkpoint a writer may be replacing.
TEST_F(DataParallelTrain, ResumeAutoTakesTheLockBeforeReadingTheDirectory) {
  fs::create_directories(dir_.path() / "runs/held");
  test::write_text((dir_.path() / "runs/held/step_00000005.pt").string(), "not a checkpoint");
  {
    DirectoryLock held((dir_.path() / "runs/held").string());
    const auto out = train("--set run.name=held --set train.resume=auto --set train.max_steps=10");
    EXPECT_EQ(last_rc_, 2) << out;
    test::expect_contains(out, "runs/held");
    EXPECT_EQ(out.find("not a checkpoint"), std::string::npos) << out;
    EXPECT_EQ(out.find("step_00000005.pt"), std::string::npos) << out;
  }
  // Once it is free, the broken checkpoint is what auto finds, and says so.
  const auto out = train("--set run.name=held --set train.resume=auto --set train.max_steps=10");
  EXPECT_NE(last_rc_, 0) << out;
  test::expect_contains(out, "step_00000005.pt");
}

}  // namespace
}  // namespace attnlab
