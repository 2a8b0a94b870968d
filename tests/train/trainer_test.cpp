// Trainer: exact resume, non-finite detection, checkpoint retention, early stopping.
#include "train/trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "data/tsv.h"
#include "support/tiny_task.h"
#include "support/train_helpers.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("attnlab_trainer_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    // A tiny reversal task, written by hand so the test does not depend on the generator.
    auto examples = fixtures::tiny_reverse_examples(96, "abcdef");
    write_tsv((root_ / "train.tsv").string(), {examples.begin(), examples.begin() + 80});
    write_tsv((root_ / "valid.tsv").string(), {examples.begin() + 80, examples.end()});
  }
  void TearDown() override { fs::remove_all(root_); }

  Config config(const std::string& name, std::vector<std::string> overrides = {}) {
    std::vector<std::string> base = {"run.name=" + name,
                                     "run.out_dir=" + root_.string(),
                                     "run.threads=1",
                                     "data.train=" + (root_ / "train.tsv").string(),
                                     "data.valid=" + (root_ / "valid.tsv").string(),
                                     "data.tokenization=word",
                                     "data.max_len=16",
                                     "model.d_model=16",
                                     "model.num_heads=2",
                                     "model.num_layers=1",
                                     "model.d_ff=32",
                                     "model.dropout=0.1",
                                     "model.attention_dropout=0.1",
                                     "train.batch_size=8",
                                     "train.max_steps=20",
                                     "train.warmup_steps=4",
                                     "train.lr=3e-3",
                                     "train.eval_interval=5",
                                     "train.checkpoint_interval=10",
                                     "train.keep_last=1",
                                     "log.interval=1",
                                     "log.progress=false"};
    base.insert(base.end(), overrides.begin(), overrides.end());
    return parse_config("{}", "test", base);
  }

  std::map<int64_t, std::string> losses(const std::string& run) {
    return test::logged_losses(root_ / run);
  }

  fs::path root_;
};

TEST_F(TrainerTest, ResumedRunRepeatsTheUninterruptedLossCurveExactly) {
  Trainer({config("full", {"train.keep_last=2"})}).run();
  const auto full = losses("full");
  ASSERT_EQ(full.size(), 20u);
  // Resume from the step-10 checkpoint of the full run, in a separate directory.
  fs::create_directories(root_ / "resumed");
  fs::copy_file(root_ / "full" / "step_00000010.pt", root_ / "resumed" / "step_00000010.pt");
  auto checkpoint = load_checkpoint((root_ / "resumed" / "step_00000010.pt").string());
  EXPECT_EQ(checkpoint.state.step, 10);
  Trainer resumed(config("resumed", {"train.keep_last=2"}), checkpoint);
  const auto result = resumed.run();
  EXPECT_EQ(result.steps, 20);
  const auto tail = losses("resumed");
  ASSERT_EQ(tail.size(), 10u);
  for (const auto& [step, loss] : tail) EXPECT_EQ(loss, full.at(step)) << "step " << step;
  // And the losses are not trivially equal from step to step (dropout and data order matter).
  EXPECT_NE(full.at(11), full.at(12));
}

// Resuming counts batches of the epoch under way: mid-epoch, another train.batch_size (or
// bucket_batches) would skip or repeat examples, so it is a ConfigError naming both sizes; at
// the end of an epoch the next epoch simply starts with the new size.
TEST_F(TrainerTest, ResumingMidEpochWithAnotherBatchSizeIsRefused) {
  Trainer({config("full", {"train.checkpoint_interval=5", "train.keep_last=4"})}).run();
  // 80 examples in batches of 8: step 5 is mid-epoch, step 10 ends the first epoch.
  const auto mid = load_checkpoint((root_ / "full" / "step_00000005.pt").string());
  ASSERT_EQ(mid.state.batch_in_epoch, 5);
  try {
    Trainer resumed(config("mid", {"train.batch_size=16"}), mid);
    ADD_FAILURE() << "resuming mid-epoch with another batch size was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    test::expect_contains(
        message, "after batch 5 of 10 of epoch 0, cut with batch_size=8 and bucket_batches=0");
    test::expect_contains(message, "resuming with batch_size=16");
  }
  EXPECT_THROW(Trainer(config("mid", {"train.bucket_batches=2"}), mid), ConfigError);
  Trainer same(config("mid_same"), mid);  // the run's own values resume as ever

  const auto end_of_epoch = load_checkpoint((root_ / "full" / "step_00000010.pt").string());
  fs::create_directories(root_ / "end");
  Trainer next(config("end", {"train.batch_size=16"}), end_of_epoch);
  const auto result = next.run();
  EXPECT_EQ(result.steps, 20);
  // Epoch 1 in batches of 16 is 5 steps, so steps 11-15 are epoch 1 and 16-20 epoch 2.
  EXPECT_EQ(load_checkpoint((root_ / "end" / "last.pt").string()).state.epoch, 2);
}

