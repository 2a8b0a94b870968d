// attnlab::dropout: counter-based masks, no stored mask, the same mask in backward.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/dropout.h"
#include "support/model_helpers.h"

using namespace attnlab;
using attnlab::test::max_abs_diff;

TEST(Dropout, IdentityWhenNotTrainingOrZeroProbability) {
  auto x = torch::randn({3, 5});
  EXPECT_TRUE(attnlab::dropout(x, 0.5, /*training=*/false).is_same(x));
  EXPECT_TRUE(attnlab::dropout(x, 0.0, /*training=*/true).is_same(x));
  EXPECT_THROW(attnlab::dropout(x, 1.0, true), c10::Error);
  EXPECT_THROW(attnlab::dropout(x, -0.1, true), c10::Error);
}

TEST(Dropout, DropsAboutPAndScalesTheRestByOneOverOneMinusP) {
  const double p = 0.3;
  auto x = torch::ones({1000, 1001});  // odd size: the last pair is half used
  auto y = dropout_with_seed(x, p, 42);
  const double dropped = (y == 0).to(torch::kDouble).mean().item<double>();
  // 1e6 Bernoulli(0.3) draws: standard deviation 4.6e-4.
  EXPECT_NEAR(dropped, p, 3e-3);
  auto kept = y.masked_select(y != 0);
  EXPECT_LT(max_abs_diff(kept, torch::full_like(kept, 1.0 / (1.0 - p))), 1e-6);
  // Rows and columns are not correlated with the position: every row drops about p.
  auto per_row = (y == 0).to(torch::kDouble).mean(1);
  EXPECT_LT(per_row.max().item<double>(), p + 0.07);
  EXPECT_GT(per_row.min().item<double>(), p - 0.07);
  // Neighbouring elements (which share one 64-bit hash) are independent: P(both dropped) ~ p^2.
  auto flat = (y == 0).flatten();
  auto even = flat.slice(0, 0, flat.numel() - 1, 2), odd = flat.slice(0, 1, flat.numel(), 2);
  const double both = (even & odd).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(both, p * p, 3e-3);
}

TEST(Dropout, SeedDecidesTheMaskAndManualSeedMakesItRepeatable) {
  auto x = torch::randn({64, 33});
  EXPECT_TRUE(torch::equal(dropout_with_seed(x, 0.5, 7), dropout_with_seed(x, 0.5, 7)));
  EXPECT_FALSE(torch::equal(dropout_with_seed(x, 0.5, 7), dropout_with_seed(x, 0.5, 8)));
  torch::manual_seed(3);
  auto a = attnlab::dropout(x, 0.5, true);
  auto b = attnlab::dropout(x, 0.5, true);  // the generator moved on: a new mask
  torch::manual_seed(3);
  EXPECT_TRUE(torch::equal(a, attnlab::dropout(x, 0.5, true)));
  EXPECT_FALSE(torch::equal(a, b));
}

TEST(Dropout, BackwardAppliesTheSameMaskAndScale) {
  const double p = 0.25;
  auto x = (torch::rand({40, 17}) + 0.5).requires_grad_();  // no zeros in x
  auto y = dropout_with_seed(x, p, 11);
  auto upstream = torch::randn({40, 17});
  (y * upstream).sum().backward();
  auto mask = (y != 0).to(torch::kFloat) / (1.0 - p);
  EXPECT_LT(max_abs_diff(x.grad(), upstream * mask), 1e-6);
  // And the forward is x times that mask.
  EXPECT_LT(max_abs_diff(y, x * mask), 1e-6);
}

TEST(Dropout, KeepsDtypeAndHandlesNonContiguousInput) {
  auto x = torch::randn({8, 6}).t();  // non-contiguous view
  auto y = dropout_with_seed(x, 0.5, 5);
  auto reference = dropout_with_seed(x.contiguous(), 0.5, 5);
  EXPECT_TRUE(torch::equal(y, reference));
  auto half = dropout_with_seed(x.to(torch::kBFloat16), 0.5, 5);
  EXPECT_EQ(half.scalar_type(), torch::kBFloat16);
  // Scaling by 2 is exact, so bf16 gives the float result of the bf16-rounded input.
  EXPECT_TRUE(torch::equal(half.to(torch::kFloat),
                           dropout_with_seed(x.to(torch::kBFloat16).to(torch::kFloat), 0.5, 5)));
  auto dbl = dropout_with_seed(x.to(torch::kDouble), 0.5, 5);
  EXPECT_EQ(dbl.scalar_type(), torch::kDouble);
  EXPECT_LT(max_abs_diff(dbl.to(torch::kFloat), reference), 1e-6);
}
