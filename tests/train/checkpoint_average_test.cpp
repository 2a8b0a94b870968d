#include "train/checkpoint_average.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "support/common.h"

namespace attnlab {
namespace {

Checkpoint checkpoint_at(int64_t step, double scale) {
  Checkpoint c;
  c.config_yaml = "model:\n  d_model: 4\n";
  c.model["embedding.token.weight"] = torch::arange(8, torch::kFloat).reshape({2, 4}) * scale;
  c.model["token_head.proj.bias"] = torch::full({2}, scale);
  c.exp_avg["embedding.token.weight"] = torch::zeros({2, 4});
  c.exp_avg_sq["embedding.token.weight"] = torch::zeros({2, 4});
  c.optimizer_step = step;
  c.state.step = step;
  c.state.rng_state = at::detail::getDefaultCPUGenerator().get_state();
  c.src_vocab = {"<pad>", "<unk>", "<cls>", "a"};
  c.tgt_vocab = {"<pad>", "<unk>", "<cls>", "x"};
  return c;
}

TEST(CheckpointAverage, EveryTensorIsTheMeanAndTheRestIsTheNewest) {
  test::ScratchDir dir;
  // Scales 1, 2 and 6: the mean is 3 x the base values (worked out by hand).
  save_checkpoint(dir.file("step_00000100.pt"), checkpoint_at(100, 1.0));
  save_checkpoint(dir.file("step_00000300.pt"), checkpoint_at(300, 6.0));
  save_checkpoint(dir.file("step_00000200.pt"), checkpoint_at(200, 2.0));
  const auto paths = periodic_checkpoints(dir.path().string());
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_NE(paths.back().find("step_00000300.pt"), std::string::npos);  // oldest first, by step
  const auto avg = average_checkpoints(paths);
  EXPECT_TRUE(avg.model.at("embedding.token.weight")
                  .equal(torch::tensor({{0.f, 3.f, 6.f, 9.f}, {12.f, 15.f, 18.f, 21.f}})));
  EXPECT_TRUE(avg.model.at("token_head.proj.bias").equal(torch::tensor({3.f, 3.f})));
  EXPECT_EQ(avg.state.step, 300);
  EXPECT_EQ(avg.optimizer_step, 300);
  // Written and read back as a normal checkpoint.
  save_checkpoint(dir.file("average.pt"), avg);
  EXPECT_TRUE(load_checkpoint(dir.file("average.pt"))
                  .model.at("token_head.proj.bias")
                  .equal(torch::tensor({3.f, 3.f})));
}

std::string average_error(const std::vector<std::string>& paths) {
  try {
    average_checkpoints(paths);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "nothing thrown";
}

TEST(CheckpointAverage, CheckpointsOfAnotherModelAreRefusedNamingTheFile) {
  test::ScratchDir dir;
  save_checkpoint(dir.file("a.pt"), checkpoint_at(1, 1.0));
  auto other = checkpoint_at(2, 1.0);
  other.model["token_head.proj.bias"] = torch::zeros({3});
  save_checkpoint(dir.file("b.pt"), other);
  auto vocab = checkpoint_at(3, 1.0);
  vocab.src_vocab.push_back("b");
  save_checkpoint(dir.file("c.pt"), vocab);
  test::expect_contains(average_error({dir.file("a.pt"), dir.file("b.pt")}),
                        "average: " + dir.file("b.pt") + " does not match " + dir.file("a.pt") +
                            ": 'token_head.proj.bias' has shape [3] against [2]");
  test::expect_contains(average_error({dir.file("a.pt"), dir.file("c.pt")}),
                        "different vocabularies");
  EXPECT_THROW(average_checkpoints({}), CheckpointError);
  EXPECT_THROW(average_checkpoints({dir.file("missing.pt")}), CheckpointError);
}

}  // namespace
}  // namespace attnlab
