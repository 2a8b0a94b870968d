#include "attention_log/alignment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/config.h"
#include "support/tiny_task.h"
#include "tasks/ctc.h"
#include "train/run_data.h"

namespace attnlab {
namespace {

Config translation_config(const std::string& split_at) {
  return parse_config(
      "{}", "test",
      {"data.task=translation", "data.train=t.tsv", "data.valid=v.tsv", "data.tokenization=word",
       "data.max_len=16", "model.d_model=16", "model.num_heads=2", "model.num_layers=2",
       "model.d_ff=32", "model.dropout=0.0", "model.ctc.upsample=2",
       "model.ctc.split_at=" + split_at, "train.max_steps=1000"});
}

TEST(TranslationAlignment, RowsAreTheEmittingPositionsAttentionOverTheSource) {
  for (const std::string split_at : {"encoder", "embedding"}) {
    torch::manual_seed(2);
    const auto config = translation_config(split_at);
    const auto spec = build_task_spec(config, fixtures::tiny_translation_examples(32));
    EncoderModel model(make_model_options(config, spec));
    const std::string text = "a b c d e";
    const auto a = align_translation(model, spec, text);
    EXPECT_EQ(a.source_tokens, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
    ASSERT_EQ(a.weights.size(0), static_cast<int64_t>(a.output_tokens.size()));
    ASSERT_EQ(a.positions.size(), a.output_tokens.size());
    ASSERT_GT(a.output_tokens.size(), 0u) << "an untrained model emits something";
    EXPECT_EQ(a.weights.size(1), 5);
    // Reference: the model's own forward, indexed by hand (position p of the k*T outputs; split
    // after the layers its row is state p / k's; before, keys t*k + j are summed over j).
    torch::NoGradGuard no_grad;
    model->eval();
    const auto tokens =
        torch::tensor({{spec.source.id("a"), spec.source.id("b"), spec.source.id("c"),
                        spec.source.id("d"), spec.source.id("e")}});
    const auto out = model->forward(tokens, true);
    const auto last = out.weights.back()[0].mean(0);  // (T', T')
    const auto decoded = ctc_greedy_decode(out.logits.argmax(-1), out.lengths)[0];
    EXPECT_EQ(a.positions, decoded.positions);
    for (size_t j = 0; j < a.positions.size(); ++j) {
      const int64_t p = a.positions[j];
      for (int64_t t = 0; t < 5; ++t) {
        const double expected = split_at == "encoder" ? last[p / 2][t].item<double>()
                                                      : last[p][2 * t].item<double>() +
                                                            last[p][2 * t + 1].item<double>();
        EXPECT_NEAR(a.weights[static_cast<int64_t>(j)][t].item<double>(), expected, 1e-6)
            << split_at;
      }
      EXPECT_NEAR(a.weights[static_cast<int64_t>(j)].sum().item<double>(), 1.0, 1e-5) << split_at;
    }
  }
}

// A padded batch (what the training probe runs) gives each row the alignment of that example
// alone, which the test above checks against the forward pass by hand.
TEST(TranslationAlignment, ABatchRowEqualsTheExampleAlone) {
  torch::manual_seed(3);
  const auto config = translation_config("embedding");
  const auto spec = build_task_spec(config, fixtures::tiny_translation_examples(32));
  EncoderModel model(make_model_options(config, spec));
  model->eval();
  const std::vector<std::string> texts = {"a b c d e f", "c a"};
  torch::NoGradGuard no_grad;
  const auto id = [&](const char* t) { return spec.source.id(t); };
  const auto tokens = torch::tensor(
      {{id("a"), id("b"), id("c"), id("d"), id("e"), id("f")}, {id("c"), id("a"), 0L, 0L, 0L, 0L}});
  const auto out = model->forward(tokens, true);
  for (int64_t row = 0; row < 2; ++row) {
    const auto alone = align_translation(model, spec, texts[static_cast<size_t>(row)]);
    const auto batched = alignment_from_output(model, out, row, alone.source_tokens, spec);
    EXPECT_EQ(batched.output_tokens, alone.output_tokens) << row;
    EXPECT_EQ(batched.positions, alone.positions) << row;
    ASSERT_EQ(batched.weights.sizes(), alone.weights.sizes()) << row;
    EXPECT_TRUE(torch::allclose(batched.weights, alone.weights, 1e-5, 1e-6)) << row;
  }
}

TEST(TranslationAlignment, OtherTasksAreRefused) {
  const auto config = parse_config(
      "{}", "test",
      {"data.train=t.tsv", "data.valid=v.tsv", "train.max_steps=1000", "data.tokenization=word"});
  const auto spec = build_task_spec(config, fixtures::tiny_reverse_examples(8, "abc"));
  EncoderModel model(make_model_options(config, spec));
  EXPECT_THROW(align_translation(model, spec, "a b"), std::invalid_argument);
}

}  // namespace
}  // namespace attnlab
