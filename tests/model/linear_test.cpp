// Tests for src/model/linear.{h,cpp}: attnlab::Linear against torch::nn::Linear (LibTorch's own
// module): initialisation under the same seed, parameter names, forward with and without bias
// and activations, gradients, bf16 autocast after an in-place weight update, shape errors.

#include "model/linear.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/model_helpers.h"

namespace attnlab {
namespace {

using test::max_abs_diff;

std::vector<std::string> parameter_names(const torch::nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters()) names.push_back(p.key());
  return names;
}

TEST(LinearModule, InitialisesAndNamesParametersLikeTorchLinear) {
  for (const bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with bias" : "without bias");
    torch::manual_seed(3);
    Linear ours(LinearOptions(40, 24).bias(with_bias));
    torch::manual_seed(3);
    torch::nn::Linear theirs(torch::nn::LinearOptions(40, 24).bias(with_bias));
    EXPECT_EQ(parameter_names(*ours), parameter_names(*theirs));
    EXPECT_TRUE(torch::equal(ours->weight, theirs->weight));
    EXPECT_EQ(ours->bias.defined(), theirs->bias.defined());
    if (with_bias) {
      EXPECT_TRUE(torch::equal(ours->bias, theirs->bias));
    }
    EXPECT_TRUE(ours->weight.requires_grad());
  }
}

TEST(LinearModule, ForwardAndGradientsMatchTorchLinear) {
  torch::manual_seed(4);
  Linear ours(40, 24);
  torch::nn::Linear theirs(40, 24);
  {
    torch::NoGradGuard no_grad;
    theirs->weight.copy_(ours->weight);
    theirs->bias.copy_(ours->bias);
  }
  const auto x = torch::randn({3, 17, 40});
  const auto upstream = torch::randn({3, 17, 24});
  const auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
  const auto ya = ours(xa), yb = theirs(xb);
  EXPECT_EQ(ya.sizes(), yb.sizes());
  EXPECT_LT(max_abs_diff(ya, yb), 1e-5);
  (ya * upstream).sum().backward();
  (yb * upstream).sum().backward();
  EXPECT_LT(max_abs_diff(xa.grad(), xb.grad()), 1e-5);
  EXPECT_LT(max_abs_diff(ours->weight.grad(), theirs->weight.grad()), 1e-4);
  EXPECT_LT(max_abs_diff(ours->bias.grad(), theirs->bias.grad()), 1e-4);
  // Activations applied after the affine map.
  torch::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(ours(x, LinearActivation::kRelu), torch::relu(theirs(x))), 1e-5);
  EXPECT_LT(max_abs_diff(ours(x, LinearActivation::kGelu), torch::gelu(theirs(x))), 1e-5);
}

TEST(LinearModule, Bf16AutocastFollowsAnInPlaceWeightUpdate) {
  torch::manual_seed(5);
  Linear ours(64, 32);
  torch::nn::Linear theirs(64, 32);
  const auto x = torch::randn({8, 64});
  torch::NoGradGuard no_grad;
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  const auto before = ours(x);
  ours->weight.mul_(-2.0);  // an optimizer step: same storage, new version
  const auto after = ours(x);
  at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
  theirs->weight.copy_(ours->weight);
  theirs->bias.copy_(ours->bias);
  const auto expected = theirs(x);
  EXPECT_EQ(after.scalar_type(), torch::kBFloat16);
  const double scale = expected.abs().max().item<double>();
  EXPECT_LT(max_abs_diff(after.to(torch::kFloat), expected) / scale, 1.6e-2);  // bf16 rounding
  EXPECT_GT(max_abs_diff(before.to(torch::kFloat), expected) / scale, 0.1);    // it did change
}

TEST(LinearModule, RejectsInputsOfTheWrongWidth) {
  Linear ours(16, 8);
  const auto message = test::error_message([&] { ours(torch::randn({4, 15})); });
  test::expect_contains(message, "Linear: input must be (..., 16)");
  EXPECT_THROW(Linear(LinearOptions(0, 8)), c10::Error);
}

}  // namespace
}  // namespace attnlab