// train.grad_accum_steps: 2 at batch_size B/2 is the optimizer step of batch_size B: the same
// examples per step (72 examples: 5 batches of 16 an epoch, the last of 8; 9 batches of 8, the
// last step of each epoch taking one), the same dropout masks (they follow the examples), the
// loss weighed by tokens, one update. Only the summation order differs (two sums of 8 rows
// against one of 16), which moves fp32 losses by ~1e-7 relative; 1e-5 leaves room, while a
// wrong weighting (mean of the two halves' means), a lost half or other masks move them by
// 1e-3 or more.
// With train.bucket_batches too: buckets are cut from the step's global batches
// (bucket_batches x batch_size x grad_accum_steps examples), so the steps hold the same examples.
TEST_F(TrainerTest, AccumulatingTwoHalfBatchesEqualsTheWholeBatch) {
  auto examples = read_tsv((root_ / "train.tsv").string());
  write_tsv((root_ / "train72.tsv").string(), {examples.begin(), examples.begin() + 72});
  for (const std::string bucket : {"0", "2"}) {
    SCOPED_TRACE("train.bucket_batches=" + bucket);
    const std::vector<std::string> common = {"data.train=" + (root_ / "train72.tsv").string(),
                                             "model.dropout=0.1",
                                             "model.attention_dropout=0.1",
                                             "train.precision=fp32",
                                             "train.max_steps=15",
                                             "train.eval_interval=100",
                                             "train.bucket_batches=" + bucket};
    auto with = [&](std::vector<std::string> extra) {
      extra.insert(extra.begin(), common.begin(), common.end());
      return extra;
    };
    const std::string whole_run = "whole" + bucket, halves_run = "halves" + bucket;
    Trainer whole(config(whole_run, with({"train.batch_size=16"})));
    const auto whole_result = whole.run();
    Trainer halves(config(halves_run, with({"train.batch_size=8", "train.grad_accum_steps=2"})));
    const auto halves_result = halves.run();
    EXPECT_EQ(whole_result.steps, 15);
    EXPECT_EQ(halves_result.steps, 15);
    const auto a = losses(whole_run), b = losses(halves_run);
    ASSERT_EQ(a.size(), 15u);
    ASSERT_EQ(b.size(), 15u);
    double largest = 0.0;
    for (const auto& [step, loss] : a) {
      const double x = std::stod(loss), y = std::stod(b.at(step));
      largest = std::max(largest, std::abs(x - y) / std::abs(x));
      EXPECT_NEAR(y, x, 1e-5 * std::abs(x)) << "step " << step;
    }
    std::printf("bucket_batches=%s: largest relative loss difference over 15 steps: %.3g\n",
                bucket.c_str(), largest);
    EXPECT_GT(std::stod(a.at(1)) - std::stod(a.at(15)), 0.01) << "the run should learn something";
    // (Parameters are not compared: the key bias of attention has a gradient of pure rounding
    // noise, softmax being blind to it, and AdamW scales that noise up to lr-sized steps that
    // differ between the two runs; the losses are what the parameters do.)
    // Both read every example 15 / 5 = 3 times: the same tokens, the same place in the data.
    const auto last_a = load_checkpoint((root_ / whole_run / "last.pt").string());
    const auto last_b = load_checkpoint((root_ / halves_run / "last.pt").string());
    EXPECT_EQ(last_a.state.tokens_seen, last_b.state.tokens_seen);
    EXPECT_GT(last_a.state.tokens_seen, 0);
    EXPECT_EQ(last_a.state.epoch, last_b.state.epoch);
  }
}

TEST_F(TrainerTest, KeepsLastBestAndTheNewestPeriodicCheckpoints) {
  const auto result = Trainer(config("keep", {"train.max_steps=30"})).run();
  EXPECT_EQ(result.stop_reason, "finished");
  EXPECT_TRUE(fs::exists(root_ / "keep" / "last.pt"));
  EXPECT_TRUE(fs::exists(root_ / "keep" / "best.pt"));
  EXPECT_TRUE(fs::exists(root_ / "keep" / "step_00000030.pt"));
  EXPECT_FALSE(fs::exists(root_ / "keep" / "step_00000010.pt"));
  EXPECT_FALSE(fs::exists(root_ / "keep" / "step_00000020.pt"));
  EXPECT_TRUE(fs::exists(root_ / "keep" / "config.yaml"));
  EXPECT_EQ(load_checkpoint((root_ / "keep" / "last.pt").string()).state.step, 30);
  // best.pt is the first validation with the highest exact_match (train.best_metric auto for
  // transduction), as metrics.jsonl logged them: not merely the newest one.
  std::ifstream in(root_ / "keep" / "metrics.jsonl");
  const std::regex valid(R"re("kind": "valid", "step": ([0-9]+),.*"exact_match": ([-0-9.e+]+))re");
  int64_t best_step = -1, validations = 0;
  double best = -1.0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, valid)) continue;
    ++validations;
    if (std::stod(m[2]) > best) best = std::stod(m[2]), best_step = std::stoll(m[1]);
  }
  ASSERT_EQ(validations, 6);  // steps 5, 10, ..., 30
  EXPECT_EQ(load_checkpoint((root_ / "keep" / "best.pt").string()).state.step, best_step);
  EXPECT_EQ(result.best_step, best_step);
  EXPECT_DOUBLE_EQ(result.best_metric, best);
}

