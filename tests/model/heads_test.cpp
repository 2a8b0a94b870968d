// Tests for src/model/heads.{h,cpp}: pooling against hand-computed values, head outputs,
// names and checks.

#include "model/heads.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

// (2, 4, 2): row 0 all real; row 1 has two real positions, then padding holding huge values
// that would show up in any mean that included them.
torch::Tensor hidden_states() {
  return torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f,  //
                        10.0f, -2.0f, 20.0f, 4.0f, 1e6f, 1e6f, -1e6f, 3e6f})
      .view({2, 4, 2});
}

torch::Tensor padding() { return test::padding_mask_from_lengths({4, 2}, 4); }

TEST(Pool, MeanIgnoresPaddedPositions) {
  auto pooled = pool(hidden_states(), padding(), Pooling::kMean);
  // Row 0: (1+3+5+7)/4, (2+4+6+8)/4. Row 1: (10+20)/2, (-2+4)/2.
  auto expected = torch::tensor({4.0f, 5.0f, 15.0f, 1.0f}).view({2, 2});
  EXPECT_LT(max_abs_diff(pooled, expected), 1e-6);
}

TEST(Pool, MeanWithoutMaskAveragesAllPositions) {
  auto pooled = pool(hidden_states().slice(0, 0, 1), torch::Tensor(), Pooling::kMean);
  EXPECT_LT(max_abs_diff(pooled, torch::tensor({4.0f, 5.0f}).view({1, 2})), 1e-6);
}

TEST(Pool, MeanOfFullyPaddedRowIsZeroNotNan) {
  auto mask = torch::ones({2, 4}, torch::kBool);
  mask[0].fill_(false);
  auto pooled = pool(hidden_states(), mask, Pooling::kMean);
  EXPECT_TRUE(pooled[1].eq(0).all().item<bool>());
}

TEST(Pool, ClsTakesPositionZero) {
  auto pooled = pool(hidden_states(), padding(), Pooling::kCls);
  EXPECT_LT(max_abs_diff(pooled, torch::tensor({1.0f, 2.0f, 10.0f, -2.0f}).view({2, 2})), 1e-6);
  EXPECT_THROW(pool(torch::zeros({2, 3}), {}, Pooling::kCls), c10::Error);
}

TEST(ClassificationHead, LinearOnPooledStates) {
  torch::manual_seed(1);
  ClassificationHead head(ClassificationHeadOptions{2, 3, Pooling::kMean});
  std::vector<std::string> names;
  for (const auto& item : head->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"classifier.weight", "classifier.bias"}));
  EXPECT_EQ(head->classifier->weight.sizes(), (std::vector<int64_t>{3, 2}));
  auto pooled = torch::tensor({4.0f, 5.0f, 15.0f, 1.0f}).view({2, 2});
  auto expected = torch::matmul(pooled, head->classifier->weight.t()) + head->classifier->bias;
  EXPECT_LT(max_abs_diff(head(hidden_states(), padding()), expected), 1e-4);
}

TEST(ClassificationHead, RejectsOneClass) {
  EXPECT_THROW(ClassificationHead(ClassificationHeadOptions{2, 1, Pooling::kCls}), c10::Error);
}

TEST(TokenHead, ProjectsEveryPosition) {
  torch::manual_seed(2);
  TokenHead head(TokenHeadOptions{2, 7});
  std::vector<std::string> names;
  for (const auto& item : head->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"proj.weight", "proj.bias"}));
  auto hidden = torch::randn({2, 4, 2});
  auto logits = head(hidden);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 4, 7}));
  auto expected = torch::matmul(hidden, head->proj->weight.t()) + head->proj->bias;
  EXPECT_LT(max_abs_diff(logits, expected), 1e-6);
  EXPECT_THROW(TokenHead(TokenHeadOptions{2, 0}), c10::Error);
}

}  // namespace
}  // namespace attnlab
