// attnlab::dropout: counter-based masks, no stored mask, the same mask in backward.
#include "kernels/dropout.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/fused_attention.h"
#include "kernels/gelu_dropout.h"
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

// DropoutStream: the rows of a batch, run in parts (other ranks' shares, other micro-batches),
// draw the masks they draw inside the whole batch, for every kind of dropout the encoder has:
// plain (embedding, residual), fused with GELU (feed-forward) and on the attention
// probabilities. The reference is the whole batch under a stream from row 0.
TEST(DropoutStream, PartsOfABatchDrawTheMasksOfTheWhole) {
  const int64_t B = 5, T = 6, C = 8, H = 2;
  torch::manual_seed(3);
  const auto x = torch::randn({B, T, C});
  const auto qkv = torch::randn({B, T, 3 * C});
  const uint64_t seed = 1234;
  // Each call draws its seed from the stream in turn: the same order in every part.
  auto run = [&](int64_t first, int64_t rows) {
    DropoutStream stream(seed, first, rows);
    const auto xs = x.narrow(0, first, rows);
    const auto plain = attnlab::dropout(xs, 0.3, true);                        // (rows, T, C)
    const auto flat = attnlab::dropout(xs.reshape({rows * T, C}), 0.3, true);  // (rows*T, C)
    const auto gelu = gelu_dropout(xs, 0.3, true);                             // (rows, T, C)
    const auto attention =
        fused_self_attention(qkv.narrow(0, first, rows), H, {}, 0.3, true, /*need_weights=*/false)
            .output;
    return std::vector<torch::Tensor>{plain, flat.reshape({rows, T, C}), gelu, attention};
  };
  const auto whole = run(0, B);
  const auto head = run(0, 2), tail = run(2, 3);
  for (size_t k = 0; k < whole.size(); ++k) {
    const auto joined = torch::cat({head[k], tail[k]}, 0);
    EXPECT_TRUE(torch::equal(joined, whole[k]))
        << "output " << k << ": max diff " << max_abs_diff(joined, whole[k]);
  }
  // Not trivially: the masks differ from row to row and drop about p.
  const double dropped = (whole[0] == 0).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(dropped, 0.15);
  EXPECT_LT(dropped, 0.45);
  EXPECT_FALSE(torch::equal(whole[0][0] == 0, whole[0][1] == 0));
  // Another first row is another mask.
  const auto shifted = run(1, 2);
  EXPECT_FALSE(torch::equal(shifted[0], whole[0].narrow(0, 0, 2)));
  // Outside a stream the seeds come from the generator again, and nesting is refused.
  {
    DropoutStream stream(seed, 0, 1);
    EXPECT_THROW(DropoutStream(seed, 0, 1), c10::Error);
  }
  torch::manual_seed(9);
  const auto a = draw_seed();
  torch::manual_seed(9);
  EXPECT_EQ(draw_seed(), a);
}

// The gradient recomputes the same masks, from the saved seed and row offset, after the
// stream has ended.
TEST(DropoutStream, BackwardUsesTheForwardMasks) {
  const auto x = torch::randn({4, 3, 8}, torch::requires_grad());
  torch::Tensor y;
  {
    DropoutStream stream(77, 4, 4);
    y = gelu_dropout(x, 0.4, true);
  }
  y.sum().backward();
  // Where the forward dropped an element, its gradient is zero.
  const auto dropped = (y == 0) & (torch::gelu(x.detach()) != 0);
  EXPECT_GT(dropped.sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::all(x.grad().masked_select(dropped) == 0).item<bool>());
  EXPECT_TRUE(torch::all(x.grad().masked_select(~(y == 0)) != 0).item<bool>());
}
