// The shipped reverse config, trained to its target, grows a head that attends to the mirrored
// position: what docs/attention.md shows, checked on every CI run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "attention_log/head_stats.h"
#include "attention_log/probe.h"
#include "attention_log/record.h"
#include "config/config.h"
#include "train/trainer.h"

namespace attnlab {
namespace {

namespace fs = std::filesystem;

TEST(ReverseHeads, TrainedToTargetSomeHeadPutsMostWeightOnTheAntiDiagonal) {
  const fs::path root =
      fs::temp_directory_path() / ("attnlab_reverse_heads_" + std::to_string(::getpid()));
  fs::remove_all(root);
  // configs/reverse.yaml as shipped (bf16, stop_at 0.995 on validation exact match); only the
  // output directory and the probe schedule change.
  const auto config = load_config(
      (fs::path(ATTNLAB_SOURCE_DIR) / "configs" / "reverse.yaml").string(),
      {"run.out_dir=" + root.string(), "log.progress=false", "log.attention.every=1000"});
  Trainer trainer(config);
  AttentionLogger logger(config.log.attention, trainer.task_spec(), trainer.valid_data(),
                         trainer.run_dir(), config.run.seed);
  trainer.set_step_hook(
      [&](EncoderModel& m, int64_t step, bool last) { logger.on_step(m, step, last); });
  const auto result = trainer.run();
  logger.flush();
  EXPECT_GE(result.best_metric, 0.99) << "stopped: " << result.stop_reason;

  const auto files = list_records((root / "reverse" / "attention").string());
  ASSERT_GE(files.size(), 2u);
  const auto last = load_record(files.back());
  EXPECT_EQ(last.step, result.steps);
  const auto first = load_record(files.front());
  double best_anti = 0.0, first_anti = 1.0;
  for (const auto& head : compute_record_stats(last))
    if (head.head >= 0) best_anti = std::max(best_anti, head.anti_diagonal);
  for (const auto& head : compute_record_stats(first))
    if (head.head >= 0) first_anti = std::min(first_anti, head.anti_diagonal);
  // Most of the weight on j = L-1-i (a uniform head over ~15 tokens would put ~0.07 there).
  EXPECT_GT(best_anti, 0.5);
  EXPECT_LT(first_anti, 0.5);  // and it was learned: no head starts that way
  fs::remove_all(root);
}

}  // namespace
}  // namespace attnlab
