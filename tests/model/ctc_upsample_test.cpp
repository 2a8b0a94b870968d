#include "model/ctc_upsample.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/common.h"

namespace attnlab {
namespace {

TEST(CtcUpsample, PositionTimesKPlusJIsSliceJOfTheProjection) {
  torch::manual_seed(3);
  const int64_t B = 2, T = 5, C = 8, k = 3;
  CtcUpsample up(CtcUpsampleOptions{C, k});
  const auto x = torch::randn({B, T, C});
  const auto y = up(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{B, T * k, C}));
  // Reference: torch's linear with the same weights, then slice j of position t.
  const auto full =
      torch::nn::functional::linear(x, up->proj->weight, up->proj->bias);  // (B, T, k*C)
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j)
      EXPECT_LT(test::max_abs_diff(y.select(1, t * k + j),
                                   full.select(1, t).slice(1, j * C, (j + 1) * C)),
                1e-6)
          << "t=" << t << " j=" << j;
  EXPECT_EQ(up->proj->weight.sizes(), (std::vector<int64_t>{k * C, C}));
}

TEST(CtcUpsample, MaskCopiesEachFlagKTimes) {
  CtcUpsample up(CtcUpsampleOptions{4, 2});
  const auto mask = torch::tensor({{false, false, true}, {false, true, true}});
  const auto expected = torch::tensor(
      {{false, false, false, false, true, true}, {false, false, true, true, true, true}});
  EXPECT_TRUE(up->upsample_mask(mask).equal(expected));
  EXPECT_THROW(up(torch::randn({2, 3, 5})), c10::Error);
}

}  // namespace
}  // namespace attnlab
