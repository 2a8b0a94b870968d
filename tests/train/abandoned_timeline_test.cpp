// Resuming from an older checkpoint into the same run directory: the later timeline's files
// are moved aside (not deleted, not left to outrank the new ones).
#include "train/abandoned_timeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/tsv.h"
#include "support/tiny_task.h"
#include "support/train_helpers.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class AbandonedTimelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto examples = fixtures::tiny_reverse_examples(96, "abcdef");
    write_tsv(dir_.file("train.tsv"), {examples.begin(), examples.begin() + 80});
    write_tsv(dir_.file("valid.tsv"), {examples.begin() + 80, examples.end()});
  }
  Config config(std::vector<std::string> overrides) {
    std::vector<std::string> base = {"run.name=run",
                                     "run.out_dir=" + dir_.path().string(),
                                     "run.threads=1",
                                     "data.train=" + dir_.file("train.tsv"),
                                     "data.valid=" + dir_.file("valid.tsv"),
                                     "data.tokenization=word",
                                     "data.max_len=16",
                                     "model.d_model=16",
                                     "model.num_heads=2",
                                     "model.num_layers=1",
                                     "model.d_ff=32",
                                     "model.dropout=0.0",
                                     "train.batch_size=8",
                                     "train.warmup_steps=2",
                                     "train.lr=3e-3",
                                     "train.eval_interval=5",
                                     "train.checkpoint_interval=5",
                                     "train.keep_last=1",
                                     "train.best_metric=loss",
                                     "log.interval=1",
                                     "log.progress=false"};
    base.insert(base.end(), overrides.begin(), overrides.end());
    return parse_config("{}", "test", base);
  }
  fs::path run() const { return dir_.path() / "run"; }
  test::ScratchDir dir_;
};

// The case that lost a checkpoint: keep_last 1, a run at step 20, resumed from a copy of its
// step-10 checkpoint in the same directory. The stale step_20.pt used to outrank the new
// step_15.pt, so pruning deleted the file just written.
TEST_F(AbandonedTimelineTest, ResumingFromAnOlderCheckpointMovesTheLaterOnesAside) {
  Trainer(config({"train.max_steps=10"})).run();
  const auto step10 = dir_.file("step10_copy.pt");
  fs::copy_file(run() / "step_00000010.pt", step10);
  Trainer(config({"train.max_steps=20"}), load_checkpoint(run() / "last.pt")).run();
  ASSERT_TRUE(fs::exists(run() / "step_00000020.pt"));
  ASSERT_FALSE(fs::exists(run() / "step_00000010.pt"));  // pruned: keep_last 1
  const int64_t best_before = load_checkpoint((run() / "best.pt").string()).state.step;

  fs::copy_file(step10, run() / "step_00000010.pt");
  Trainer(config({"train.max_steps=15"}), load_checkpoint((run() / "step_00000010.pt").string()))
      .run();
  EXPECT_TRUE(fs::exists(run() / "step_00000015.pt")) << "the new periodic checkpoint was pruned";
  EXPECT_FALSE(fs::exists(run() / "step_00000020.pt"));
  EXPECT_EQ(load_checkpoint((run() / "last.pt").string()).state.step, 15);
  // The abandoned files are in one abandoned_<time>/ folder, whole.
  std::vector<fs::path> aside;
  for (const auto& entry : fs::directory_iterator(run()))
    if (entry.path().filename().string().rfind("abandoned_", 0) == 0) aside.push_back(entry.path());
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(load_checkpoint((aside[0] / "step_00000020.pt").string()).state.step, 20);
  EXPECT_EQ(load_checkpoint((aside[0] / "last.pt").string()).state.step, 20);
  // best.pt went aside when it came from the abandoned steps 11-20; the run's own is from
  // steps up to 15 (the resumed session validates at 15).
  if (best_before > 10)
    EXPECT_EQ(load_checkpoint((aside[0] / "best.pt").string()).state.step, best_before);
  else
    EXPECT_FALSE(fs::exists(aside[0] / "best.pt"));
  ASSERT_TRUE(fs::exists(run() / "best.pt"));
  EXPECT_LE(load_checkpoint((run() / "best.pt").string()).state.step, 15);
  // metrics.jsonl: the run's lines go to step 15 with each step once; the old file is aside.
  std::ifstream in(run() / "metrics.jsonl");
  int train_lines_11_to_15 = 0, beyond_15 = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"kind\": \"train\"") == std::string::npos) continue;
    const auto at = line.find("\"step\": ");
    const int64_t step = std::stoll(line.substr(at + 8));
    train_lines_11_to_15 += step > 10 && step <= 15;
    beyond_15 += step > 15;
  }
  EXPECT_EQ(train_lines_11_to_15, 5);
  EXPECT_EQ(beyond_15, 0);
  test::expect_contains(test::read_text((aside[0] / "metrics.jsonl").string()), "\"step\": 20,");
}

TEST_F(AbandonedTimelineTest, NothingLaterMeansNothingMoved) {
  Trainer(config({"train.max_steps=10"})).run();
  const auto result = set_aside_abandoned_timeline(run().string(), 10);
  EXPECT_TRUE(result.directory.empty());
  EXPECT_TRUE(result.moved.empty());
  for (const auto& entry : fs::directory_iterator(run()))
    EXPECT_NE(entry.path().filename().string().rfind("abandoned_", 0), 0u) << entry.path();
  const auto earlier = set_aside_abandoned_timeline(run().string(), 4);
  EXPECT_FALSE(earlier.directory.empty());
  EXPECT_TRUE(fs::exists(fs::path(earlier.directory) / "step_00000010.pt"));
}

}  // namespace
}  // namespace attnlab
