// Tests for src/model/patch_embedding.{h,cpp}: patches against LibTorch's unfold, the whole
// embedding and its gradients against a strided Conv2d, the 2-D sinusoidal table against
// hand-computed values, the grid's orientation, and the input checks.

#include "model/patch_embedding.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "model/embedding.h"
#include "support/common.h"

namespace attnlab {
namespace {

using test::error_message;
using test::max_abs_diff;

TEST(PatchEmbedding, PatchesAreTheColumnsOfUnfold) {
  constexpr int64_t kB = 2, kC = 3, kH = 8, kW = 12, kP = 4;
  auto images = torch::randn({kB, kC, kH, kW});
  namespace F = torch::nn::functional;
  auto columns =
      F::unfold(images, F::UnfoldFuncOptions({kP, kP}).stride({kP, kP}));  // (B, C*P*P, N)
  auto expected = columns.transpose(1, 2);                                 // (B, N, C*P*P)
  auto patches = image_patches(images, kP);
  ASSERT_EQ(patches.sizes(), expected.sizes());
  EXPECT_EQ(max_abs_diff(patches, expected), 0.0);
}

// The patch projection is a Conv2d with kernel = stride = P: same output and gradients.
TEST(PatchEmbedding, OutputAndGradientsMatchAStridedConvolution) {
  constexpr int64_t kB = 3, kC = 3, kH = 8, kW = 12, kP = 4, kD = 16;
  torch::manual_seed(7);
  PatchEmbeddingOptions o;
  o.channels = kC, o.height = kH, o.width = kW, o.patch_size = kP, o.d_model = kD;
  o.positions = PositionKind::kLearned;
  PatchEmbedding embed(o);
  embed->set_pixel_statistics(torch::tensor({0.2, 0.4, 0.6}), torch::tensor({0.5, 0.25, 2.0}));
  auto images = torch::randint(0, 256, {kB, kC, kH, kW}, torch::kLong).to(torch::kByte);

  // Reference: normalise, conv2d with the projection's weights viewed as (D, C, P, P), flatten the
  // grid in raster order, <cls> in front, positions added.
  auto weight = embed->proj->weight.detach().clone().requires_grad_(true);
  auto bias = embed->proj->bias.detach().clone().requires_grad_(true);
  auto cls = embed->cls.detach().clone().requires_grad_(true);
  auto position = embed->position.detach().clone().requires_grad_(true);
  auto x = images.to(torch::kFloat) / 255.0;
  x = (x - torch::tensor({0.2, 0.4, 0.6}).view({1, kC, 1, 1})) /
      torch::tensor({0.5, 0.25, 2.0}).view({1, kC, 1, 1});
  auto conv =
      torch::conv2d(x, weight.view({kD, kC, kP, kP}), bias, /*stride=*/kP);  // (B, D, Gh, Gw)
  auto grid = conv.flatten(2).transpose(1, 2);                               // (B, N, D)
  auto expected = torch::cat({cls.expand({kB, 1, kD}), grid}, 1) + position.unsqueeze(0);

  auto out = embed->forward(images);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{kB, 1 + 2 * 3, kD}));
  EXPECT_LT(max_abs_diff(out, expected), 1e-5);

  auto upstream = torch::randn(out.sizes());
  (out * upstream).sum().backward();
  (expected * upstream).sum().backward();
  EXPECT_LT(max_abs_diff(embed->proj->weight.grad(), weight.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(embed->proj->bias.grad(), bias.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(embed->cls.grad(), cls.grad()), 1e-5);
  EXPECT_LT(max_abs_diff(embed->position.grad(), position.grad()), 1e-5);
  EXPECT_GT(embed->cls.grad().abs().sum().item<double>(), 0.0);
}

// Row r, column c of the grid: the first C/2 channels are the 1-D table at r, the rest at c;
// PE(pos, 2i) = sin(pos / 10000^(2i/(C/2))), PE(pos, 2i+1) = cos(the same).
TEST(PatchEmbedding, SinusoidalPositions2dEncodeRowThenColumn) {
  constexpr int64_t kGh = 3, kGw = 5, kD = 8;
  auto table = sinusoidal_positions_2d(kGh, kGw, kD);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{kGh * kGw, kD}));
  auto pe = [](double pos, int64_t column) {  // half width 4
    const double angle = pos / std::pow(10000.0, static_cast<double>(column - column % 2) / 4.0);
    return column % 2 == 0 ? std::sin(angle) : std::cos(angle);
  };
  for (int64_t r = 0; r < kGh; ++r)
    for (int64_t c = 0; c < kGw; ++c)
      for (int64_t j = 0; j < kD; ++j) {
        const double expected =
            j < 4 ? pe(static_cast<double>(r), j) : pe(static_cast<double>(c), j - 4);
        EXPECT_NEAR(table[r * kGw + c][j].item<double>(), expected, 1e-6)
            << r << "," << c << "," << j;
      }
  EXPECT_NEAR(table[1 * kGw + 0][0].item<double>(), 0.8414709848, 1e-6);   // sin(1): row 1
  EXPECT_NEAR(table[0 * kGw + 2][5].item<double>(), std::cos(2.0), 1e-6);  // cos(2): column 2
  // The module's table: <cls> row zero, then the grid.
  PatchEmbeddingOptions o;
  o.height = kGh * 2, o.width = kGw * 2, o.patch_size = 2, o.d_model = kD;
  PatchEmbedding embed(o);
  EXPECT_EQ(embed->position_table[0].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(max_abs_diff(embed->position_table.slice(0, 1), table), 0.0);
}

// One bright patch at grid (row 2, column 1) of a 4x3 grid changes token 1 + 2 * 3 + 1 and
// no other: patches are numbered in raster order, rows first.
TEST(PatchEmbedding, ABrightPatchLightsTheMatchingToken) {
  PatchEmbeddingOptions o;
  o.height = 16, o.width = 12, o.patch_size = 4, o.d_model = 8;
  PatchEmbedding embed(o);
  embed->eval();
  auto dark = torch::zeros({1, 1, 16, 12}, torch::kByte);
  auto bright = dark.clone();
  bright.slice(2, 8, 12).slice(3, 4, 8).fill_(255);  // rows 8..11, columns 4..7: grid (2, 1)
  torch::NoGradGuard no_grad;
  auto changed = (embed->forward(bright) - embed->forward(dark)).abs().sum(-1).squeeze(0);  // (13)
  for (int64_t t = 0; t < 13; ++t) {
    if (t == 1 + 2 * 3 + 1)
      EXPECT_GT(changed[t].item<double>(), 0.0);
    else
      EXPECT_EQ(changed[t].item<double>(), 0.0) << "token " << t;
  }
}

TEST(PatchEmbedding, ChecksItsInputAndOptions) {
  PatchEmbeddingOptions o;
  o.height = 8, o.width = 8, o.patch_size = 4, o.d_model = 8;
  PatchEmbedding embed(o);
  test::expect_contains(error_message([&] {
                          embed->forward(torch::zeros({1, 1, 8, 8}));
                        }),
                        "uint8");
  test::expect_contains(error_message([&] {
                          embed->forward(torch::zeros({1, 1, 8, 12}, torch::kByte));
                        }),
                        "the model takes 1x8x8 images");
  o.patch_size = 3;
  test::expect_contains(error_message([&] { PatchEmbedding{o}; }), "does not divide");
  test::expect_contains(
      error_message([&] { embed->set_pixel_statistics(torch::zeros({1}), torch::zeros({1})); }),
      "positive");
}

}  // namespace
}  // namespace attnlab
