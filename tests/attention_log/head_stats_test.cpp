#include "attention_log/head_stats.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

namespace attnlab {
namespace {

// Two examples, T = 3:
//   example 0, length 2 (row and column 2 are padding):
//     query 0: [0.5, 0.5]   entropy ln 2, max .5, distance .5, diag .5, anti (j=1) .5, first .5
//     query 1: [.25, .75]   entropy -(.25 ln .25 + .75 ln .75) = 0.562335, max .75,
//                           distance .25, diag .75, anti (j=0) .25, first .25
//   example 1, length 3: the identity; every query: entropy 0, max 1, distance 0, diag 1;
//     anti 1 only for query 1; first 1 only for query 0.
// Means over the 5 queries.
at::Tensor two_examples() {
  auto w = torch::zeros({2, 3, 3});
  w[0][0][0] = 0.5;
  w[0][0][1] = 0.5;
  w[0][1][0] = 0.25;
  w[0][1][1] = 0.75;
  w[1] = torch::eye(3);
  return w;
}

TEST(HeadStats, HandComputedValues) {
  const auto s = compute_head_stats(two_examples(), {2, 3});
  EXPECT_NEAR(s.entropy, (0.693147181 + 0.562335145) / 5, 1e-7);
  EXPECT_NEAR(s.max_weight, (0.5 + 0.75 + 3) / 5, 1e-7);
  EXPECT_NEAR(s.distance, (0.5 + 0.25) / 5, 1e-7);
  EXPECT_NEAR(s.diagonal, (0.5 + 0.75 + 3) / 5, 1e-7);
  EXPECT_NEAR(s.anti_diagonal, (0.5 + 0.25 + 1) / 5, 1e-7);
  EXPECT_NEAR(s.first_token, (0.5 + 0.25 + 1) / 5, 1e-7);
}

TEST(HeadStats, UniformAndPreviousToken) {
  // Uniform over 4 keys: entropy ln 4, max .25, distance for query i = mean |i - j|.
  const auto u = compute_head_stats(torch::full({1, 4, 4}, 0.25), {4});
  EXPECT_NEAR(u.entropy, std::log(4.0), 1e-6);
  EXPECT_NEAR(u.max_weight, 0.25, 1e-7);
  // Sum over i, j of |i - j| for 4 positions is 20; times .25, over 4 queries.
  EXPECT_NEAR(u.distance, 20 * 0.25 / 4, 1e-6);
  EXPECT_NEAR(u.diagonal, 0.25, 1e-7);
  // Previous token (query 0 attends to itself): distance 3/4, diagonal 1/4.
  auto prev = torch::zeros({1, 4, 4});
  prev[0][0][0] = 1;
  for (int64_t i = 1; i < 4; ++i) prev[0][i][i - 1] = 1;
  const auto p = compute_head_stats(prev, {4});
  EXPECT_NEAR(p.distance, 0.75, 1e-7);
  EXPECT_NEAR(p.diagonal, 0.25, 1e-7);
  EXPECT_NEAR(p.entropy, 0.0, 1e-7);
  EXPECT_NEAR(p.first_token, 0.5, 1e-7);  // queries 0 and 1
}

TEST(HeadStats, RecordStatsPerLayerAndHead) {
  AttentionRecord r;
  r.step = 5;
  r.source = "train";
  r.tokens = {{"a", "b"}, {"c", "d", "e"}};
  r.lengths = {2, 3};
  r.layer_ids = {4};
  r.head_ids = {1, 3};
  auto w = torch::zeros({2, 2, 3, 3});  // (N, H', T, T)
  w.select(1, 0).copy_(two_examples());
  w[0][1][0][0] = 1;  // head 3: the identity within each length
  w[0][1][1][1] = 1;
  w[1][1] = torch::eye(3);
  r.layers = {w};
  const auto stats = compute_record_stats(r);
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].layer, 4);
  EXPECT_EQ(stats[0].head, 1);
  EXPECT_EQ(stats[1].layer, 4);
  EXPECT_EQ(stats[1].head, 3);
  EXPECT_NEAR(stats[0].first_token, (0.5 + 0.25 + 1) / 5, 1e-7);
  EXPECT_NEAR(stats[1].diagonal, 1.0, 1e-7);
  EXPECT_NEAR(stats[1].anti_diagonal, 1.0 / 5, 1e-7);  // only query 1 of example 1
}

TEST(HeadStats, SpreadIndices) {
  EXPECT_EQ(spread_indices(10, 3), (std::vector<size_t>{0, 5, 9}));  // round(4.5) = 5
  EXPECT_EQ(spread_indices(2, 3), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(spread_indices(5, 1), (std::vector<size_t>{4}));
  EXPECT_EQ(spread_indices(0, 3), (std::vector<size_t>{}));
  EXPECT_EQ(spread_indices(100, 5),
            (std::vector<size_t>{0, 25, 50, 74, 99}));  // 24.75, 49.5, 74.25
}

TEST(HeadStats, TableOneRowPerHeadAndStep) {
  HeadStats identity;
  identity.layer = 0;
  identity.head = 0;
  identity.max_weight = 1;
  identity.diagonal = 1;
  identity.anti_diagonal = 1.0 / 3;
  identity.first_token = 1.0 / 3;
  HeadStats uniform;
  uniform.layer = 0;
  uniform.head = 0;
  uniform.entropy = std::log(3.0);
  uniform.max_weight = 1.0 / 3;
  uniform.distance = 8.0 / 9;
  uniform.diagonal = uniform.anti_diagonal = uniform.first_token = 1.0 / 3;
  HeadStats other = uniform;
  other.head = 1;
  other.first_token = 0.9;
  const std::string expected =
      "layer  head   step  entropy  max_w    dist   diag   anti  first  pattern\n"
      "    0     0      0    1.099  0.333    0.89  0.333  0.333  0.333  -\n"
      "             12000    0.000  1.000    0.00  1.000  0.333  0.333  diagonal\n"
      "    0     1      0    1.099  0.333    0.89  0.333  0.333  0.900  first token\n";
  EXPECT_EQ(render_stats_table({{0, {uniform, other}}, {12000, {identity}}}), expected);
}

}  // namespace
}  // namespace attnlab