TEST_F(TrainerTest, NonFiniteStepsAreSkippedThenTheRunFails) {
  // An absurd learning rate drives the weights to inf within a few steps. Checkpoints every
  // step: the error names the newest one written, which exists and holds finite weights.
  Trainer trainer(config(
      "diverge", {"train.lr=1e30", "train.warmup_steps=0", "train.max_nonfinite_steps=3",
                  "train.grad_clip=0", "train.checkpoint_interval=1", "train.keep_last=100"}));
  std::string message;
  try {
    trainer.run();
    FAIL() << "expected TrainingError";
  } catch (const TrainingError& e) {
    message = e.what();
  }
  test::expect_contains(message, "3 consecutive steps");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(message, m,
                                std::regex(R"(last checkpoint written: (\S+) \(step ([0-9]+)\))")))
      << message;
  ASSERT_TRUE(fs::exists(m[1].str())) << message;
  const auto named = load_checkpoint(m[1].str());
  EXPECT_EQ(named.state.step, std::stoll(m[2]));
  for (const auto& [name, tensor] : named.model) EXPECT_TRUE(test::all_finite(tensor)) << name;
  EXPECT_FALSE(fs::exists(root_ / "diverge" / "last.pt")) << "the error must not name a last.pt";
  std::ifstream in(root_ / "diverge" / "metrics.jsonl");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"kind\": \"skipped\""), std::string::npos);

  // Without a checkpoint in the session, it says so instead of naming one.
  try {
    Trainer(config("diverge_early", {"train.lr=1e30", "train.warmup_steps=0",
                                     "train.max_nonfinite_steps=3", "train.grad_clip=0"}))
        .run();
    ADD_FAILURE() << "expected TrainingError";
  } catch (const TrainingError& e) {
    test::expect_contains(e.what(),
                          "no checkpoint was written since this session started at step 0");
  }
}

// Skipped steps are steps: a stop request during a run of them is honoured at once, and when
// the last step is skipped the run still validates and saves at its end.
TEST_F(TrainerTest, SkippedStepsStillStopOnSignalsAndValidateAtTheEnd) {
  Trainer stopped(config("stop", {"train.lr=1e30", "train.warmup_steps=0", "train.grad_clip=0",
                                  "train.max_nonfinite_steps=1000", "train.max_steps=300"}));
  bool sent = false;
  stopped.set_step_hook([&](EncoderModel&, int64_t step, bool) {
    if (step == 8 && !sent) sent = ::kill(::getpid(), SIGTERM) == 0;
  });
  const auto result = stopped.run();
  ASSERT_TRUE(sent);
  EXPECT_GT(result.skipped_steps, 0) << "the fixture should diverge within 8 steps";
  EXPECT_EQ(result.stop_reason, "interrupted");
  EXPECT_LE(result.steps, 12) << "the stop came at step 8";

  Trainer ends_skipped(config(
      "ends", {"train.lr=1e30", "train.warmup_steps=0", "train.grad_clip=0",
               "train.max_nonfinite_steps=1000", "train.max_steps=12", "train.eval_interval=100"}));
  const auto ended = ends_skipped.run();
  EXPECT_EQ(ended.stop_reason, "finished");
  std::ifstream in(root_ / "ends" / "metrics.jsonl");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  test::expect_contains(text, "\"kind\": \"skipped\", \"step\": 12");
  test::expect_contains(text, "\"kind\": \"valid\", \"step\": 12,");
}

TEST_F(TrainerTest, EarlyStoppingAndStopAt) {
  // lr ~0 never changes the predictions: accuracy stops improving after the first evaluation,
  // so the run stops `patience` evaluations later (evaluations at steps 5, 10, 15).
  auto r =
      Trainer(config("patience", {"train.lr=1e-12", "train.max_steps=100",
                                  "train.early_stopping_patience=2", "train.best_metric=accuracy"}))
          .run();
  EXPECT_EQ(r.stop_reason, "early_stopping");
  EXPECT_EQ(r.steps, 15);
  // A target reached at the first evaluation stops there.
  auto s = Trainer(config("stop_at", {"train.stop_at=0.0001", "train.max_steps=40",
                                      "train.best_metric=accuracy"}))
               .run();
  EXPECT_EQ(s.stop_reason, "stop_at");
  EXPECT_EQ(s.steps, 5);
  EXPECT_GE(s.seconds_to_stop_at, 0.0);
}

}  // namespace
}  // namespace attnlab
