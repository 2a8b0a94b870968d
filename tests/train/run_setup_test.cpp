// Run preparation without the command line (train/run_setup.h): what a new run, a --resume and
// train.resume=auto resolve to, the lock they hold, and the runs they refuse. The torchrun cases
// (ranks that see different checkpoints, a rank 0 that cannot set up) are in
// tests/cli/train_command_test.cpp.
#include "train/run_setup.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "data/tsv.h"
#include "io/directory_lock.h"
#include "support/common.h"
#include "support/tiny_task.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

class RunSetup : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_logger_ = spdlog::default_logger();  // prepare_run logs into the run directory
    auto examples = fixtures::tiny_reverse_examples(60, "abcdef");
    write_tsv(dir_.file("train.tsv"), {examples.begin(), examples.begin() + 48});
    write_tsv(dir_.file("valid.tsv"), {examples.begin() + 48, examples.end()});
    test::write_text(
        dir_.file("tiny.yaml"),
        "run: {name: tiny, out_dir: runs, threads: 1}\n"
        "data: {task: transduction, train: train.tsv, valid: valid.tsv, tokenization: word}\n"
        "model: {d_model: 16, num_heads: 2, num_layers: 1, d_ff: 32, dropout: 0.0}\n"
        "train: {batch_size: 16, max_steps: 4, warmup_steps: 1, precision: fp32,\n"
        "        eval_interval: 2, checkpoint_interval: 2}\n"
        "log: {interval: 2, progress: false, attention: {enabled: false}}\n");
  }
  void TearDown() override { spdlog::set_default_logger(previous_logger_); }

  TrainRequest new_run(std::vector<std::string> overrides = {}) {
    TrainRequest r;
    r.config_path = dir_.file("tiny.yaml");
    r.overrides = std::move(overrides);
    return r;
  }
  std::string run_dir() const { return dir_.file("runs/tiny"); }

  test::ScratchDir dir_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

TEST_F(RunSetup, ANewRunHoldsTheLockOfItsDirectory) {
  auto run = prepare_run(new_run());
  EXPECT_FALSE(run.checkpoint.has_value());
  EXPECT_EQ(fs::canonical(run.run_dir), fs::canonical(run_dir()));
  EXPECT_TRUE(run.resume_note.empty());
  ASSERT_TRUE(run.lock);
  ASSERT_TRUE(run.group);
  EXPECT_EQ(run.group->world_size(), 1);
  EXPECT_THROW(DirectoryLock{run_dir()}, DirectoryInUseError);  // a second train stops here
  EXPECT_TRUE(fs::exists(fs::path(run_dir()) / "train.log"));
  run.lock.reset();
  EXPECT_NO_THROW(DirectoryLock{run_dir()});
}

TEST_F(RunSetup, ResumeContinuesInTheCheckpointsDirectoryAndAutoFindsTheNewest) {
  {
    auto run = prepare_run(new_run());
    Trainer(run.config, std::nullopt, run.group.get()).run();
  }
  EXPECT_FALSE(has_run_output(dir_.file("nowhere")));
  EXPECT_TRUE(has_run_output(run_dir()));
  EXPECT_EQ(newest_checkpoint(dir_.file("nowhere")), "");
  // The newest by time: touch best.pt after last.pt.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fs::last_write_time(fs::path(run_dir()) / "best.pt", fs::file_time_type::clock::now());
  EXPECT_EQ(fs::path(newest_checkpoint(run_dir())).filename(), "best.pt");
  fs::last_write_time(fs::path(run_dir()) / "last.pt",
                      fs::file_time_type::clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(fs::path(newest_checkpoint(run_dir())).filename(), "last.pt");

  // --resume from a copy of the run elsewhere: the run continues where the checkpoint is.
  fs::create_directories(dir_.file("moved"));
  fs::copy(run_dir(), dir_.file("moved/tiny"), fs::copy_options::recursive);
  TrainRequest resume;
  resume.resume = dir_.file("moved/tiny/last.pt");
  resume.overrides = {"train.max_steps=6"};
  {
    auto run = prepare_run(resume);
    ASSERT_TRUE(run.checkpoint.has_value());
    EXPECT_EQ(run.checkpoint->state.step, 4);
    EXPECT_EQ(fs::canonical(run.run_dir), fs::canonical(dir_.file("moved/tiny")));
    EXPECT_EQ(run.config.train.max_steps, 6);
  }
  // train.resume=auto: the newest checkpoint of the run directory, said in the note.
  auto automatic = prepare_run(new_run({"train.resume=auto"}));
  ASSERT_TRUE(automatic.checkpoint.has_value());
  EXPECT_EQ(automatic.checkpoint->state.step, 4);
  test::expect_contains(automatic.resume_note, "train.resume=auto: resuming from ");
  test::expect_contains(automatic.resume_note, "last.pt (step 4)");
}

TEST_F(RunSetup, RefusesWhatWouldLoseARun) {
  {
    auto run = prepare_run(new_run());
    Trainer(run.config, std::nullopt, run.group.get()).run();
  }
  // A new run into a directory that holds one.
  try {
    prepare_run(new_run());
    ADD_FAILURE() << "a second new run into the directory was not refused";
  } catch (const RunSetupError& e) {
    test::expect_contains(e.what(), "already holds a run; resume it with --resume");
  }
  // --overwrite with resume auto: every torchrun restart would clear the run.
  auto contradiction = new_run({"train.resume=auto"});
  contradiction.overwrite = true;
  EXPECT_THROW(prepare_run(contradiction), RunSetupError);
  // resume auto on a run's output without any checkpoint.
  for (const char* name : {"last.pt", "best.pt", "step_00000002.pt", "step_00000004.pt"})
    fs::remove(fs::path(run_dir()) / name);
  try {
    prepare_run(new_run({"train.resume=auto"}));
    ADD_FAILURE() << "resume auto without a checkpoint was not refused";
  } catch (const RunSetupError& e) {
    test::expect_contains(e.what(), "holds a run but no checkpoint to resume from");
  }
  // With --overwrite a new run clears it (the lock file stays).
  auto overwrite = new_run();
  overwrite.overwrite = true;
  auto run = prepare_run(overwrite);
  EXPECT_FALSE(fs::exists(fs::path(run_dir()) / "metrics.jsonl"));
  EXPECT_THROW(prepare_run(TrainRequest{}), RunSetupError);  // neither config nor checkpoint
}

}  // namespace
}  // namespace attnlab
