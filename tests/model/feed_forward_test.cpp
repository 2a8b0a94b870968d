// Tests for src/model/feed_forward.{h,cpp}: hand-composed reference (exact erf GELU, ReLU),
// parameter names, dropout placement, option checks.

#include "model/feed_forward.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/dropout.h"
#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

constexpr int64_t kB = 2, kT = 3, kC = 4, kFF = 6;

FeedForward make_feed_forward(Activation activation, double dropout = 0.0) {
  FeedForwardOptions options;
  options.d_model = kC;
  options.d_ff = kFF;
  options.activation = activation;
  options.dropout = dropout;
  return FeedForward(options);
}

TEST(FeedForward, MatchesHandComposedReluAndExactGelu) {
  torch::manual_seed(1);
  auto x = torch::randn({kB, kT, kC}) * 2.0;
  for (Activation activation : {Activation::kRelu, Activation::kGelu}) {
    SCOPED_TRACE(name_of(activation));
    auto ff = make_feed_forward(activation);
    auto pre = torch::matmul(x, ff->linear1->weight.t()) + ff->linear1->bias;  // (B, T, d_ff)
    auto act = activation == Activation::kRelu
                   ? pre.clamp_min(0.0)
                   : 0.5 * pre * (1.0 + torch::erf(pre / std::sqrt(2.0)));  // exact GELU
    auto expected = torch::matmul(act, ff->linear2->weight.t()) + ff->linear2->bias;
    EXPECT_LT(max_abs_diff(ff->forward(x), expected), 1e-5);
  }
}

TEST(FeedForward, ParameterNamesAndShapes) {
  auto ff = make_feed_forward(Activation::kGelu);
  std::vector<std::string> names;
  for (const auto& item : ff->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"linear1.weight", "linear1.bias", "linear2.weight",
                                             "linear2.bias"}));
  auto params = ff->named_parameters();
  EXPECT_EQ(params["linear1.weight"].sizes(), (std::vector<int64_t>{kFF, kC}));
  EXPECT_EQ(params["linear2.weight"].sizes(), (std::vector<int64_t>{kC, kFF}));
}

TEST(FeedForward, DropoutAfterActivationOnlyInTraining) {
  torch::manual_seed(2);
  auto ff = make_feed_forward(Activation::kRelu, /*dropout=*/0.5);
  auto x = torch::randn({kB, kT, kC});
  ff->eval();
  auto hidden = torch::relu(ff->linear1(x));
  EXPECT_LT(max_abs_diff(ff->forward(x), ff->linear2(hidden)), 1e-6);

  ff->train();
  torch::manual_seed(9);
  auto trained = ff->forward(x);
  // Same draw as the module's dropout: the mask applied to the activation, scaled by 1/(1-p).
  torch::manual_seed(9);
  auto dropped = attnlab::dropout(hidden, 0.5, /*training=*/true);
  EXPECT_LT(max_abs_diff(trained, ff->linear2(dropped)), 1e-6);
  EXPECT_GT(max_abs_diff(trained, ff->forward(x)), 0.0);
}

TEST(FeedForward, RejectsBadOptions) {
  FeedForwardOptions options;
  options.d_ff = 0;
  EXPECT_THROW(FeedForward{options}, c10::Error);
  options = FeedForwardOptions();
  options.dropout = 1.0;
  EXPECT_THROW(FeedForward{options}, c10::Error);
}

}  // namespace
}  // namespace attnlab
