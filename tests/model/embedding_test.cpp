// Tests for src/model/embedding.{h,cpp}: sinusoidal table against hand-computed values,
// token scaling, learned positions, names, checks.

#include "model/embedding.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

// PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(pos / 10000^(2i/C)).
double expected_position(int64_t pos, int64_t column, int64_t d_model) {
  const double angle =
      static_cast<double>(pos) /
      std::pow(10000.0, static_cast<double>(column - column % 2) / static_cast<double>(d_model));
  return column % 2 == 0 ? std::sin(angle) : std::cos(angle);
}

TEST(Embedding, SinusoidalTableMatchesHandComputedValues) {
  auto table = sinusoidal_positions(/*max_len=*/50, /*d_model=*/8);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{50, 8}));
  // A few values written out: pos 0 is [0, 1, 0, 1, ...]; pos 1, column 0 is sin(1).
  EXPECT_NEAR(table[0][0].item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(table[0][1].item<double>(), 1.0, 1e-7);
  EXPECT_NEAR(table[1][0].item<double>(), 0.8414709848, 1e-6);  // sin(1)
  EXPECT_NEAR(table[1][1].item<double>(), 0.5403023059, 1e-6);  // cos(1)
  EXPECT_NEAR(table[2][2].item<double>(), 0.1986693308, 1e-6);  // sin(2 / 10000^(2/8)) = sin(0.2)
  EXPECT_NEAR(table[2][3].item<double>(), 0.9800665778, 1e-6);  // cos(0.2)
  EXPECT_NEAR(table[49][7].item<double>(), std::cos(49.0 / 1000.0), 1e-6);  // 10000^(6/8)=1000
  for (int64_t pos : {0, 1, 7, 31, 49})
    for (int64_t column = 0; column < 8; ++column)
      EXPECT_NEAR(table[pos][column].item<double>(), expected_position(pos, column, 8), 1e-5)
          << "pos " << pos << " column " << column;
}

TEST(Embedding, SinusoidalTableWithOddWidth) {
  auto table = sinusoidal_positions(/*max_len=*/10, /*d_model=*/5);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{10, 5}));
  for (int64_t pos : {0, 3, 9})
    for (int64_t column = 0; column < 5; ++column)
      EXPECT_NEAR(table[pos][column].item<double>(), expected_position(pos, column, 5), 1e-5)
          << "pos " << pos << " column " << column;
}

TEST(Embedding, SinusoidalForwardIsScaledTokenPlusTable) {
  torch::manual_seed(1);
  EmbeddingOptions options;
  options.vocab_size = 10;
  options.d_model = 6;
  options.max_len = 8;
  Embedding embedding(options);
  auto tokens = torch::tensor({3, 0, 9, 1, 2, 2}, torch::kLong).view({2, 3});
  auto out = embedding(tokens);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 6}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t c = 0; c < 6; ++c) {
        const double expected =
            embedding->token->weight[tokens[b][t].item<int64_t>()][c].item<double>() *
                std::sqrt(6.0) +
            expected_position(t, c, 6);
        EXPECT_NEAR(out[b][t][c].item<double>(), expected, 1e-5);
      }
  // The table is a buffer, not a parameter.
  std::vector<std::string> names;
  for (const auto& item : embedding->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, std::vector<std::string>{"token.weight"});
  ASSERT_TRUE(embedding->named_buffers().contains("position_table"));
  EXPECT_EQ(embedding->named_buffers()["position_table"].sizes(), (std::vector<int64_t>{8, 6}));
}

TEST(Embedding, LearnedPositionsAreAParameter) {
  torch::manual_seed(2);
  EmbeddingOptions options;
  options.vocab_size = 10;
  options.d_model = 6;
  options.max_len = 8;
  options.positions = PositionKind::kLearned;
  Embedding embedding(options);
  auto params = embedding->named_parameters();
  std::vector<std::string> names;
  for (const auto& item : params) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"token.weight", "position.weight"}));
  EXPECT_EQ(params["position.weight"].sizes(), (std::vector<int64_t>{8, 6}));
  EXPECT_TRUE(params["position.weight"].requires_grad());
  EXPECT_FALSE(embedding->named_buffers().contains("position_table"));

  auto tokens = torch::tensor({4, 5, 6, 7}, torch::kLong).view({1, 4});
  auto expected = embedding->token->weight.index_select(0, tokens[0]) * std::sqrt(6.0) +
                  embedding->position->weight.slice(0, 0, 4);
  EXPECT_LT(max_abs_diff(embedding(tokens)[0], expected), 1e-6);
  embedding(tokens).sum().backward();
  // Rows beyond T get no gradient; rows inside get ones.
  EXPECT_TRUE(embedding->position->weight.grad().slice(0, 4).eq(0).all().item<bool>());
  EXPECT_TRUE(embedding->position->weight.grad().slice(0, 0, 4).eq(1).all().item<bool>());
}

TEST(Embedding, DropoutOffInEvalAndSeededInTrain) {
  torch::manual_seed(3);
  EmbeddingOptions options;
  options.vocab_size = 10;
  options.d_model = 6;
  options.dropout = 0.3;
  Embedding embedding(options);
  options.dropout = 0.0;
  Embedding plain(options);
  test::copy_parameters(*embedding, *plain);
  auto tokens = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kLong).view({2, 3});
  embedding->eval();
  auto eval_out = embedding(tokens);
  EXPECT_TRUE(torch::equal(eval_out, embedding(tokens)));
  EXPECT_TRUE(torch::equal(eval_out, plain(tokens)));
  embedding->train();
  torch::manual_seed(5);
  auto train1 = embedding(tokens);
  torch::manual_seed(5);
  auto train2 = embedding(tokens);
  EXPECT_TRUE(torch::equal(train1, train2));
  EXPECT_GT(max_abs_diff(train1, eval_out), 1e-3);
}

TEST(Embedding, RejectsBadInput) {
  EmbeddingOptions options;
  options.vocab_size = 10;
  options.d_model = 4;
  options.max_len = 3;
  Embedding embedding(options);
  EXPECT_THROW(embedding(torch::zeros({4}, torch::kLong)), c10::Error);
  EXPECT_THROW(embedding(torch::zeros({1, 4}, torch::kLong)), c10::Error);
  test::expect_contains(test::error_message([&] {
                          embedding(torch::zeros({1, 4}, torch::kLong));
                        }),
                        "max_len 3");
  options.vocab_size = 0;
  EXPECT_THROW(Embedding{options}, c10::Error);
}

}  // namespace
}  // namespace attnlab
